"""A product job whose outcome has fields with evidence, some of it hostile: the History test shows it escaped."""

import json
import sys

product = json.load(sys.stdin)
print(json.dumps({
    "product_id": product["product_id"], "coverage": 0.5, "confidence": 0.8, "conflicts": 1, "missing": ["weight"],
    "fields": [
        {"field": "max_dpi", "value": 26000, "unit": "dpi", "confidence": 0.95, "tier": "manufacturer",
         "source_url": "https://example.com/spec", "snippet_id": "snip-1", "conflict": False},
        {"field": "name", "value": product["model"], "unit": None, "confidence": 0.6, "tier": "retailer",
         "source_url": "javascript:alert(3)", "snippet_id": "snip-2", "conflict": True},
    ],
}))

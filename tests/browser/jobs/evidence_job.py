"""A product job whose outcome has values of every type, a long source URL, a hostile snippet id (a field without the
source's words) and two fields with them: the evidence view formats each per type, fits 1280 px and shows the hostile
text as text."""

import json
import sys

product = json.load(sys.stdin)
print(json.dumps({
    "product_id": product["product_id"], "coverage": 1.0, "confidence": 0.9, "conflicts": 0, "missing": [],
    "fields": [
        {"field": "connection", "value": ["Wired", "2.4 GHz"], "confidence": 0.9, "tier": "manufacturer",
         "source_url": "https://example.com/" + "specifications/" * 12 + "mouse", "snippet_id": "<img src=x onerror=alert(1)>"},
        {"field": "coating", "value": "Double-shot PBT keycaps with a textured matte finish", "confidence": 0.7,
         "tier": "retailer", "source_url": "https://shop.example.com/p", "snippet_id": "s-2",
         "snippet": "Keycaps: Double-shot PBT keycaps with a textured matte finish, rated for 50 million presses"},
        {"field": "rgb", "value": True, "confidence": 0.8, "tier": "review", "source_url": None, "snippet_id": None},
        {"field": "max_dpi", "value": 26000, "unit": "dpi", "confidence": 0.95, "tier": "manufacturer",
         "source_url": "https://example.com/spec", "snippet_id": "s-3",
         "snippet": "Sensor: Focus Pro 30K optical, up to 26,000 DPI, 650 IPS tracking"},
    ],
}))

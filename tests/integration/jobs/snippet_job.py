"""A product job whose fields carry snippets, hostile ones included: markup, bidi controls, a lone surrogate (as
a JSON escape), NUL and a 100,000-character one. argv: [TAG] (TAG names the run in each snippet).

Used through the command runner by the API, CLI and browser tests of evidence snippets (issue #17).
"""

import json
import sys

tag = sys.argv[1] if len(sys.argv) > 1 else "run"
product = json.load(sys.stdin)
pid = product["product_id"]
print(json.dumps({  # ensure_ascii (the default): the lone surrogate travels as the escape \ud800
    "product_id": pid, "coverage": 1.0, "confidence": 0.9, "conflicts": 0, "missing": [],
    "fields": [
        {"field": "weight", "value": 58, "unit": "g", "confidence": 0.9, "tier": "manufacturer",
         "source_url": f"https://maker.example/{pid}/specs", "snippet_id": "s-weight",
         "snippet": f"Weight: <b>58 g</b> without cable ({tag})"},
        {"field": "sensor", "value": "Focus Pro 30K", "confidence": 0.75, "tier": "lab_review",
         "source_url": "https://lab.example/review", "snippet_id": "s-sensor",
         "snippet": "The sensor is the \u202eFocus Pro 30K\u202c caf\ud800 \x00 made in-house"},
        {"field": "coating", "value": "matte", "confidence": 0.5, "tier": "retailer",
         "source_url": "https://shop.example/p", "snippet_id": "s-coating",
         "snippet": "Coating: matte " + "very" * 25_000},
        {"field": "buttons", "value": 5, "confidence": 0.5, "tier": "retailer",
         "source_url": "https://shop.example/p", "snippet_id": "s-buttons"},
    ],
}))

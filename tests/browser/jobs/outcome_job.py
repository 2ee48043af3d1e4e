"""A product job whose outcome the test picks by the product id's first part.

argv: HEAL. ``ok-*`` finds every required field; ``low-*`` a third of them (below the quality gate);
``ta-*`` times out (exit 1) and ``nb-*`` finds no parser (exit 3), each with a few stderr lines first;
once the HEAL file exists, ``ta-*`` and ``nb-*`` succeed (a retried group then completes).
"""

import json
import sys
from pathlib import Path

product = json.load(sys.stdin)
kind = product["product_id"].split("-")[0]
healed = Path(sys.argv[1]).exists()
if kind in ("ta", "nb") and not healed:
    for i in range(25):
        print(f"fetch attempt {i} for {product['product_id']}", file=sys.stderr)
    if kind == "ta":
        print(f"source timeout after {len(product['model']) * 7} s for {product['model']}", file=sys.stderr)
        sys.exit(1)
    print(f"no parser for page {len(product['product_id'])} of {product['brand']}", file=sys.stderr)
    sys.exit(3)
coverage = 0.34 if kind == "low" else 1.0
print(json.dumps({"product_id": product["product_id"], "coverage": coverage, "confidence": 0.9, "conflicts": 0,
                  "missing": ["weight", "sensor"] if kind == "low" else [], "fields": []}))

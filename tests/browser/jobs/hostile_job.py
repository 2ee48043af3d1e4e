"""A product job whose every word is hostile: the dashboard must show all of it as plain text.

argv: GATE. What it does depends on the product id's last part (``ok-1``, ``javascript:ok-3``):

- ``ok-*``: hostile stderr lines and phase, then an outcome whose fields, values, units, tiers,
  source URLs, snippet ids, missing list, runner and sources are hostile; exit 0.
- ``fail-*``: hostile stderr lines, then exit 1 with a hostile last stderr line (the item's error).
- ``hold-*``: like ``ok-*``, but waits for the GATE file first, so it shows as running.
"""

import json
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.02  # how often a held job looks at its gate

product = json.load(sys.stdin)
kind = product["product_id"].split(":")[-1].split("-")[0]
gate = Path(sys.argv[1])


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


say("INDEXLAB_PHASE <svg/onload=alert(24)>")
say("<img src=x onerror=alert(21) class=pwn>")
say("<script>alert(22)</script> **<b class=pwn>md</b>** [l](javascript:alert(23))")
if kind == "fail":
    say("<img src=x onerror=alert(25) class=pwn> failed")
    sys.exit(1)
while kind == "hold" and not gate.exists():  # held: as long as the test keeps the gate closed
    time.sleep(POLL_SECONDS)
print(json.dumps({
    "product_id": product["product_id"], "coverage": 0.5, "confidence": 0.7, "conflicts": 1,
    "missing": ["<img src=x onerror=alert(38) class=pwn>", "**<b class=pwn>m</b>**"],
    "runner": "<b class=pwn>runner</b>",
    "sources": [{"tier": "<i class=pwn>t</i>", "url": "JaVaScRiPt:alert(39)", "status": "error",
                 "error": "<img src=x onerror=alert(40) class=pwn>"},
                {"tier": "lab", "url": 'https://example.com/"><img src=x onerror=alert(41) class=pwn>', "status": "ok"}],
    "fields": [
        {"field": "<img src=x onerror=alert(31) class=pwn>", "value": "<script>alert(32)</script>",
         "unit": "<b class=pwn>u</b>", "confidence": 0.9, "tier": "<svg class=pwn onload=alert(33)>",
         "source_url": "javascript:alert(34)", "snippet_id": "<i class=pwn>s</i>", "conflict": True},
        {"field": "name", "value": "**<b class=pwn>v</b>** [x](javascript:alert(35))", "confidence": 0.5,
         "tier": "retailer", "source_url": 'https://example.com/"><img src=x onerror=alert(36) class=pwn>'},
        {"field": "list", "value": ["<img src=x onerror=alert(37) class=pwn>", {"k": "<b class=pwn>k</b>"}]},
    ],
}))

"""A product job that takes a watchable while: the GUI proof's stand-in for the real product pipeline.

argv: LOG SECONDS. It appends ``start <batch_run_id> <product_id> <pid>`` to LOG when it begins
and ``end <batch_run_id> <product_id> <pid>`` when it is done, moves through the phases fetch -> extract -> score
(``INDEXLAB_PHASE`` lines on stderr, shown as the current phase), spending SECONDS in all, then
prints its outcome. The log is the proof, independent of the engine, of which products really ran
and how often.
"""

import json
import os
import sys
import time
from pathlib import Path

PHASES = ("fetch", "extract", "score")

product = json.load(sys.stdin)
log, seconds = Path(sys.argv[1]), float(sys.argv[2])


def note(word: str) -> None:
    with log.open("a") as f:  # one short append per line: lines from concurrent jobs never interleave
        f.write(f"{word} {os.environ['INDEXLAB_BATCH_RUN_ID']} {product['product_id']} {os.getpid()}\n")


note("start")
for phase in PHASES:
    print(f"INDEXLAB_PHASE {phase}", file=sys.stderr, flush=True)
    time.sleep(seconds / len(PHASES))  # the work this stand-in does: taking its time
note("end")
print(json.dumps({"product_id": product["product_id"], "coverage": 0.9, "confidence": 0.9, "conflicts": 0,
                  "fields": [{"field": "name", "value": product["model"], "confidence": 0.9, "tier": "manufacturer"}]}))

"""A product job the test controls: it notes its start, then waits for the gate file to exist.

argv: LOG GATE. Used through the command runner by the API integration tests.
"""

import json
import os
import sys
import time
from pathlib import Path

POLL_SECONDS = 0.01  # how often the job looks at its gate

product = json.load(sys.stdin)
log, gate = Path(sys.argv[1]), Path(sys.argv[2])
with log.open("a") as f:
    f.write(f"start {product['product_id']} {os.getpid()}\n")
while not gate.exists():  # the job's work: as long as the test keeps the gate closed
    time.sleep(POLL_SECONDS)
print(json.dumps({"product_id": product["product_id"], "fields": {}}))

"""A product job that kills the process that started it, for one product: a product that crashes the worker.

argv: LOG CRASHER. Appends ``start <product_id> <INDEXLAB_ATTEMPT> <pid>`` to LOG, then, for the product
CRASHER, SIGKILLs its parent (the engine) and waits to be killed in turn; any other product prints its
outcome at once.
"""

import json
import os
import signal
import sys
from pathlib import Path

product = json.load(sys.stdin)
log, crasher = Path(sys.argv[1]), sys.argv[2]
with log.open("a") as f:
    f.write(f"start {product['product_id']} {os.environ['INDEXLAB_ATTEMPT']} {os.getpid()}\n")
if product["product_id"] == crasher:
    os.kill(os.getppid(), signal.SIGKILL)
    signal.pause()  # until the parent-death signal kills it: its parent is gone
print(json.dumps({"product_id": product["product_id"], "fields": {}}))

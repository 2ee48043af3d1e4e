"""A product job that leaves a process behind: its first attempt starts a grandchild and both run on.

argv: LOG. Appends ``start <product_id> <attempt> <pid>`` and, on attempt 1, ``grandchild <pid>``; any
later attempt prints its outcome at once. Before it starts, it looks for any other live process of the
same product (by its environment) and appends ``overlap <pid>`` for each: a product running twice at once.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

product = json.load(sys.stdin)
log = Path(sys.argv[1])
mine = f"INDEXLAB_PRODUCT_ID={product['product_id']}".encode()


def live_processes_of_this_product() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if state not in ("Z", "X") and mine in environ:
            found.append(int(entry.name))
    return found


def note(line: str) -> None:
    with log.open("a") as f:
        f.write(line + "\n")


for pid in live_processes_of_this_product():
    note(f"overlap {pid}")
note(f"start {product['product_id']} {os.environ['INDEXLAB_ATTEMPT']} {os.getpid()}")
if os.environ["INDEXLAB_ATTEMPT"] == "1":
    child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    note(f"grandchild {child.pid}")
    signal.pause()  # the work that never ends: until something kills this process
print(json.dumps({"product_id": product["product_id"], "fields": {}}))

"""A product job that logs its start and end and waits on a gate file, for the many-batches tests
(tests/engine/test_many_batches.py).

Appends ``start <batch_run_id> <product_id> <pid> <monotonic_ns>`` to the file named by LOGGED_JOB_LOG, then
waits until the file LOGGED_JOB_GATE exists (the test opens the gate: no job ever sleeps a fixed time to
pretend to work), appends ``end ...`` the same way and prints its outcome. Each line is one write in append
mode, so concurrent jobs never interleave and the file's line order is the order things happened.
"""

import json
import os
import sys
import time


def log(kind: str, batch: str, product_id: str) -> None:
    line = f"{kind} {batch} {product_id} {os.getpid()} {time.monotonic_ns()}\n".encode()
    fd = os.open(os.environ["LOGGED_JOB_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def main() -> None:
    product = json.loads(sys.stdin.read())
    batch = os.environ["INDEXLAB_BATCH_RUN_ID"]
    log("start", batch, product["product_id"])
    gate = os.environ["LOGGED_JOB_GATE"]
    while not os.path.exists(gate):
        time.sleep(0.005)  # polling the gate, not pretending to work
    log("end", batch, product["product_id"])
    print(json.dumps({"product_id": product["product_id"], "fields": [], "coverage": 1.0}))


if __name__ == "__main__":
    main()

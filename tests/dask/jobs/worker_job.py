"""A product job for the Dask executor tests (tests/dask/test_executor.py), given everything on its argv (Dask workers
are started before a test could set their environment): ``worker_job.py LOG SECONDS|GATE PRODUCT_ID [POISON_ID]``.

Appends ``start <product_id> <pid> <parent pid>`` to LOG (one write in append mode: lines never interleave); the
parent is the Dask worker process that ran it. The POISON_ID product kills that worker (SIGKILL), as a product that
crashes whatever runs it would. Otherwise it works SECONDS (a sleep: the behaviour under test is how long
a job takes, not what it does), or, given ``gate=PATH``, until the test creates PATH; then it prints its outcome and
exits 0.
"""

import json
import os
import signal
import sys
import time
from pathlib import Path

GATE_POLL_SECONDS = 0.02


def main() -> None:
    log, work, product_id = sys.argv[1], sys.argv[2], sys.argv[3]
    poison = sys.argv[4] if len(sys.argv) > 4 else None
    sys.stdin.read()
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"start {product_id} {os.getpid()} {os.getppid()}\n".encode())
    finally:
        os.close(fd)
    if product_id == poison:
        os.kill(os.getppid(), signal.SIGKILL)
        signal.pause()  # until it dies with its worker (the command runner's parent-death signal)
    print("INDEXLAB_PHASE working", file=sys.stderr, flush=True)
    if work.startswith("gate="):
        gate = Path(work.removeprefix("gate="))
        while not gate.exists():  # held as long as the test keeps the gate closed
            time.sleep(GATE_POLL_SECONDS)
    else:
        time.sleep(float(work))
    print(json.dumps({"product_id": product_id, "fields": {"worker_pid": os.getppid()}, "coverage": 1.0}))


if __name__ == "__main__":
    main()

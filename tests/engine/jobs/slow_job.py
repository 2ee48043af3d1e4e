"""A product job that takes a while, for the crash test (tests/engine/test_crash_recovery.py).

Reads the product JSON from stdin, appends ``start <product_id> <pid>`` to the file named by
SLOW_JOB_LOG (one write of one line, append mode, flushed and fsynced: concurrent jobs never
interleave and a line survives the engine being killed), sleeps SLOW_JOB_SECONDS (the job's work),
then prints an outcome JSON object on stdout and exits 0.

If its stdin holds no product (the engine died before writing it) the job exits 1 without a
start line: it never began working.
"""

import json
import os
import sys
import time


def main():
    text = sys.stdin.read()
    if not text.strip():
        sys.exit("slow_job: no product on stdin")
    product = json.loads(text)
    product_id = product["product_id"]
    line = f"start {product_id} {os.getpid()}\n".encode()
    fd = os.open(os.environ["SLOW_JOB_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)  # O_APPEND + one write: the line lands whole at the end
        os.fsync(fd)
    finally:
        os.close(fd)
    time.sleep(float(os.environ.get("SLOW_JOB_SECONDS", "0.15")))  # the job's work
    print(json.dumps({"product_id": product_id, "fields": {"slow": True}, "coverage": 1.0, "pid": os.getpid()}))


if __name__ == "__main__":
    main()

"""Spawn: what starting a ``command`` job costs, and whether starts can hang next to DuckDB's threads.

    python bench/spawn.py [--starts 200] [--jobs 3000] [--old] [--json]

1. Start cost: the median time to start and reap ``true``, with plain ``subprocess.Popen`` and with
   ``engine.runners.orphans.start_process`` (the launcher that sets the parent-death signal and execs).
2. Starts beside DuckDB: a child process starts ``--jobs`` programs from 2 threads while a DuckDB
   connection (4 threads) scans a pandas DataFrame of strings over and over, as the engine does while
   it dispatches. A start that makes no progress for ``--stall`` seconds is a hang; the child is killed.
   ``--old`` also runs the previous way (``Popen(preexec_fn=...)``, Python in the forked child), which
   can hang there for good (CPython gh-112275).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo root is not yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import BenchFailure, command_line, machine, machine_line, report
from engine.runners.orphans import start_process


def _old_start(argv: list[str]) -> subprocess.Popen[bytes]:
    """The command runner before: a preexec_fn (Python in the forked child) set the parent-death signal."""
    libc, parent = ctypes.CDLL(None, use_errno=True), os.getpid()

    def preexec() -> None:
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
    return subprocess.Popen(argv, start_new_session=True, preexec_fn=preexec)


def _start_cost(starts: int) -> dict[str, float]:
    def median_ms(start: Any) -> float:
        times = []
        for _ in range(starts):
            began = time.perf_counter()
            start(["true"]).wait()
            times.append(time.perf_counter() - began)
        return statistics.median(times) * 1000
    return {"popen_ms": median_ms(lambda argv: subprocess.Popen(argv, start_new_session=True)),
            "start_process_ms": median_ms(lambda argv: start_process(argv, start_new_session=True))}


def child(way: str, jobs: int) -> None:
    """Start ``jobs`` programs from 2 threads beside a busy DuckDB; print a line per 100 starts."""
    import duckdb
    import pandas as pd

    start = _old_start if way == "old" else (lambda argv: start_process(argv, start_new_session=True))
    frame = pd.DataFrame({"s": [f"product-{i}" for i in range(300_000)]}).astype(object)

    def scan() -> None:
        con = duckdb.connect()
        con.execute("SET threads = 4")
        con.register("frame", frame)
        while True:
            con.execute("SELECT count(DISTINCT s) FROM frame").fetchall()

    threading.Thread(target=scan, daemon=True).start()
    done, lock = [0], threading.Lock()

    def starter(n: int) -> None:
        for _ in range(n):
            start(["true"]).wait()
            with lock:
                done[0] += 1
                if done[0] % 100 == 0:
                    print(done[0], flush=True)

    threads = [threading.Thread(target=starter, args=(jobs // 2,)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print("done", flush=True)
    os._exit(0)  # DuckDB's scan thread is still running


def _beside_duckdb(way: str, jobs: int, stall: float) -> dict[str, Any]:
    proc = subprocess.Popen([sys.executable, __file__, "--child", way, "--jobs", str(jobs)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    assert proc.stdout
    progress, began, lines = [time.monotonic(), 0], time.monotonic(), []

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line.strip())
            progress[0] = time.monotonic()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while proc.poll() is None and time.monotonic() - progress[0] < stall:
        time.sleep(0.2)
    hung = proc.poll() is None
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child, and a forked child stuck before its exec
    except ProcessLookupError:  # it finished, and every program it started too
        pass
    proc.wait()
    counts = [int(x) for x in lines if x.isdigit()]
    if not hung and "done" not in lines:
        raise BenchFailure(f"the {way} child ended without finishing (exit {proc.returncode})")
    return {"way": way, "jobs": jobs, "hung": hung, "started": jobs if not hung else (max(counts) if counts else 0),
            "seconds": round(time.monotonic() - began - (stall if hung else 0), 1)}


def bench(starts: int, jobs: int, stall: float, old: bool) -> dict[str, Any]:
    runs = [_beside_duckdb("new", jobs, stall)]
    if old:
        runs.append(_beside_duckdb("old", jobs, stall))
    return {"benchmark": "spawn", "command": command_line(), "machine": machine(),
            "params": {"starts": starts, "jobs": jobs, "stall_s": stall}, "start_cost": _start_cost(starts),
            "beside_duckdb": runs}


def report_text(r: dict[str, Any]) -> str:
    cost = r["start_cost"]
    out = [f"starting a command job (median of {r['params']['starts']} starts of `true`)",
           f"  machine: {machine_line(r['machine'])}",
           f"  subprocess.Popen       : {cost['popen_ms']:.1f} ms",
           f"  start_process (launcher): {cost['start_process_ms']:.1f} ms",
           "starts from 2 threads beside a DuckDB scan of a pandas frame (4 threads)"]
    for run in r["beside_duckdb"]:
        what = "start_process" if run["way"] == "new" else "Popen(preexec_fn=...) (before)"
        if run["hung"]:
            out.append(f"  {what}: HUNG after about {run['started']} of {run['jobs']} starts ({run['seconds']} s)")
        else:
            out.append(f"  {what}: {run['jobs']} starts, no hang, {run['seconds']} s")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=200, help="starts timed for the cost (default: %(default)s)")
    parser.add_argument("--jobs", type=int, default=3000, help="starts beside DuckDB (default: %(default)s)")
    parser.add_argument("--stall", type=float, default=20.0, help="seconds without a start that count as a hang")
    parser.add_argument("--old", action="store_true", help="also run the previous way (it may hang; it is killed)")
    parser.add_argument("--child", choices=("new", "old"), help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.jobs)
    return report(lambda: bench(args.starts, args.jobs, args.stall, args.old), report_text, args.json)


if __name__ == "__main__":
    sys.exit(main())

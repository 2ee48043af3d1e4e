"""Restart: how soon ``indexlab serve``, restarted on a running batch, dispatches again.

    python bench/restart.py [--repeat 5] [--items 400] [--json]

Plans a batch of N products with the ``command`` runner (each run a Python child that sleeps
``--job-seconds``) into a fresh DuckDB file, starts it through a real ``indexlab serve`` child over the
REST API, waits until some items have completed and SIGKILLs the server mid-run. Then, ``--repeat``
times: spawns ``indexlab serve`` again on the same file (the clock starts just before the spawn),
waits until it answers ``/healthz``, stops it (SIGTERM: the batch stays ``running`` for the next
restart) and reads from the store the first item dispatched after the spawn (its ``dispatched``
event's own time, so the figure does not wait for the HTTP server).

Reported: seconds from spawn to the first dispatch, and to the first ``/healthz`` answer.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo root is not yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from bench.common import BenchFailure, command_line, machine, machine_line, report, stop_server, summarize
from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.service import BatchService
from engine.store import Store

GOAL_S = 2.0
API = "/api/v1/indexlab/batch"



def _indexlab() -> str:
    exe = shutil.which("indexlab", path=str(Path(sys.executable).parent))
    if not exe:
        raise BenchFailure(f"indexlab is not installed next to {sys.executable}")
    return exe


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _plan(db: Path, catalog_file: Path, n: int, job_seconds: float) -> str:
    """Plan the batch, and write its products as the catalog the server serves (a product not in the server's
    catalog is skipped)."""
    from bench.common import products_frame

    products = products_frame(n)
    products.to_csv(catalog_file, index=False)
    catalog = Catalog(products=products, problems=(), source="bench")
    job = [sys.executable, "-c", f"import time; time.sleep({job_seconds!r}); print(dict())"]
    request = PlanRequest(selection=Selection(all=True), confirm_large=True,
                          settings=BatchSettings(runner="command", command=job, workers=2, fail_fast_failures=0,
                                                 max_run_seconds=60))
    with Store(db) as store:
        return BatchService(store, catalog).plan(request).batch_run_id


def _serve(db: Path, catalog_file: Path, port: int, log: Path) -> subprocess.Popen:
    with log.open("a") as handle:
        argv = [_indexlab(), "serve", "--db", str(db), "--catalog", str(catalog_file), "--port", str(port)]
        return subprocess.Popen(argv, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _wait_http(proc: subprocess.Popen, url: str, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchFailure(f"the server exited with {proc.returncode}:\n{log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code in (200, 503):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.02)
    raise BenchFailure(f"the server did not answer within {timeout:g}s")


def _first_dispatch_after(db: Path, batch_id: str, since: datetime) -> datetime | None:
    with Store(db) as store:
        events = store.events(batch_id, limit=store.count_events(batch_id))
    times = [e["occurred_at"] for e in events if e["kind"] == "item_transition" and e["reason"] == "dispatched"
             and e["occurred_at"] >= since]
    return min(times) if times else None


def bench(n: int, repeat: int, job_seconds: float, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="indexlab-restart-") as tmp:
        db, log, catalog_file = Path(tmp) / "restart.duckdb", Path(tmp) / "serve.log", Path(tmp) / "catalog.csv"
        batch_id = _plan(db, catalog_file, n, job_seconds)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        proc = _serve(db, catalog_file, port, log)
        try:
            _wait_http(proc, url, timeout, log)
            answer = httpx.post(f"{url}{API}/start", json={"batch_run_id": batch_id}, timeout=30)
            if answer.status_code != 200:
                raise BenchFailure(f"start answered {answer.status_code}: {answer.text}")
            deadline = time.monotonic() + timeout
            while httpx.get(f"{url}{API}/{batch_id}/status", timeout=10).json()["counts"]["completed"] < 4:
                if time.monotonic() > deadline:
                    raise BenchFailure("no item completed")
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)  # the crash: the batch stays running in the store
            proc.wait(timeout=30)
        to_dispatch, to_http = [], []
        for _ in range(repeat):
            since = datetime.now(UTC)
            started = time.perf_counter()
            proc = _serve(db, catalog_file, port, log)
            try:
                _wait_http(proc, url, timeout, log)
                to_http.append(time.perf_counter() - started)
            finally:
                stop_server(proc)  # SIGTERM: a clean shutdown, the batch stays running for the next restart
            first = _first_dispatch_after(db, batch_id, since)
            if first is None:
                raise BenchFailure(f"no item was dispatched after the restart:\n{log.read_text(errors='replace')[-2000:]}")
            to_dispatch.append((first - since).total_seconds())
    return {"benchmark": "restart", "command": command_line(), "machine": machine(),
            "params": {"items": n, "repeat": repeat, "job_seconds": job_seconds, "runner": "command"},
            "first_dispatch_s": summarize(to_dispatch, higher_is_better=False),
            "http_ready_s": summarize(to_http, higher_is_better=False)}


def report_text(r: dict[str, Any]) -> str:
    d, h = r["first_dispatch_s"], r["http_ready_s"]
    runs = ", ".join(f"{v:.2f}" for v in d["runs"])
    return "\n".join([
        f"restart of indexlab serve on a running batch ({r['params']['items']} command items, {r['params']['repeat']} restarts)",
        f"  machine: {machine_line(r['machine'])}",
        f"  spawn -> first dispatch : best {d['best']:.2f} s   median {d['median']:.2f} s   runs [{runs}]  (goal <= {GOAL_S:g} s)",
        f"  spawn -> /healthz answers: best {h['best']:.2f} s   median {h['median']:.2f} s",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=400, help="items in the batch (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=5, help="restarts measured (default: %(default)s)")
    parser.add_argument("--job-seconds", type=float, default=0.5, help="each item's run (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds a step may take (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args(argv)
    return report(lambda: bench(args.items, args.repeat, args.job_seconds, args.timeout), report_text, args.json)


if __name__ == "__main__":
    sys.exit(main())

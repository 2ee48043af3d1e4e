"""Engine scale: resident bytes per item of a loaded batch, start and force stop of a large batch.

    python bench/engine.py --resident --items 1000000     (or python bench/scale.py --items 1000000)

One pass per measurement, each on a fresh temporary DuckDB file holding one batch of N synthetic
products planned with the ``bench-stall`` runner (each attempt waits until it is cancelled, so the
batch stays running with ``workers`` items in flight until it is stopped):

- **plan + save**: ``BatchService.plan`` of the N products (build the plan, one transaction).
- **start**: ``BatchService.start`` of the planned batch, until it returns (load, live status, the
  batch's move committed), then until ``workers`` items show as running.
- **force stop**: ``BatchService.stop(force=True)`` of the running batch, until it returns; the
  store is then checked: every item ``stopped``, the batch ``stopped``.
- **bytes per item held** (its own pass): what starting the batch (loading it, its live status, its
  run) added to the Python heap (tracemalloc: numpy arrays included) and to the Arrow memory pool,
  divided by N, after a full collection.
- **RSS per item** (another pass, not traced): what the same start added to the process's RSS, less
  what ``duckdb_memory()`` says DuckDB holds more, after a full collection and ``malloc_trim``. It also
  counts what reading the rows leaves in DuckDB's own allocator (about 115 B per item read, measured by
  reading the rows and keeping nothing), which no structure of the engine holds.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo root is not yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pyarrow as pa

from bench.common import BenchFailure, command_line, machine, machine_line, products_frame, report, stopwatch
from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.runners import register
from engine.service import BatchService
from engine.store import Store

WORKERS = 2
GOAL_BYTES_PER_ITEM = 200
GOAL_FORCE_STOP_S = 2.0
GOAL_START_S = 1.0



@register("bench-stall")
def run_stall(product: dict[str, Any], settings: BatchSettings, ctx: Any) -> dict[str, Any]:
    """Waits until its attempt is cancelled (force stop), then says so."""
    ctx.cancel.wait()
    ctx.cancel.raise_if_cancelled()
    return {"product_id": product["product_id"]}


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * 4096


def _settle() -> None:
    """A full collection, and freed C heap handed back to the OS, so RSS says what is held."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


def _wait(what: str, done: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise BenchFailure(f"{what}: not within {timeout:g}s")
        time.sleep(0.01)


def _plan(store: Store, catalog: Catalog) -> tuple[str, float]:
    request = PlanRequest(selection=Selection(all=True), confirm_large=True,
                          settings=BatchSettings(runner="bench-stall", workers=WORKERS, fail_fast_failures=0))
    with stopwatch() as elapsed:
        saved = BatchService(store, catalog).plan(request)
    return saved.batch_run_id, elapsed()


def timed_pass(catalog: Catalog, n: int, workdir: Path, timeout: float) -> dict[str, Any]:
    """Plan, start and force stop one batch of ``n``; every step timed, the store checked after."""
    store = Store(workdir / "scale.duckdb")
    try:
        batch_id, plan_s = _plan(store, catalog)
        service = BatchService(store, catalog, BatchEngine(store).open())
        try:
            with stopwatch() as elapsed:
                service.start(batch_id)
            start_s = elapsed()
            _wait("items running", lambda: service.status(batch_id)["counts"]["running"] == WORKERS, timeout)
            running_s = elapsed()
            with stopwatch() as elapsed:
                status = service.stop(batch_id, force=True)
            stop_s = elapsed()
            if status["state"] != "stopped" or status["counts"]["stopped"] != n:
                raise BenchFailure(f"force stop answered {status['state']} with {status['counts']}")
        finally:
            service.close()
        counts, state = store.counts_by_state(batch_id), store.get_batch(batch_id)["state"]
        if counts != {"stopped": n} or state != "stopped":
            raise BenchFailure(f"expected {n} stopped items and a stopped batch in the store, found {counts}, {state}")
    finally:
        store.close()
    return {"plan_save_s": plan_s, "start_s": start_s, "start_to_running_s": running_s, "force_stop_s": stop_s}


def resident_pass(catalog: Catalog, n: int, workdir: Path, timeout: float, traced: bool) -> dict[str, Any]:
    """What starting a batch of ``n`` adds: the process's RSS (``traced`` False), or what the engine's structures
    hold, Python heap (numpy arrays included) by tracemalloc plus the Arrow memory pool (``traced`` True)."""
    store = Store(workdir / "resident.duckdb")
    try:
        batch_id, _ = _plan(store, catalog)
        service = BatchService(store, catalog, BatchEngine(store).open())
        try:
            _settle()
            rss0, arrow0, duck0 = _rss_bytes(), pa.total_allocated_bytes(), store.memory_bytes()
            if traced:
                tracemalloc.start()
            service.start(batch_id)
            _wait("items running", lambda: service.status(batch_id)["counts"]["running"] == WORKERS, timeout)
            _settle()
            heap = tracemalloc.get_traced_memory()[0] if traced else 0
            tracemalloc.stop()
            arrow, rss, duck = pa.total_allocated_bytes() - arrow0, _rss_bytes() - rss0, store.memory_bytes() - duck0
            service.stop(batch_id, force=True)
        finally:
            service.close()
    finally:
        store.close()
    if traced:
        return {"python_heap_bytes": heap, "arrow_pool_bytes": arrow, "held_bytes_per_item": (heap + arrow) / n}
    return {"rss_delta_bytes": rss, "duckdb_bytes": duck, "rss_bytes_per_item": (rss - duck) / n}


def bench(n: int, timeout: float = 600.0, resident: bool = True) -> dict[str, Any]:

    catalog = Catalog(products=products_frame(n), problems=(), source="bench")
    with tempfile.TemporaryDirectory(prefix="indexlab-scale-") as tmp:
        timed = timed_pass(catalog, n, Path(tmp), timeout)
    memory: dict[str, Any] | None = None
    if resident:
        memory = {}
        for traced in (False, True):
            with tempfile.TemporaryDirectory(prefix="indexlab-scale-") as tmp:
                memory.update(resident_pass(catalog, n, Path(tmp), timeout, traced))
    return {"benchmark": "engine-scale", "command": command_line(), "machine": machine(),
            "params": {"items": n, "workers": WORKERS, "runner": "bench-stall"}, **timed, "resident": memory}


def report_text(r: dict[str, Any]) -> str:
    n, m = r["params"]["items"], r["resident"]
    lines = [f"engine scale: one batch of {n:,} items, workers {WORKERS}, DuckDB file",
             f"  machine: {machine_line(r['machine'])}",
             f"  plan + save          : {r['plan_save_s']:.3f} s",
             f"  start (call returns) : {r['start_s']:.3f} s   (goal <= {GOAL_START_S:g} s at 100k); "
             f"{WORKERS} items running after {r['start_to_running_s']:.3f} s",
             f"  force stop (returns) : {r['force_stop_s']:.3f} s   (goal <= {GOAL_FORCE_STOP_S:g} s at 1M)"]
    if m:
        mib = {key: m[key] / 2**20 for key in ("rss_delta_bytes", "duckdb_bytes", "python_heap_bytes", "arrow_pool_bytes")}
        lines += [f"  held per item        : {m['held_bytes_per_item']:,.0f} B   (goal <= {GOAL_BYTES_PER_ITEM} B): Python heap "
                  f"+{mib['python_heap_bytes']:,.1f} MiB (tracemalloc, numpy included) + Arrow pool +{mib['arrow_pool_bytes']:,.1f} MiB",
                  f"  RSS per item         : {m['rss_bytes_per_item']:,.0f} B   RSS +{mib['rss_delta_bytes']:,.1f} MiB less "
                  f"DuckDB's reported +{mib['duckdb_bytes']:,.1f} MiB (also what reading the rows left in DuckDB's allocator)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000, help="items in the batch (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a step may take (default: %(default)s)")
    parser.add_argument("--no-resident", action="store_true", help="skip the (slow, traced) memory pass")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args(argv)
    if args.items < WORKERS:
        parser.error(f"--items must be at least {WORKERS}")
    return report(lambda: bench(args.items, args.timeout, resident=not args.no_resident), report_text, args.json)


if __name__ == "__main__":
    sys.exit(main())

"""Engine throughput: the batch engine running the ``noop`` runner, against a bare thread pool.

    python bench/engine.py [--items 10000] [--workers 8] [--repeat 3] [--json] [--profile OUT.pstats]

Each repeat builds a synthetic catalog of N products, opens a fresh Store on a temporary DuckDB
*file*, plans a batch of every product with ``runner="noop"`` and runs it with a default
``BatchEngine`` (thread pool, threaded group-commit writer). The engine is timed from
``start()`` to ``wait_idle()`` returning; ``wait_idle`` flushes the writer, so at that point
every transition is committed. The store is then checked: all N items ``completed`` with two
item transitions each, the batch ``completed``; anything else fails the benchmark.

The baseline is a bare ``ThreadPoolExecutor(max_workers=W)`` calling the same ``run_noop`` over
the same N products (all submitted, all waited for): what a thread pool costs with no state,
no events and no store. ``engine / bare`` is the share of that the engine keeps.

``--profile`` runs one more engine pass under cProfile in every thread (dispatcher, workers,
writer) and writes the merged stats; profiling slows it down, so those numbers are not reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo root is not yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd

from bench.common import command_line, machine, machine_line, stopwatch, summarize
from engine.core.catalog import Catalog
from engine.core.limits import CancelToken, DomainLimiter, Limits, ProviderLimiter
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.runners import RunContext, register
from engine.runners.noop import run_noop
from engine.service import BatchService
from engine.store import Store

GOAL_ITEMS_PER_S = 5_000.0
GOAL_WORKERS = 8
ITEM_TRANSITIONS_PER_ITEM = 2  # queued -> running, running -> completed
CATEGORIES = ("mouse", "keyboard", "monitor", "headset", "mousepad", "controller")
BRANDS = tuple(f"Brand{i:02d}" for i in range(40))
VARIANTS = ("", "Black", "White", "Wireless", "Pro")


class BenchFailure(RuntimeError):
    """The engine did not do what it was asked: the numbers would mean nothing."""


# --------------------------------------------------------------------------- inputs
def products_frame(n: int) -> pd.DataFrame:
    """N synthetic products, every column a str; deterministic; unique product_ids."""
    rows = {
        "product_id": [f"bench-{i:07d}" for i in range(n)],
        "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n)],
        "brand": [BRANDS[(i * 7) % len(BRANDS)] for i in range(n)],
        "model": [f"M{(i * 31) % 997} {'X' if i % 3 == 0 else 'Pro'}" for i in range(n)],
        "variant": [VARIANTS[i % len(VARIANTS)] for i in range(n)],
    }
    return pd.DataFrame(rows, dtype=object)


# noop as every real runner dispatches: its attempt committed before it starts (--durable-dispatch)
register("noop-durable")(lambda product, settings, ctx: run_noop(product, settings, ctx))


def plan_request(workers: int, runner: str = "noop") -> PlanRequest:
    return PlanRequest(
        selection=Selection(all=True),
        settings=BatchSettings(runner=runner, workers=workers, fail_fast_failures=0),
        confirm_large=True,
    )


# --------------------------------------------------------------------------- one engine run
def run_engine(catalog: Catalog, n: int, workers: int, timeout: float, workdir: Path, runner: str = "noop") -> dict[str, Any]:
    """Plan + save, then run the batch to completion and check the store. Returns the timings."""
    store = Store(workdir / "bench.duckdb")
    try:
        with stopwatch() as plan_elapsed:
            saved = BatchService(store, catalog).plan(plan_request(workers, runner))
        plan_s = plan_elapsed()
        batch_id = saved.batch_run_id
        engine = BatchEngine(store).open()
        try:
            with stopwatch() as run_elapsed:
                engine.start(batch_id)
                idle = engine.wait_idle(timeout)
            seconds = run_elapsed()
            commits = engine.writer.commits
            if engine.writer.degraded is not None or engine.writer.rejected:
                raise BenchFailure(f"the store did not take every write: {engine.writer.degraded or 'rejected rows'}")
            if not idle:
                raise BenchFailure(f"the engine was not idle after {timeout:g}s: {engine.status(batch_id)['counts']}")
        finally:
            engine.close()
        verify(store, batch_id, n)
    finally:
        store.close()
    return {"seconds": seconds, "items_per_s": n / seconds,
            "transitions_per_s": n * ITEM_TRANSITIONS_PER_ITEM / seconds,
            "commits": commits, "plan_save_s": plan_s, "batch_run_id": batch_id}


def verify(store: Store, batch_id: str, n: int) -> None:
    """Every item completed and durable, two item transitions each, the batch completed."""
    counts = store.counts_by_state(batch_id)
    if counts != {"completed": n}:
        raise BenchFailure(f"expected {n} completed items in the store, found {counts}")
    batch = store.get_batch(batch_id)
    if batch["state"] != "completed":
        raise BenchFailure(f"expected the batch completed in the store, found {batch['state']!r}")
    items = store.items(batch_id)
    if len(items) != n or set(items["attempts"]) != {1} or items["outcome"].isna().any():
        raise BenchFailure(f"expected {n} items with one attempt and an outcome each, found {len(items)} items, "
                           f"attempts {sorted(set(items['attempts']))}, {int(items['outcome'].isna().sum())} without outcome")
    events = store.events(batch_id, limit=store.count_events(batch_id))
    moves = sorted((e["from_state"], e["to_state"]) for e in events if e["kind"] == "item_transition")
    expected = sorted([("queued", "running"), ("running", "completed")] * n)
    if moves != expected:
        raise BenchFailure(f"expected {n * ITEM_TRANSITIONS_PER_ITEM} item transition events "
                           f"(queued->running, running->completed per item), found {len(moves)}")


# --------------------------------------------------------------------------- the baseline
def run_bare(products: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    """The same noop function over the same products on a bare thread pool: submit all, wait for all."""
    settings = plan_request(workers).settings
    ctx = RunContext("bench", 0, 1, CancelToken(), Limits(DomainLimiter(), ProviderLimiter()))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        with stopwatch() as elapsed:
            futures = [pool.submit(run_noop, product, settings, ctx) for product in products]
            done, not_done = wait(futures)
        seconds = elapsed()
    failed = [f for f in done if f.exception() is not None]
    if not_done or failed or len(done) != len(products):
        raise BenchFailure(f"bare pool: {len(not_done)} not done, {len(failed)} failed")
    return {"seconds": seconds, "items_per_s": len(products) / seconds}


# --------------------------------------------------------------------------- profiling
def profile_engine(catalog: Catalog, n: int, workers: int, timeout: float, out: Path) -> str:
    """One engine run under cProfile in every thread; merged stats written to ``out``. Returns a text report."""
    import cProfile
    import io
    import pstats

    profiles: list[cProfile.Profile] = []
    lock = threading.Lock()

    def install(frame: Any, event: str, arg: Any) -> None:  # first profile event of a new thread
        prof = cProfile.Profile()
        with lock:
            profiles.append(prof)
        prof.enable()  # replaces this hook in this thread

    main = cProfile.Profile()
    threading.setprofile(install)
    try:
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            main.enable()
            result = run_engine(catalog, n, workers, timeout, Path(tmp))
            main.disable()
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    for prof in profiles:
        prof.disable()  # threads already gone keep their collected data
    stats = pstats.Stats(main)
    for prof in profiles:
        try:
            stats.add(prof)
        except TypeError:  # a thread that never recorded anything
            pass
    stats.dump_stats(str(out))
    text = io.StringIO()
    stats.stream = text
    stats.sort_stats("tottime").print_stats(30)
    stats.sort_stats("cumulative").print_stats(40)
    return (f"profiled run (slowed by cProfile): {result['items_per_s']:,.0f} items/s, {result['commits']} commits, "
            f"{len(profiles) + 1} threads profiled; stats in {out}\n" + text.getvalue())


# --------------------------------------------------------------------------- the benchmark
def bench(n: int, workers: int, repeat: int, timeout: float, runner: str = "noop") -> dict[str, Any]:
    frame = products_frame(n)
    catalog = Catalog(products=frame, problems=(), source="bench")
    products = frame.to_dict("records")
    engine_runs, bare_runs = [], []
    for _ in range(repeat):
        bare_runs.append(run_bare(products, workers))
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            engine_runs.append(run_engine(catalog, n, workers, timeout, Path(tmp), runner))
    engine_ips = summarize([r["items_per_s"] for r in engine_runs])
    bare_ips = summarize([r["items_per_s"] for r in bare_runs])
    ratios = summarize([e["items_per_s"] / b["items_per_s"] for e, b in zip(engine_runs, bare_runs)])
    return {
        "benchmark": "engine",
        "command": command_line(),
        "machine": machine(),
        "params": {"items": n, "workers": workers, "repeat": repeat, "runner": runner,
                   "store": "DuckDB file (temporary)", "executor": "default ThreadPoolExecutor",
                   "writer": "threaded group commit"},
        "engine": {
            "items_per_s": engine_ips,
            "transitions_per_s": summarize([r["transitions_per_s"] for r in engine_runs]),
            "seconds": summarize([r["seconds"] for r in engine_runs], higher_is_better=False),
            "commits": summarize([r["commits"] for r in engine_runs], higher_is_better=False),
            "items_per_commit": summarize([n / r["commits"] for r in engine_runs]),
        },
        "plan_save_s": summarize([r["plan_save_s"] for r in engine_runs], higher_is_better=False),
        "bare_pool": {
            "items_per_s": bare_ips,
            "seconds": summarize([r["seconds"] for r in bare_runs], higher_is_better=False),
        },
        "ratio_engine_over_bare": {"of_best": engine_ips["best"] / bare_ips["best"],
                                   "of_medians": engine_ips["median"] / bare_ips["median"],
                                   "per_repeat": ratios},
        "goal": {"items_per_s": GOAL_ITEMS_PER_S, "workers": GOAL_WORKERS,
                 "applies": workers == GOAL_WORKERS,
                 "met_by_median": engine_ips["median"] >= GOAL_ITEMS_PER_S,
                 "met_by_best": engine_ips["best"] >= GOAL_ITEMS_PER_S},
    }


def report_text(r: dict[str, Any]) -> str:
    e, b, p = r["engine"], r["bare_pool"], r["params"]
    goal = r["goal"]
    verdict = ("MET" if goal["met_by_median"] else "met by the best run only" if goal["met_by_best"] else "NOT MET")
    if not goal["applies"]:
        verdict += f" (the goal is stated for workers={goal['workers']})"
    runs = ", ".join(f"{v:,.0f}" for v in e["items_per_s"]["runs"])
    return "\n".join([
        f"engine benchmark: {p['items']:,} items, workers {p['workers']}, {p['repeat']} repeats, runner {p['runner']}, DuckDB file",
        f"  machine: {machine_line(r['machine'])}",
        f"  engine (durable)     : best {e['items_per_s']['best']:>10,.0f} items/s   "
        f"median {e['items_per_s']['median']:>10,.0f} items/s   runs [{runs}]",
        f"  durable transitions  : best {e['transitions_per_s']['best']:>10,.0f} /s        median {e['transitions_per_s']['median']:>10,.0f} /s",
        f"  bare ThreadPool      : best {b['items_per_s']['best']:>10,.0f} items/s   median {b['items_per_s']['median']:>10,.0f} items/s",
        f"  ratio engine/bare    : of best {r['ratio_engine_over_bare']['of_best']:.3f}   of medians {r['ratio_engine_over_bare']['of_medians']:.3f}",
        f"  writer commits       : best {e['commits']['best']:,.0f}   median {e['commits']['median']:,.0f}   "
        f"(median {e['items_per_commit']['median']:,.1f} items per commit)",
        f"  engine run time      : best {e['seconds']['best']:.3f} s   median {e['seconds']['median']:.3f} s",
        f"  plan + save          : best {r['plan_save_s']['best']:.3f} s   median {r['plan_save_s']['median']:.3f} s",
        f"  goal >= {goal['items_per_s']:,.0f} items/s durable at workers {goal['workers']}: {verdict}",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000, help="products in the batch (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=8, help="worker threads, engine and bare pool (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; best and median are reported (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds wait_idle may take before the run fails (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    parser.add_argument("--durable-dispatch", action="store_true",
                        help="commit each dispatch before the runner starts, as every runner but noop does")
    parser.add_argument("--profile", type=Path, metavar="OUT", help="also run the engine once under cProfile (all threads), write pstats to OUT")
    args = parser.parse_args(argv)
    if args.items < 1 or args.repeat < 1:
        parser.error("--items and --repeat must be at least 1")
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be 1..64 (BatchSettings allows no more)")
    try:
        result = bench(args.items, args.workers, args.repeat, args.timeout,
                       "noop-durable" if args.durable_dispatch else "noop")
        profile_text = None
        if args.profile:
            frame = products_frame(args.items)
            profile_text = profile_engine(Catalog(products=frame, problems=(), source="bench"), args.items,
                                          args.workers, args.timeout, args.profile)
            result["profile"] = str(args.profile)
    except BenchFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(report_text(result))
    if profile_text:
        print(profile_text, file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())

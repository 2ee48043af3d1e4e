"""Engine throughput: the batch engine running the ``noop`` runner, against a bare thread pool.

    python bench/engine.py [--items 10000] [--workers 8] [--repeat 3] [--json] [--profile OUT.pstats]
    python bench/engine.py --batches 20 --items 10000      (many batches at once vs one batch vs a bare pool)
    python bench/engine.py --poll-statuses 100 [--poll-rate 100]   (status polls of 100 batches while dispatching)
    python bench/engine.py --resident --items 1000000   (bench/scale.py: bytes per item, start, force stop)
    python bench/engine.py --executor dask [--dask-workers 2] [--scheduler tcp://HOST:8786] --items 20000
                                                 (the engine on a Dask cluster vs client.map on it vs local threads)

Each repeat builds a synthetic catalog of N products, opens a fresh Store on a temporary DuckDB
*file*, plans a batch of every product with ``runner="noop"`` and runs it with a default
``BatchEngine`` (thread pool, threaded group-commit writer). The engine is timed from
``start()`` to ``wait_idle()`` returning; ``wait_idle`` flushes the writer, so at that point
every transition is committed. The store is then checked: all N items ``completed`` with two
item transitions each, the batch ``completed``; anything else fails the benchmark.

The baseline is a bare ``ThreadPoolExecutor(max_workers=W)`` calling the same ``run_noop`` over
the same N products (all submitted, all waited for, one future per item): what a thread pool costs
with no state, no events and no store. ``engine / bare`` is the share of that the engine keeps.
Both also report the process CPU time per item (all threads, start to idle), which depends less on
what else the shared machine runs than the throughput does. The goal (issue #15): >= 20,000 items/s
and >= 0.5 of the bare pool, medians, at workers 8.

``--executor dask`` (issue #16) connects to a Dask cluster with ``engine.dask.cluster.connect``: the scheduler at
``--scheduler``, or a ``LocalCluster`` of ``--dask-workers`` worker processes (2 threads each) started here. Every
repeat then runs, on that same cluster: Dask's own ``client.map`` of the noop function over the same N products (one
task per item, all submitted, ``wait`` on all futures; the results stay on the workers), the engine with the cluster
as its ``executor_factory`` (``Capacity(max_workers=T)`` and the batch's ``workers`` = T, the cluster's threads; the
same store checks as above), and, for comparison, the engine on local threads (default executor, workers T). It
reports items/s and the wall time per item (us) of each, and the engine's per-item time over ``client.map``'s (issue
#16's goal: <= 1.5, medians). One untimed warm-up of each first loads the modules in the worker processes.
``--workers`` does not apply there.

``--profile`` runs one more engine pass under cProfile in every thread (dispatcher, workers,
writer) and writes the merged stats; profiling slows it down, so those numbers are not reported.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo root is not yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from bench.common import BenchFailure, command_line, machine, machine_line, products_frame, report, stopwatch, summarize
from engine.core.catalog import Catalog
from engine.core.limits import CancelToken, DomainLimiter, Limits, ProviderLimiter
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings, Capacity
from engine.run.engine import BatchEngine
from engine.runners import RunContext, register
from engine.runners.noop import run_noop
from engine.service import BatchService
from engine.store import Store

GOAL_ITEMS_PER_S = 20_000.0  # issue #15: durable noop items a second at workers 8 ...
GOAL_RATIO = 0.5  # ... and at least this share of a bare thread pool in the same run (medians)
GOAL_WORKERS = 8
GOAL_DASK_RATIO = 1.5  # issue #16: the engine's time per item on a cluster within 1.5x of client.map's on it (medians)
WARMUP_ITEMS = 200  # the untimed first pass of each on a cluster: worker processes import what the tasks need
ITEM_TRANSITIONS_PER_ITEM = 2  # queued -> running, running -> completed
# noop as every real runner dispatches: its attempt committed before it starts (--durable-dispatch)
register("noop-durable")(lambda product, settings, ctx: run_noop(product, settings, ctx))


def plan_request(workers: int, runner: str = "noop") -> PlanRequest:
    return PlanRequest(
        selection=Selection(all=True),
        settings=BatchSettings(runner=runner, workers=workers, fail_fast_failures=0),
        confirm_large=True,
    )


# --------------------------------------------------------------------------- one engine run
def run_engine(catalog: Catalog, n: int, workers: int, timeout: float, workdir: Path, runner: str = "noop",
               executor_factory: Any = None) -> dict[str, Any]:
    """Plan + save, then run the batch to completion and check the store. Returns the timings.
    ``executor_factory``: the engine's (a cluster's, ``--executor dask``; None: its default thread pool)."""
    store = Store(workdir / "bench.duckdb")
    try:
        with stopwatch() as plan_elapsed:
            saved = BatchService(store, catalog).plan(plan_request(workers, runner))
        plan_s = plan_elapsed()
        batch_id = saved.batch_run_id
        options = {} if executor_factory is None else {"executor_factory": executor_factory}
        engine = BatchEngine(store, capacity=Capacity(max_workers=workers), **options).open()  # the server's budget: W
        try:
            cpu = time.process_time()
            with stopwatch() as run_elapsed:
                engine.start(batch_id)
                idle = engine.wait_idle(timeout)
            seconds = run_elapsed()
            cpu = time.process_time() - cpu
            commits = engine.writer.commits
            if engine.writer.degraded is not None or engine.writer.rejected:
                raise BenchFailure(f"the store did not take every write: {engine.writer.degraded or 'rejected rows'}")
            if not idle:
                raise BenchFailure(f"the engine was not idle after {timeout:g}s: {engine.status(batch_id)['counts']}")
        finally:
            engine.close()
        withdrawn = verify(store, batch_id, n, withdrawals=executor_factory is not None)
    finally:
        store.close()
    return {"seconds": seconds, "items_per_s": n / seconds, "cpu_us_per_item": cpu / n * 1e6,
            "transitions_per_s": n * ITEM_TRANSITIONS_PER_ITEM / seconds,
            "commits": commits, "plan_save_s": plan_s, "batch_run_id": batch_id, "withdrawn": withdrawn}


def verify(store: Store, batch_id: str, n: int, *, withdrawals: bool = False) -> int:
    """Every item completed and durable, two item transitions each, the batch completed. ``withdrawals`` (a cluster's
    run): attempts withdrawn before they began are allowed too (queued again, not counted: one more queued ->
    running and a running -> queued each, the item's one counted attempt still its only completion). Returns how many
    there were."""
    counts = store.counts_by_state(batch_id)
    if counts != {"completed": n}:
        raise BenchFailure(f"expected {n} completed items in the store, found {counts}")
    batch = store.get_batch(batch_id)
    if batch["state"] != "completed":
        raise BenchFailure(f"expected the batch completed in the store, found {batch['state']!r}")
    items = store.items(batch_id)
    counted = items["attempts"] - items["attempt_base"] if withdrawals else items["attempts"]
    if len(items) != n or set(counted) != {1} or items["outcome"].isna().any():
        raise BenchFailure(f"expected {n} items with one attempt and an outcome each, found {len(items)} items, "
                           f"attempts {sorted(set(items['attempts']))}, {int(items['outcome'].isna().sum())} without outcome")
    events = store.events(batch_id, limit=store.count_events(batch_id))
    moves = [e for e in events if e["kind"] == "item_transition"]
    back = [e for e in moves if (e["from_state"], e["to_state"]) == ("running", "queued")] if withdrawals else []
    if any(not str(e["reason"]).startswith("withdrawn before it began") for e in back):
        raise BenchFailure(f"an item went back to queued for another reason: {back[0]['reason']!r}")
    expected = sorted([("queued", "running"), ("running", "completed")] * n
                      + [("queued", "running"), ("running", "queued")] * len(back))
    if sorted((e["from_state"], e["to_state"]) for e in moves) != expected:
        raise BenchFailure(f"expected {n * ITEM_TRANSITIONS_PER_ITEM} item transition events "
                           f"(queued->running, running->completed per item), found {len(moves)}")
    return len(back)


# --------------------------------------------------------------------------- many batches at once
def run_many(catalog: Catalog, n: int, batches: int, workers: int, timeout: float, workdir: Path,
             runner: str = "noop") -> dict[str, Any]:
    """``batches`` batches of ``n`` items each, all started at once on one engine (max_workers = ``workers``, all
    of them running: max_running_batches = ``batches``); timed from the first start to every item committed."""
    store = Store(workdir / "many.duckdb")
    try:
        service = BatchService(store, catalog)
        ids = [service.plan(plan_request(workers, runner)).batch_run_id for _ in range(batches)]
        engine = BatchEngine(store, capacity=Capacity(max_workers=workers, max_running_batches=batches)).open()
        try:
            with stopwatch() as elapsed:
                for batch_id in ids:
                    engine.start(batch_id)
                idle = engine.wait_idle(timeout)
            seconds = elapsed()
            if not idle:
                raise BenchFailure(f"the engine was not idle after {timeout:g}s")
        finally:
            engine.close()
        for batch_id in ids:
            counts = store.counts_by_state(batch_id)
            if counts != {"completed": n} or store.get_batch(batch_id)["state"] != "completed":
                raise BenchFailure(f"batch {batch_id}: expected {n} completed items and the batch completed, found {counts}")
    finally:
        store.close()
    return {"seconds": seconds, "items_per_s": batches * n / seconds}


def run_polled(catalog: Catalog, n: int, polled: int, rate: float, workers: int, timeout: float,
               workdir: Path) -> dict[str, Any]:
    """One batch of ``n`` items runs while a thread asks for the status of ``polled`` other batches (planned, never
    loaded), round robin, ``rate`` statuses a second in all (``rate`` 0: as fast as it can): what 100 dashboards
    and scripts polling 100 batches cost the dispatch."""
    store = Store(workdir / "polled.duckdb")
    small = Catalog(products=catalog.products.head(20), problems=(), source="bench")
    try:
        others = [BatchService(store, small).plan(plan_request(workers)).batch_run_id for _ in range(polled)]
        batch_id = BatchService(store, catalog).plan(plan_request(workers)).batch_run_id
        engine = BatchEngine(store, capacity=Capacity(max_workers=workers)).open()
        done, answered = threading.Event(), [0]

        def poll() -> None:
            interval = 1.0 / rate if rate else 0.0
            at = 0
            while not done.is_set():
                engine.status(others[at % len(others)])
                answered[0] += 1
                at += 1
                if interval:
                    done.wait(interval)

        poller = threading.Thread(target=poll, name="bench-poller", daemon=True)
        try:
            poller.start()
            with stopwatch() as elapsed:
                engine.start(batch_id)
                idle = engine.wait_idle(timeout)
            seconds = elapsed()
            done.set()
            poller.join()
            if not idle:
                raise BenchFailure(f"the engine was not idle after {timeout:g}s")
        finally:
            done.set()
            engine.close()
        verify(store, batch_id, n)
    finally:
        store.close()
    return {"seconds": seconds, "items_per_s": n / seconds, "statuses_per_s": answered[0] / seconds}


def bench_many(n: int, batches: int, workers: int, repeat: int, timeout: float) -> dict[str, Any]:
    """Many batches at once against one batch of the same size and a bare pool, in the same repeats."""
    frame = products_frame(n)
    catalog = Catalog(products=frame, problems=(), source="bench")
    products = frame.to_dict("records")
    many, one, bare = [], [], []
    for _ in range(repeat):
        bare.append(run_bare(products, workers))
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            one.append(run_engine(catalog, n, workers, timeout, Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            many.append(run_many(catalog, n, batches, workers, timeout, Path(tmp)))
    m, o, b = (summarize([r["items_per_s"] for r in runs]) for runs in (many, one, bare))
    return {"benchmark": "engine-many-batches", "command": command_line(), "machine": machine(),
            "params": {"items_per_batch": n, "batches": batches, "workers": workers, "repeat": repeat},
            "many_batches": {"items_per_s": m}, "one_batch": {"items_per_s": o}, "bare_pool": {"items_per_s": b},
            "ratio_many_over_one": m["median"] / o["median"], "ratio_many_over_bare": m["median"] / b["median"]}


def bench_polled(n: int, polled: int, rate: float, workers: int, repeat: int, timeout: float) -> dict[str, Any]:
    """One batch dispatching while ``polled`` other batches' statuses are read, against the same batch unpolled."""
    frame = products_frame(n)
    catalog = Catalog(products=frame, problems=(), source="bench")
    quiet, busy = [], []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            quiet.append(run_engine(catalog, n, workers, timeout, Path(tmp)))
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            busy.append(run_polled(catalog, n, polled, rate, workers, timeout, Path(tmp)))
    q, p = (summarize([r["items_per_s"] for r in runs]) for runs in (quiet, busy))
    return {"benchmark": "engine-status-polled", "command": command_line(), "machine": machine(),
            "params": {"items": n, "polled_batches": polled, "statuses_per_s_asked": rate or "as fast as possible",
                       "workers": workers, "repeat": repeat},
            "polled": {"items_per_s": p, "statuses_per_s": summarize([r["statuses_per_s"] for r in busy])},
            "unpolled": {"items_per_s": q}, "ratio_polled_over_unpolled": p["median"] / q["median"],
            "goal": {"ratio": 0.8, "met_by_median": p["median"] / q["median"] >= 0.8}}


def many_text(r: dict[str, Any]) -> str:
    p, m, o, b = r["params"], r["many_batches"], r["one_batch"], r["bare_pool"]
    line = "  {:<22}: best {:>10,.0f} items/s   median {:>10,.0f} items/s"
    return "\n".join([
        f"many batches: {p['batches']} batches x {p['items_per_batch']:,} noop items, workers {p['workers']} (the "
        f"server's max_workers and each batch's cap), {p['repeat']} repeats, DuckDB file",
        f"  machine: {machine_line(r['machine'])}",
        line.format(f"{p['batches']} batches at once", m["items_per_s"]["best"], m["items_per_s"]["median"]),
        line.format("one batch", o["items_per_s"]["best"], o["items_per_s"]["median"]),
        line.format("bare ThreadPool", b["items_per_s"]["best"], b["items_per_s"]["median"]),
        f"  ratio many/one (medians) {r['ratio_many_over_one']:.3f}   many/bare {r['ratio_many_over_bare']:.3f}",
    ])


def polled_text(r: dict[str, Any]) -> str:
    p, q, u = r["params"], r["polled"], r["unpolled"]
    line = "  {:<22}: best {:>10,.0f} items/s   median {:>10,.0f} items/s"
    verdict = "MET" if r["goal"]["met_by_median"] else "NOT MET"
    return "\n".join([
        f"status polling: one batch of {p['items']:,} noop items while the status of {p['polled_batches']} other "
        f"batches is read ({p['statuses_per_s_asked']} a second asked), workers {p['workers']}, {p['repeat']} repeats",
        f"  machine: {machine_line(r['machine'])}",
        line.format("dispatch, polled", q["items_per_s"]["best"], q["items_per_s"]["median"]),
        line.format("dispatch, not polled", u["items_per_s"]["best"], u["items_per_s"]["median"]),
        f"  statuses answered      : median {q['statuses_per_s']['median']:,.0f} a second",
        f"  ratio polled/not polled (medians) {r['ratio_polled_over_unpolled']:.3f}; goal >= 0.8: {verdict}",
    ])


# --------------------------------------------------------------------------- the baseline
def run_bare(products: list[dict[str, Any]], workers: int) -> dict[str, Any]:
    """The same noop function over the same products on a bare thread pool: submit all, wait for all."""
    settings = plan_request(workers).settings
    ctx = RunContext("bench", 0, 1, CancelToken(), Limits(DomainLimiter(), ProviderLimiter()))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        cpu = time.process_time()
        with stopwatch() as elapsed:
            futures = [pool.submit(run_noop, product, settings, ctx) for product in products]
            done, not_done = wait(futures)
        seconds = elapsed()
        cpu = time.process_time() - cpu
    failed = [f for f in done if f.exception() is not None]
    if not_done or failed or len(done) != len(products):
        raise BenchFailure(f"bare pool: {len(not_done)} not done, {len(failed)} failed")
    return {"seconds": seconds, "items_per_s": len(products) / seconds, "cpu_us_per_item": cpu / len(products) * 1e6}


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


# --------------------------------------------------------------------------- the Dask executor (issue #16)
def start_cluster(scheduler: str | None, dask_workers: int) -> Any:
    """``engine.dask.cluster.connect``: the scheduler at ``scheduler``, or a LocalCluster of ``dask_workers`` processes
    (2 threads each) started here. BenchFailure when there is none (no ``distributed``, no scheduler answers)."""
    from engine.core.errors import IndexLabError
    from engine.dask.cluster import connect

    try:
        base = connect(scheduler, n_workers=dask_workers)
    except IndexLabError as exc:
        raise BenchFailure(f"no Dask cluster: {exc.message}") from None
    except RuntimeError as exc:  # a LocalCluster whose worker processes did not start ("Nanny failed to start")
        raise BenchFailure(f"the LocalCluster did not start: {exc}") from None
    try:
        if scheduler is None:
            base.client.wait_for_workers(dask_workers, timeout=60)
        if base.worker_threads() < 1:
            raise BenchFailure(f"the Dask cluster at {scheduler} has no worker threads")
    except BaseException:
        base.close()
        raise
    return base


def engine_cluster(base: Any) -> Any:
    """The engine's ``executor_factory`` for one run on ``base``'s cluster: a ``DaskCluster`` over the same client and
    cluster limiter that lets go of the client when the engine closes it (the engine closes its factory; the next run
    and client.map keep the same cluster)."""
    from engine.dask.executor import DaskCluster

    return DaskCluster(base.client, limits=base.limits, address=base.address, owns_client=False)


def _scheduler_tasks(client: Any) -> int:
    return client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))


def settle(client: Any, tasks: int, timeout: float = 60.0) -> None:
    """Wait until the scheduler holds no more than ``tasks`` tasks: the last run's released keys are forgotten
    before the next run is timed."""
    deadline = time.monotonic() + timeout
    while _scheduler_tasks(client) > tasks:
        if time.monotonic() > deadline:
            raise BenchFailure(f"the scheduler still holds {_scheduler_tasks(client)} tasks {timeout:g}s after a run")
        time.sleep(0.05)


def run_client_map(client: Any, products: list[dict[str, Any]], timeout: float) -> dict[str, Any]:
    """Dask's own way: one task per product (``client.map`` of the same noop function, keys unique), ``wait`` on all
    futures. The outcomes stay on the workers (the engine brings every one back to the control plane)."""
    from distributed import wait as dask_wait

    noop = functools.partial(run_noop, settings=None, ctx=None)  # noop reads neither
    tasks = _scheduler_tasks(client)
    cpu = time.process_time()
    with stopwatch() as elapsed:
        futures = client.map(noop, products, pure=False)
        try:
            dask_wait(futures, timeout=timeout)
        except TimeoutError:
            raise BenchFailure(f"client.map: not every task finished after {timeout:g}s") from None
    seconds = elapsed()
    cpu = time.process_time() - cpu
    statuses = Counter(f.status for f in futures)
    del futures  # released: the scheduler forgets the tasks before the next run (settle)
    if statuses != {"finished": len(products)}:
        raise BenchFailure(f"client.map: expected {len(products)} finished tasks, found {dict(statuses)}")
    settle(client, tasks)
    return {"seconds": seconds, "items_per_s": len(products) / seconds,
            "us_per_item": seconds / len(products) * 1e6, "cpu_us_per_item": cpu / len(products) * 1e6}


def _per_item(run: dict[str, Any], n: int) -> dict[str, Any]:
    return {**run, "us_per_item": run["seconds"] / n * 1e6}


def bench_dask(n: int, repeat: int, timeout: float, dask_workers: int, scheduler: str | None) -> dict[str, Any]:
    """The engine on a Dask cluster against ``client.map`` on the same cluster and the engine on local threads, in
    the same repeats."""
    frame = products_frame(n)
    catalog = Catalog(products=frame, problems=(), source="bench")
    products = frame.to_dict("records")
    base = start_cluster(scheduler, dask_workers)
    try:
        cluster = base.info()
        threads = cluster["worker_threads"]
        workers = max(1, min(threads, 64))  # the batch's own cap (BatchSettings: 1..64) and the engine's budget
        client = base.client
        warm = Catalog(products=frame.head(WARMUP_ITEMS), problems=(), source="bench")
        run_client_map(client, products[:WARMUP_ITEMS], timeout)
        with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
            run_engine(warm, len(warm.products), workers, timeout, Path(tmp), executor_factory=engine_cluster(base))
        dask_runs, map_runs, local_runs = [], [], []
        for _ in range(repeat):
            map_runs.append(run_client_map(client, products, timeout))
            with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
                dask_runs.append(_per_item(run_engine(catalog, n, workers, timeout, Path(tmp),
                                                      executor_factory=engine_cluster(base)), n))
            settle(client, _scheduler_tasks(client))
            with tempfile.TemporaryDirectory(prefix="indexlab-bench-") as tmp:
                local_runs.append(_per_item(run_engine(catalog, n, workers, timeout, Path(tmp)), n))
    finally:
        base.close()

    def measured(runs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"items_per_s": summarize([r["items_per_s"] for r in runs]),
                "us_per_item": summarize([r["us_per_item"] for r in runs], higher_is_better=False),
                "cpu_us_per_item": summarize([r["cpu_us_per_item"] for r in runs], higher_is_better=False)}

    engine_dask, client_map, engine_local = measured(dask_runs), measured(map_runs), measured(local_runs)
    ratio = engine_dask["us_per_item"]["median"] / client_map["us_per_item"]["median"]
    return {
        "benchmark": "engine-dask",
        "command": command_line(),
        "machine": machine(),
        "params": {"items": n, "repeat": repeat, "runner": "noop", "store": "DuckDB file (temporary)",
                   "workers": workers, "warmup_items": WARMUP_ITEMS},
        "cluster": {"scheduler": cluster["scheduler"], "local_cluster": cluster["local_cluster"],
                    "workers": cluster["workers"], "worker_threads": threads,
                    "dashboard": cluster["dashboard_link"] is not None, "distributed": _dask_version()},
        "engine_dask": {**engine_dask, "commits": summarize([r["commits"] for r in dask_runs], higher_is_better=False),
                        "withdrawn": [r["withdrawn"] for r in dask_runs]},
        "client_map": client_map,
        "engine_local": engine_local,
        "ratio_engine_dask_over_client_map": {
            "of_medians": ratio,
            "per_repeat": summarize([d["seconds"] / m["seconds"] for d, m in zip(dask_runs, map_runs)],
                                    higher_is_better=False)},
        "goal": {"ratio": GOAL_DASK_RATIO, "met_by_median": ratio <= GOAL_DASK_RATIO},
    }


def _dask_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("distributed")
    except Exception:
        return None


def dask_text(r: dict[str, Any]) -> str:
    p, c, g = r["params"], r["cluster"], r["goal"]
    where = (f"a LocalCluster of {c['workers']} worker processes started here ({c['scheduler']})" if c["local_cluster"]
             else f"the scheduler at {c['scheduler']}, {c['workers']} workers")
    verdict = "MET" if g["met_by_median"] else "NOT MET"

    def line(name: str, m: dict[str, Any]) -> str:
        runs = ", ".join(f"{v:,.0f}" for v in m["items_per_s"]["runs"])
        return (f"  {name:<21}: best {m['items_per_s']['best']:>10,.0f} items/s   median "
                f"{m['items_per_s']['median']:>10,.0f} items/s   median {m['us_per_item']['median']:>8,.1f} us/item   "
                f"runs [{runs}]")

    e, m, loc = r["engine_dask"], r["client_map"], r["engine_local"]
    return "\n".join([
        f"engine benchmark on Dask: {p['items']:,} items, {p['repeat']} repeats, runner noop, DuckDB file; "
        f"{where}, {c['worker_threads']} threads in all (the engine's max_workers and the batch's workers: "
        f"{p['workers']}); distributed {c['distributed']}, Dask dashboard {'on' if c['dashboard'] else 'off'}",
        f"  machine: {machine_line(r['machine'])}",
        line("engine on dask", e),
        line("client.map", m),
        line("engine, local threads", loc),
        f"  ratio engine on dask / client.map, time per item: of medians "
        f"{r['ratio_engine_dask_over_client_map']['of_medians']:.3f}   per repeat "
        + ", ".join(f"{v:.3f}" for v in r["ratio_engine_dask_over_client_map"]["per_repeat"]["runs"]),
        f"  this process's CPU per item: engine on dask median {e['cpu_us_per_item']['median']:.1f} us, client.map "
        f"{m['cpu_us_per_item']['median']:.1f} us, engine local {loc['cpu_us_per_item']['median']:.1f} us "
        f"(all its threads{', the LocalCluster scheduler included' if c['local_cluster'] else ''}; load average "
        f"{os.getloadavg()[0]:.1f})",
        f"  engine on dask       : writer commits median {e['commits']['median']:,.0f}; attempts withdrawn before "
        f"they began (queued again, not counted) per run: {', '.join(str(w) for w in e['withdrawn'])}",
        f"  goal: the engine's time per item on the cluster <= {g['ratio']:g}x client.map's (medians): {verdict}",
    ])


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
            "cpu_us_per_item": summarize([r["cpu_us_per_item"] for r in engine_runs], higher_is_better=False),
        },
        "plan_save_s": summarize([r["plan_save_s"] for r in engine_runs], higher_is_better=False),
        "bare_pool": {
            "items_per_s": bare_ips,
            "seconds": summarize([r["seconds"] for r in bare_runs], higher_is_better=False),
            "cpu_us_per_item": summarize([r["cpu_us_per_item"] for r in bare_runs], higher_is_better=False),
        },
        "ratio_engine_over_bare": {"of_best": engine_ips["best"] / bare_ips["best"],
                                   "of_medians": engine_ips["median"] / bare_ips["median"],
                                   "per_repeat": ratios},
        "goal": {"items_per_s": GOAL_ITEMS_PER_S, "ratio": GOAL_RATIO, "workers": GOAL_WORKERS,
                 "applies": workers == GOAL_WORKERS,
                 "met_by_median": engine_ips["median"] >= GOAL_ITEMS_PER_S
                 and engine_ips["median"] / bare_ips["median"] >= GOAL_RATIO,
                 "met_by_best": engine_ips["best"] >= GOAL_ITEMS_PER_S and max(ratios["runs"]) >= GOAL_RATIO},
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
        f"  process CPU per item : engine median {e['cpu_us_per_item']['median']:.1f} us   "
        f"bare pool median {b['cpu_us_per_item']['median']:.1f} us   (start to idle, all threads; load average "
        f"{os.getloadavg()[0]:.1f})",
        f"  writer commits       : best {e['commits']['best']:,.0f}   median {e['commits']['median']:,.0f}   "
        f"(median {e['items_per_commit']['median']:,.1f} items per commit)",
        f"  engine run time      : best {e['seconds']['best']:.3f} s   median {e['seconds']['median']:.3f} s",
        f"  plan + save          : best {r['plan_save_s']['best']:.3f} s   median {r['plan_save_s']['median']:.3f} s",
        f"  goal >= {goal['items_per_s']:,.0f} items/s durable and >= {goal['ratio']:.2f} of the bare pool at workers "
        f"{goal['workers']}: {verdict}",
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
    parser.add_argument("--batches", type=int, metavar="B", help="many-batches mode: B batches of --items items each "
                        "at once, against one batch and a bare pool")
    parser.add_argument("--poll-statuses", type=int, metavar="N", help="status mode: read the status of N other "
                        "batches while one batch dispatches, against the same batch unpolled")
    parser.add_argument("--poll-rate", type=float, default=100.0, metavar="R",
                        help="statuses read a second in status mode (0: as fast as possible; default %(default)s)")
    parser.add_argument("--resident", action="store_true",
                        help="instead: resident bytes per item, start and force stop of one --items batch (bench/scale.py)")
    parser.add_argument("--executor", choices=("local", "dask"), default="local",
                        help="local: the engine's thread pool (default); dask: the engine on a Dask cluster against "
                             "client.map on the same cluster and local threads (issue #16)")
    parser.add_argument("--dask-workers", type=int, default=2, metavar="N",
                        help="with --executor dask and no --scheduler: worker processes of the LocalCluster started "
                             "here, 2 threads each (default: %(default)s)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="with --executor dask: a running scheduler (tcp://HOST:8786) instead of a LocalCluster")
    args = parser.parse_args(argv)
    if args.executor == "dask" or args.scheduler:
        if args.executor != "dask":
            parser.error("--scheduler needs --executor dask")
        if args.resident or args.batches or args.poll_statuses or args.profile or args.durable_dispatch:
            parser.error("--executor dask measures one batch: no --resident, --batches, --poll-statuses, --profile "
                         "or --durable-dispatch")
        if args.items < 1 or args.repeat < 1:
            parser.error("--items and --repeat must be at least 1")
        if not 1 <= args.dask_workers <= 64:
            parser.error("--dask-workers must be 1..64")
        return report(lambda: bench_dask(args.items, args.repeat, args.timeout, args.dask_workers, args.scheduler),
                      dask_text, args.json)
    if args.resident:
        from bench.scale import main as scale_main

        return scale_main(["--items", str(args.items), "--timeout", str(args.timeout), *(["--json"] if args.json else [])])
    if args.batches or args.poll_statuses:
        try:
            if args.batches:
                result = bench_many(args.items, args.batches, args.workers, args.repeat, args.timeout)
                text = many_text(result)
            else:
                result = bench_polled(args.items, args.poll_statuses, args.poll_rate, args.workers, args.repeat,
                                      args.timeout)
                text = polled_text(result)
        except BenchFailure as exc:
            print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
            return 1
        print(json.dumps(result, indent=2, default=str) if args.json else text)
        return 0
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

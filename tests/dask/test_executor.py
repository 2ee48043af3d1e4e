"""The Dask executor (engine/dask) on a real ``LocalCluster`` of two worker processes: command jobs run on both
workers, pause, resume, stop and force stop reach them, a deadline cancels a remote attempt, and a worker SIGKILLed
mid-item loses nothing and commits nothing twice.

Each job (tests/dask/jobs/worker_job.py) logs its pid and its parent's, the Dask worker process that ran it. Tests
wait by polling the store or that log with a deadline; nothing is timed.
"""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import distributed
import pandas as pd
import pytest

from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings, Capacity
from engine.dask.executor import DaskCluster
from engine.dask.limits import start_limits
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.catalogs import product_rows
from tests.support.plugins import EXAMPLE, require_example
from tests.support.polling import wait_until

JOB = Path(__file__).resolve().parent / "jobs" / "worker_job.py"
TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=True, host="127.0.0.1",
                                     dashboard_address=None, scheduler_kwargs={"dashboard": False}) as cluster, \
            distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        yield client


@pytest.fixture
def cluster(client) -> Iterator[DaskCluster]:
    limits = start_limits(client, domain_concurrency=2, domain_cooldown=0.0, provider_rate_per_minute=600.0)
    cluster = DaskCluster(client, limits=limits, owns_client=False)
    yield cluster
    cluster.close()


@pytest.fixture
def engine(store, cluster) -> Iterator[BatchEngine]:
    engine = BatchEngine(store, executor_factory=cluster, capacity=Capacity(max_workers=4), abandon_grace=0.5).open()
    yield engine
    engine.close()


@pytest.fixture
def job_log(tmp_path) -> Path:
    return tmp_path / "starts.log"


def plan(store, job_log: Path, n: int, work: float | Path, **settings: Any) -> str:
    """A batch of N command jobs that each work WORK seconds or, given a Path, until the test creates that file."""
    service = BatchService(store, Catalog(products=product_rows(n), problems=(), source="test"))
    settings = {"runner": "command", "workers": 4, "retry_backoff_seconds": 0.1,
                "command": [sys.executable, str(JOB), str(job_log),
                            f"gate={work}" if isinstance(work, Path) else str(work), "{product_id}"], **settings}
    request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(**settings), confirm_large=True)
    return service.plan(request).batch_run_id


def starts(job_log: Path) -> list[tuple[str, int, int]]:
    """(product_id, job pid, worker pid) per complete line of the job log."""
    if not job_log.exists():
        return []
    return [(p, int(pid), int(ppid)) for p, pid, ppid in
            (line.split()[1:] for line in job_log.read_text().split("\n")[:-1])]


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def finished(engine: BatchEngine, batch: str, *states: str) -> dict[str, Any]:
    status = wait_until(lambda: (s := engine.status(batch))["state"] in states and not s["running"] and s,
                        timeout=TIMEOUT_S, message=lambda: f"batch is {engine.status(batch)['state']}, "
                                                           f"counts {engine.status(batch)['counts']}")
    engine.wait_idle(TIMEOUT_S)
    return status


def transitions(store, batch: str) -> list[dict[str, Any]]:
    return [e for e in store.events(batch, limit=store.count_events(batch)) if e["kind"] == "item_transition"]


def test_command_jobs_complete_on_both_workers_and_their_logs_say_where(store, engine, job_log):
    batch = plan(store, job_log, 12, 0.3)
    engine.start(batch)
    status = finished(engine, batch, "completed")
    assert status["counts"]["completed"] == 12
    workers = {ppid for _, _, ppid in starts(job_log)}
    assert len(workers) == 2, f"jobs ran under worker processes {workers}: expected both workers"
    assert os.getpid() not in workers, "a job ran in the control plane's process"
    logs = [e["reason"] for e in store.events(batch, limit=1000) if e["kind"] == "log"]
    where = {line.split(" (pid ")[1].split(",")[0] for line in logs if line.startswith("running on Dask worker")}
    assert where == {str(pid) for pid in workers}, f"the items' logs name worker pids {where}, jobs ran in {workers}"
    completed = Counter(e["seq"] for e in transitions(store, batch) if e["to_state"] == "completed")
    assert set(completed.values()) == {1} and len(completed) == 12


def test_a_runner_plugin_runs_in_process_on_the_workers(store, engine):
    """The example plugin (examples/indexlab-example-runner, an ``indexlab.runners`` entry point) is resolved by name
    in each worker process and runs there, no subprocess per product; its phases reach the item's events."""
    require_example()
    products = pd.DataFrame({"product_id": ["mouse-asus-rog-keris-wireless", "mouse-corsair-m65-rgb-ultra"],
                             "category": "mouse", "brand": ["ASUS", "Corsair"], "model": ["ROG Keris", "M65"],
                             "variant": ""})
    service = BatchService(store, Catalog(products=products, problems=(), source="test"))
    batch = service.plan(PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner=EXAMPLE),
                                     confirm_large=True)).batch_run_id
    engine.start(batch)
    status = finished(engine, batch, "completed")
    assert status["counts"]["completed"] == 2, status["recent_failures"]
    outcome = store.latest_outcome("mouse-asus-rog-keris-wireless", batch)
    assert outcome and outcome["fields"], outcome
    logs = [e["reason"] for e in store.events(batch, limit=100) if e["kind"] == "log"]
    assert any(line.startswith("running on Dask worker") for line in logs), logs


def test_pause_resume_and_graceful_stop_reach_the_cluster(store, engine, job_log, tmp_path):
    """The jobs are held at a gate, so which items have started when each call lands is known, not raced: a pause
    and a graceful stop let the four running jobs end and start nothing more."""
    gate = tmp_path / "gate"
    batch = plan(store, job_log, 16, gate)
    engine.start(batch)
    wait_until(lambda: len(starts(job_log)) == 4 and engine.status(batch)["counts"]["running"] == 4,
               timeout=TIMEOUT_S, message=lambda: f"started {starts(job_log)}")
    engine.pause(batch)
    gate.touch()  # the four running jobs may end
    paused = finished(engine, batch, "paused")
    assert paused["counts"]["completed"] == 4 and paused["counts"]["queued"] == 12, paused["counts"]
    assert len(starts(job_log)) == 4, "a job started while paused"
    gate.unlink()
    engine.start(batch)
    wait_until(lambda: len(starts(job_log)) == 8 and engine.status(batch)["counts"]["running"] == 4,
               timeout=TIMEOUT_S, message=lambda: f"started {starts(job_log)}")
    engine.stop(batch)
    gate.touch()
    stopped = finished(engine, batch, "stopped")
    assert (stopped["counts"]["completed"], stopped["counts"]["stopped"], stopped["counts"]["failed"]) == (8, 8, 0)
    assert len(starts(job_log)) == 8, "a job started after the stop"


def test_force_stop_kills_the_remote_jobs_process_groups(store, engine, job_log):
    batch = plan(store, job_log, 8, 120.0)
    engine.start(batch)
    wait_until(lambda: len(starts(job_log)) >= 4, timeout=TIMEOUT_S, message="four jobs did not start")
    # the phase each job sets on its worker (INDEXLAB_PHASE on stderr) reaches the live status here
    wait_until(lambda: [i["phase"] for i in engine.status(batch)["running"]] == ["working"] * 4, timeout=TIMEOUT_S,
               message=lambda: f"running items: {engine.status(batch)['running']}")
    pids = [pid for _, pid, _ in starts(job_log)]
    engine.stop(batch, force=True)
    status = finished(engine, batch, "stopped")
    assert status["counts"]["completed"] == 0 and status["counts"]["stopped"] == 8
    wait_until(lambda: not any(alive(pid) for pid in pids), timeout=TIMEOUT_S,
               message=lambda: f"job processes still alive on the workers: {[p for p in pids if alive(p)]}")


def test_max_run_seconds_cancels_a_remote_attempt(store, engine, job_log):
    batch = plan(store, job_log, 1, 120.0, max_run_seconds=1.0, max_attempts=1)
    engine.start(batch)
    status = finished(engine, batch, "completed")
    assert status["counts"]["failed"] == 1
    error = store.items(batch)["last_error"].tolist()[0]
    assert "max_run_seconds" in error, error
    wait_until(lambda: not any(alive(pid) for _, pid, _ in starts(job_log)), timeout=TIMEOUT_S,
               message="the job outlived its deadline on the worker")


def test_a_worker_sigkilled_mid_item_loses_nothing_and_commits_nothing_twice(store, engine, job_log, client):
    batch = plan(store, job_log, 8, 1.0, max_crashes=3)
    engine.start(batch)
    first = wait_until(lambda: starts(job_log), timeout=TIMEOUT_S, message="no job started")[0]
    product_id, job_pid, worker_pid = first
    os.kill(worker_pid, signal.SIGKILL)
    status = finished(engine, batch, "completed")
    assert status["counts"]["completed"] == 8, status["counts"]
    events = transitions(store, batch)
    interrupted = [e for e in events if e["reason"] and e["reason"].startswith("interrupted: the Dask worker")]
    assert interrupted, "the attempt the dead worker ran was not recorded as interrupted"
    assert all("crash 1 of at most 3" in e["reason"] for e in interrupted), [e["reason"] for e in interrupted]
    completed = Counter(e["seq"] for e in events if e["to_state"] == "completed")
    assert len(completed) == 8 and set(completed.values()) == {1}, f"completions per item: {completed}"
    items = store.items(batch)
    killed = items[items["product_id"] == product_id]
    assert killed["state"].tolist() == ["completed"] and killed["crashes"].tolist() == [1]
    assert killed["attempts"].tolist()[0] - killed["attempt_base"].tolist()[0] == 1, "the lost attempt was counted"
    wait_until(lambda: not alive(job_pid), timeout=TIMEOUT_S, message="the dead worker's job outlived it")
    client.wait_for_workers(2, timeout=TIMEOUT_S)  # the nanny restarts it for the next test


def test_a_product_that_kills_its_worker_every_time_fails_at_the_crash_cap_and_the_rest_complete(
        store, engine, job_log, client):
    """One item at a time (workers 1), so the only attempt in the dying worker is the poison's: the items of its
    chunk that finished there, their results lost with it, run again uncounted; only the poison is blamed."""
    poison = "p0002"
    batch = plan(store, job_log, 6, 0.2, max_crashes=2, fail_fast_failures=0, workers=1,
                 command=[sys.executable, str(JOB), str(job_log), "0.2", "{product_id}", poison])
    engine.start(batch)
    status = finished(engine, batch, "completed")
    assert status["counts"]["completed"] == 5 and status["counts"]["failed"] == 1, status["counts"]
    items = store.items(batch).set_index("product_id")
    assert items.loc[poison, "state"] == "failed" and items.loc[poison, "crashes"] == 2
    assert items.loc[poison, "last_error"] == "crashed the worker 2 times"
    assert (items.drop(poison)["crashes"] == 0).all(), "an item that only shared a dead worker was blamed"
    assert [p for p, _, _ in starts(job_log)].count(poison) == 2
    completed = Counter(e["seq"] for e in transitions(store, batch) if e["to_state"] == "completed")
    assert set(completed.values()) == {1} and len(completed) == 5
    client.wait_for_workers(2, timeout=TIMEOUT_S)


def test_status_queue_and_preview_name_the_cluster(store, engine, job_log):
    service = BatchService(store, Catalog(products=product_rows(40), problems=(), source="test"), engine)
    request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner="noop", workers=8),
                          confirm_large=True)
    estimate = service.preview(request).summary.estimate
    assert estimate.workers == 4, "the estimate runs more at once than the cluster's budget allows"
    assert estimate.basis_text.endswith("; 4 at a time on the Dask cluster (2 workers, 4 threads)"), estimate.basis_text
    batch = service.plan(request).batch_run_id
    executor = service.status(batch)["executor"]
    assert (executor["executor"], executor["workers"], executor["worker_threads"]) == ("dask", 2, 4)
    assert executor["status"] == "running" and executor["scheduler"].startswith("tcp://127.0.0.1:")
    assert executor["dashboard_link"].startswith("http://127.0.0.1:")  # (Dask's client.dashboard_link)
    assert service.queue().executor.executor == "dask"



# A fast job: logs its start as worker_job.py does; a product with a file of its name in $3 waits for the gate $4.
SH_JOB = ('echo "start $1 $$ $PPID" >> "$2"; if [ -e "$3/$1" ]; then while [ ! -e "$4" ]; do sleep 0.05; done; fi; '
          'printf \'\\173"product_id": "%s", "fields": \\173\\175, "coverage": 1.0\\175\' "$1"')  # (\\173: a brace)


def test_a_slow_item_gives_back_the_attempts_behind_it_and_no_product_runs_twice(store, cluster, job_log, tmp_path):
    """One chunk at a time (workers 1): chunks of 1, 2, 4, ... attempts as the pace allows; the item run second waits
    for a gate, first in a chunk of two. Its worker, by its own clock, begins nothing after it and says so: the engine
    queues the attempt behind it again. It was the engine that withdrew attempts by its own clock, which sees the
    workers' "began" events late under load: it took back attempts that had begun on the worker, and those products
    ran twice.

    A chunk holds ``chunk_seconds`` of work at the measured pace; with the cluster's 50 ms, a first job slower than
    25 ms (a shell's start on a busy machine) made the second chunk one attempt and nothing could be given back. Ten
    seconds make it two whatever the machine's speed."""
    cluster.chunk_seconds = 10.0
    engine = BatchEngine(store, executor_factory=cluster, capacity=Capacity(max_workers=4), abandon_grace=0.5).open()
    try:
        slow_item_gives_back(store, engine, job_log, tmp_path)
    finally:
        engine.close()


def slow_item_gives_back(store, engine: BatchEngine, job_log: Path, tmp_path: Path) -> None:
    slow, gate = tmp_path / "slow", tmp_path / "gate"
    slow.mkdir()
    batch = plan(store, job_log, 20, 0.0, workers=1,
                 command=["/bin/sh", "-c", SH_JOB, "sh", "{product_id}", str(job_log), str(slow), str(gate)])
    order = store.items(batch).sort_values("seq")["product_id"].tolist()
    (slow / order[1]).touch()
    engine.start(batch)
    given_back = lambda: [e for e in transitions(store, batch)
                          if e["reason"] and "held up behind a slow item" in e["reason"]]
    try:
        back = wait_until(given_back, timeout=TIMEOUT_S, message=lambda: (
            f"nothing was given back; jobs started: {[p for p, _, _ in starts(job_log)]} (the slow one is {order[1]})"))
    finally:
        gate.touch()
    assert [e["seq"] for e in back] == [3], back
    status = finished(engine, batch, "completed")
    assert status["counts"]["completed"] == 20, status["counts"]
    ran = Counter(p for p, _, _ in starts(job_log))
    assert set(ran.values()) == {1} and len(ran) == 20, f"products that ran more than once: {ran.most_common(3)}"
    completed = Counter(e["seq"] for e in transitions(store, batch) if e["to_state"] == "completed")
    assert len(completed) == 20 and set(completed.values()) == {1}
    item = store.items(batch).set_index("seq").loc[3]
    assert item["attempts"] - item["attempt_base"] == 1, "the attempt given back was counted"


def test_the_limiter_is_started_again_when_its_idle_worker_dies(store, engine, cluster, client, job_log):
    """No chunk ran on the limiter's worker when it died, so no KilledWorker told the executor: the monitor's own
    probe (every LIMITER_PROBE_S) finds it gone and starts another, and the next batch's jobs run with it."""
    old = cluster.limits
    holder = old._address
    pid = client.run(os.getpid, workers=[holder])[holder]
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: cluster.limits is not old and cluster._limiter_answers(), timeout=TIMEOUT_S,
               message="the cluster's limiter was not started again")
    client.wait_for_workers(2, timeout=TIMEOUT_S)
    batch = plan(store, job_log, 4, 0.0)
    engine.start(batch)
    assert finished(engine, batch, "completed")["counts"]["completed"] == 4


def test_a_batch_that_chooses_local_runs_on_the_servers_threads_beside_one_on_the_cluster(store, engine, tmp_path):
    """The executor is a batch setting among those the server offers: on a server with a cluster, ``local`` runs a
    batch's jobs here (their parent is this process) while the default batch's run on the workers."""
    here_log, there_log = tmp_path / "here.log", tmp_path / "there.log"
    here = plan(store, here_log, 4, 0.2, executor="local")
    there = plan(store, there_log, 4, 0.2)
    engine.start(here)
    engine.start(there)
    assert finished(engine, here, "completed")["counts"]["completed"] == 4
    assert finished(engine, there, "completed")["counts"]["completed"] == 4
    assert {ppid for _, _, ppid in starts(here_log)} == {os.getpid()}
    assert os.getpid() not in {ppid for _, _, ppid in starts(there_log)}
    service = BatchService(store, Catalog(products=product_rows(4), problems=(), source="test"), engine)
    assert service.status(here)["executor"]["executor"] == "local"
    assert service.status(there)["executor"]["executor"] == "dask"
    assert service.executor_kinds() == ["dask", "local"]

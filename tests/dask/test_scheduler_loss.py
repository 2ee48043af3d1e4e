"""The Dask scheduler going away pauses the batch with a clear reason; it resumes when the scheduler is back.

A real ``dask scheduler`` and ``dask worker`` (two worker processes) run as child processes on loopback. Mid-batch
the scheduler is SIGKILLed: the batch pauses, naming the scheduler, and the attempts that were out on the cluster go
back to the queue, not counted. Its workers end with it (as Dask workers do), so the test starts the scheduler again
on the same address, and workers, as an operator's supervisor would: the engine notices and resumes the batch, which
completes with every item completed once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.core.settings import Capacity
from engine.dask.cluster import connect
from engine.run.engine import BatchEngine
from tests.dask.test_executor import TIMEOUT_S, plan, transitions
from tests.support.polling import wait_until

DASK = str(Path(sys.executable).with_name("dask"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    def __init__(self, tmp_path: Path) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
        self.tmp_path = tmp_path
        self.all: list[subprocess.Popen] = []

    def start(self, *argv: str, log: str) -> subprocess.Popen:
        with (self.tmp_path / log).open("ab") as err:
            proc = subprocess.Popen([DASK, *argv], stdin=subprocess.DEVNULL, stdout=err, stderr=err, env=self.env)
        self.all.append(proc)
        return proc

    def scheduler(self) -> subprocess.Popen:
        return self.start("scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
                          log="scheduler.log")

    def workers(self) -> subprocess.Popen:
        return self.start("worker", self.address, "--nworkers", "2", "--nthreads", "2", "--no-dashboard",
                          "--host", "127.0.0.1", log="workers.log")


@pytest.fixture
def processes(tmp_path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    for proc in procs.all:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_scheduler_lost_mid_batch_pauses_it_and_it_resumes_when_the_scheduler_is_back(store, tmp_path, processes):
    scheduler = processes.scheduler()
    processes.workers()
    cluster = wait_until(lambda: _connect(processes.address), timeout=TIMEOUT_S, interval=0.2,
                         message="the scheduler did not answer")
    wait_until(lambda: cluster.worker_threads() == 4, timeout=TIMEOUT_S, message="the workers did not join")
    engine = BatchEngine(store, executor_factory=cluster, capacity=Capacity(max_workers=4)).open()
    try:
        log = tmp_path / "starts.log"
        batch = plan(store, log, 24, 0.3)
        engine.start(batch)
        wait_until(lambda: engine.status(batch)["counts"]["completed"] >= 4, timeout=TIMEOUT_S)
        scheduler.send_signal(signal.SIGKILL)
        scheduler.wait(timeout=30)
        paused = wait_until(lambda: (s := engine.status(batch))["state"] == "paused" and not s["running"] and s,
                            timeout=TIMEOUT_S, message=lambda: f"batch is {engine.status(batch)['state']}")
        assert f"the Dask scheduler at {processes.address} went away" in paused["reason"], paused["reason"]
        assert "resumes when the executor is back" in paused["reason"]
        assert paused["counts"]["queued"] + paused["counts"]["completed"] == 24, paused["counts"]
        wait_until(lambda: engine.executor_info()["status"] != "running", timeout=TIMEOUT_S,
                   message="the status still says the scheduler is there")  # (/healthz carries the same)

        processes.scheduler()
        processes.workers()
        done = wait_until(lambda: (s := engine.status(batch))["state"] == "completed" and s, timeout=TIMEOUT_S * 2,
                          interval=0.2, message=lambda: f"batch is {engine.status(batch)['state']}, "
                                                        f"{engine.status(batch)['counts']}: {engine.executor_info()}")
        assert done["counts"]["completed"] == 24
        moves = [e for e in store.events(batch, limit=store.count_events(batch)) if e["kind"] == "batch_transition"]
        assert [(m["from_state"], m["to_state"], m["actor"]) for m in moves][-3:] == [
            ("running", "paused", "engine"), ("paused", "running", "engine"), ("running", "completed", "engine")]
        assert moves[-2]["reason"] == "resumed: the executor is back"
        items = transitions(store, batch)
        completed = Counter(e["seq"] for e in items if e["to_state"] == "completed")
        assert len(completed) == 24 and set(completed.values()) == {1}, completed
        requeued = [e for e in items if e["to_state"] == "queued" and "went away" in (e["reason"] or "")]
        assert requeued and all("not counted as an attempt" in e["reason"] for e in requeued)
        assert set(store.items(batch)["crashes"].tolist()) == {0}, "losing the scheduler counted as a crash"
    finally:
        engine.close()


def _connect(address: str):
    try:
        return connect(address)
    except Exception:
        return None

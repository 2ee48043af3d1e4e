"""Many batches at once, with real slow jobs: the ``command`` runner runs tests/engine/jobs/logged_job.py, whose
log (start/end lines in the order they happened) proves the server's worker budget, each batch's own cap, the fair
share and its weighting by priority, and that a queued batch starts when a running one pauses or completes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from engine.core.settings import Capacity
from engine.run.engine import BatchEngine
from tests.support.polling import wait_until

JOB = Path(__file__).parent / "jobs" / "logged_job.py"


class Jobs:
    """The job log and the gate every job waits on."""

    def __init__(self, tmp_path: Path) -> None:
        self.log, self.gate = tmp_path / "jobs.log", tmp_path / "gate"

    def open(self) -> None:
        self.gate.touch()

    def lines(self) -> list[tuple[str, str, str]]:
        """(kind, batch_run_id, product_id) per complete line, in the order they were written."""
        if not self.log.exists():
            return []
        return [tuple(line.split()[:3]) for line in self.log.read_text().split("\n")[:-1]]

    def starts(self, batch: str | None = None) -> list[str]:
        return [b for kind, b, _ in self.lines() if kind == "start" and batch in (None, b)]

    def most_in_flight(self) -> tuple[int, dict[str, int]]:
        """The most jobs between their start and end lines at once: in all, and per batch."""
        now: dict[str, int] = {}
        most, per = 0, {}
        for kind, batch, _ in self.lines():
            now[batch] = now.get(batch, 0) + (1 if kind == "start" else -1)
            most = max(most, sum(now.values()))
            per[batch] = max(per.get(batch, 0), now[batch])
        return most, per


@pytest.fixture
def jobs(tmp_path, monkeypatch) -> Jobs:
    jobs = Jobs(tmp_path)
    monkeypatch.setenv("LOGGED_JOB_LOG", str(jobs.log))
    monkeypatch.setenv("LOGGED_JOB_GATE", str(jobs.gate))
    return jobs


@pytest.fixture
def make_engine(store):
    engines: list[BatchEngine] = []

    def make(max_workers: int = 4, max_running_batches: int = 4) -> BatchEngine:
        engine = BatchEngine(store, capacity=Capacity(max_workers=max_workers, max_running_batches=max_running_batches),
                             abandon_grace=0.5).open()
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


@pytest.fixture
def plan_job(plan_batch):
    def make(n: int, **settings) -> str:
        return plan_batch(n, runner="command", command=[sys.executable, str(JOB)], **settings)

    return make


def test_the_server_budget_and_each_batch_cap_hold_and_both_batches_progress(make_engine, plan_job, jobs, store):
    engine = make_engine(max_workers=3)
    first, second = plan_job(6, workers=2), plan_job(6, workers=2)
    engine.start(first)
    engine.start(second)
    wait_until(lambda: len(jobs.starts()) == 3, timeout=30, message=lambda: f"log: {jobs.lines()}")
    assert {len(jobs.starts(first)), len(jobs.starts(second))} == {1, 2}  # both progress within the budget
    status = engine.status(first)
    assert (status["workers"], status["priority"], status["queue_position"]) == (2, 5, None)
    jobs.open()
    assert engine.wait_idle(60)
    most, per_batch = jobs.most_in_flight()
    assert most == 3 and max(per_batch.values()) == 2 and set(per_batch) == {first, second}, jobs.lines()
    assert store.counts_by_state(first) == store.counts_by_state(second) == {"completed": 6}


def test_with_one_worker_priorities_2_and_1_share_it_2_to_1_in_a_fixed_order(make_engine, plan_job, jobs, store):
    engine = make_engine(max_workers=1)
    high, low = plan_job(8), plan_job(4)
    engine.set_priority(high, 2)
    engine.set_priority(low, 1)
    engine.start(high)
    wait_until(lambda: len(jobs.starts()) == 1, timeout=30)  # high's first job waits at the gate
    engine.start(low)
    jobs.open()
    assert engine.wait_idle(60)
    order = "".join("H" if batch == high else "L" for batch in jobs.starts())
    assert order == "HLHHLHHLHHLH", order  # stride scheduling: exact, not random
    assert jobs.most_in_flight()[0] == 1


def test_a_queued_batch_starts_when_a_running_one_pauses_then_the_next_when_one_completes(make_engine, plan_job,
                                                                                          jobs, store):
    engine = make_engine(max_workers=2, max_running_batches=1)
    first, second, third = plan_job(2, workers=1), plan_job(2, workers=1), plan_job(1, workers=1)
    engine.start(first)
    queued = engine.start(second)
    assert (queued["state"], queued["queue_position"]) == ("queued", 1)
    assert engine.start(third)["queue_position"] == 2
    assert "queued at position 1" in store.get_batch(second)["reason"]
    wait_until(lambda: len(jobs.starts()) == 1, timeout=30)
    engine.pause(first)  # its job runs on; the place it held goes to the first in the queue
    wait_until(lambda: len(jobs.starts(second)) == 1, timeout=30, message=lambda: f"log: {jobs.lines()}")
    assert engine.status(second)["state"] == "running" and engine.status(third)["queue_position"] == 1
    jobs.open()
    wait_until(lambda: store.get_batch(third)["state"] == "completed", timeout=60,
               message=lambda: f"states: {[store.get_batch(b)['state'] for b in (first, second, third)]}")
    assert engine.wait_idle(30)
    lines = jobs.lines()
    first_third = next(i for i, (kind, b, _) in enumerate(lines) if kind == "start" and b == third)
    last_second = max(i for i, (kind, b, _) in enumerate(lines) if kind == "end" and b == second)
    assert first_third > last_second  # the third ran only once the second completed
    assert store.get_batch(first)["state"] == "paused" and store.counts_by_state(first) == {"completed": 1, "queued": 1}
    assert store.get_batch(first)["queue_rank"] is None and store.get_batch(third)["queue_rank"] is None

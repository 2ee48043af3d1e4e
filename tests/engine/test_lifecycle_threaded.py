"""Lifecycle with real threads: pause, stop, force stop, deadlines, two batches at once, recovery."""

import os
import sys
import threading
from pathlib import Path

from engine.run.engine import BatchEngine
from tests.support.polling import wait_until


def _state(store, batch):
    return store.get_batch(batch)["state"]


def test_pause_lets_running_items_finish_and_dispatches_nothing_new(engine, plan_batch, script, store):
    batch = plan_batch(6, workers=2)
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: len(script.started) == 2)
    engine.pause(batch)
    script.gate.set()
    wait_until(lambda: engine.status(batch)["counts"]["completed"] == 2)
    assert engine.wait_idle(60)
    assert len(script.started) == 2 and _state(store, batch) == "paused"
    assert store.counts_by_state(batch) == {"completed": 2, "queued": 4}
    engine.resume(batch)
    assert engine.wait_idle(60)
    assert store.counts_by_state(batch) == {"completed": 6} and _state(store, batch) == "completed"
    assert len(script.calls) == 6  # nothing lost, nothing repeated


def test_graceful_stop_finishes_in_flight_and_stops_the_queue(engine, plan_batch, script, store):
    batch = plan_batch(5, workers=1)
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: len(script.started) == 1)
    status = engine.stop(batch)
    assert status["state"] == "stopping"
    script.gate.set()
    assert engine.wait_idle(60)
    assert _state(store, batch) == "stopped" and store.counts_by_state(batch) == {"completed": 1, "stopped": 4}
    engine.start(batch)
    assert engine.wait_idle(60)
    assert store.counts_by_state(batch) == {"completed": 5} and len(script.calls) == 5


def test_force_stop_returns_fast_even_if_the_runner_ignores_cancellation(engine, plan_batch, script, store):
    batch = plan_batch(4, workers=2)
    script.default = "ignore-cancel"
    engine.start(batch)
    wait_until(lambda: len(script.started) == 2)
    status = engine.stop(batch, force=True)
    # the gate is not set: both attempts still wait on it, so force stop answered without waiting for them
    assert not script.gate.is_set() and script.returned == []
    assert status["state"] == "stopped" and status["counts"]["stopped"] == 4
    assert store.counts_by_state(batch) == {"stopped": 4}


def test_late_result_of_an_abandoned_attempt_is_discarded(engine, plan_batch, script, store):
    batch = plan_batch(2, workers=2)
    script.default = "ignore-cancel"
    engine.start(batch)
    wait_until(lambda: len(script.started) == 2)
    engine.stop(batch, force=True)
    events_before = store.count_events(batch)
    script.gate.set()  # the abandoned threads now return their outcome
    wait_until(lambda: not any(t.name.startswith("indexlab-worker") for t in threading.enumerate()))
    engine.writer.flush()
    items = store.items(batch)
    assert items["state"].tolist() == ["stopped", "stopped"] and items["outcome"].isna().all()
    assert store.count_events(batch) == events_before


def test_deadline_cancels_a_cooperative_attempt_and_counts_as_failure(engine, plan_batch, script, store):
    batch = plan_batch(1, max_run_seconds=0.2, max_attempts=2, retry_backoff_seconds=0.0)
    script.default = "block"
    engine.start(batch)
    assert engine.wait_idle(20)
    item = store.items(batch).iloc[0]
    assert (item["state"], item["attempts"]) == ("failed", 2) and "max_run_seconds" in item["last_error"]


def test_attempt_ignoring_its_deadline_is_abandoned_and_the_batch_goes_on(engine, plan_batch, script, store):
    batch = plan_batch(2, workers=1, max_run_seconds=0.2, max_attempts=1)
    first = store.items(batch)["product_id"][0]
    script.plan[first] = ["ignore-cancel"]
    engine.start(batch)
    assert engine.wait_idle(20)
    items = store.items(batch)
    assert items["state"].tolist() == ["failed", "completed"] and "abandoned" in items["last_error"][0]
    script.gate.set()


def test_two_batches_run_at_once_within_the_server_budget(engine, plan_batch, script, store):
    """Was test_only_one_batch_runs_at_a_time: a second start no longer answers "one batch runs at a time"."""
    first, second = plan_batch(3, workers=2), plan_batch(3, workers=2)
    script.default = "block"
    engine.start(first)
    assert engine.start(second)["state"] == "running"
    wait_until(lambda: len(script.started) == 4)  # max_workers 4: two of each
    assert sorted(engine.running_batch_ids()) == sorted([first, second])
    script.gate.set()
    assert engine.wait_idle(60)
    assert _state(store, first) == _state(store, second) == "completed"


def test_workers_cap_concurrency(engine, plan_batch, script, store):
    batch = plan_batch(8, workers=3)
    script.default = "block"
    engine.start(batch)
    # the status shows committed moves, a moment before the worker thread calls its runner: wait for both
    wait_until(lambda: engine.status(batch)["counts"]["running"] == 3 and len(script.started) == 3)
    assert len(engine.status(batch)["running"]) == 3 and len(script.started) == 3
    script.gate.set()
    assert engine.wait_idle(60) and store.counts_by_state(batch) == {"completed": 8}


def test_a_shutdown_requeues_running_items_without_counting_a_crash_and_the_restart_resumes(plan_batch, script, store):
    batch = plan_batch(4, workers=2)
    script.default = "block"
    engine = BatchEngine(store).open()
    engine.start(batch)
    wait_until(lambda: len(script.started) == 2)
    wait_until(lambda: store.counts_by_state(batch).get("running") == 2)
    engine.close()  # a graceful shutdown: what was running goes back to the queue, refunded
    assert store.counts_by_state(batch) == {"queued": 4}
    assert store.items(batch)["crashes"].max() == 0
    script.default = "ok"
    reopened = BatchEngine(store).open()
    try:
        assert reopened.wait_idle(60)
        assert store.counts_by_state(batch) == {"completed": 4} and _state(store, batch) == "completed"
        interrupted = [e for e in store.events(batch) if e["reason"] and e["reason"].startswith("interrupted")]
        assert len(interrupted) == 2 and all("shut down" in e["reason"] for e in interrupted)
        items = store.items(batch)
        assert items["attempts"].max() == 2 and items["attempt_base"].max() == 1  # the lost attempt is refunded
    finally:
        reopened.close()


def test_restart_keeps_a_paused_batch_paused(plan_batch, script, store):
    batch = plan_batch(3)
    engine = BatchEngine(store).open()
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: len(script.started) == 2)
    engine.pause(batch)
    script.gate.set()
    assert engine.wait_idle(60)
    engine.close()
    reopened = BatchEngine(store).open()
    try:
        assert reopened.status(batch)["state"] == "paused" and reopened.running_batch_ids() == []
        assert reopened.wait_idle(60) and store.counts_by_state(batch)["queued"] == 1
    finally:
        reopened.close()


def test_restart_with_auto_resume_off_pauses_the_running_batch(plan_batch, script, store):
    batch = plan_batch(3)
    engine = BatchEngine(store).open()
    script.default = "block"
    engine.start(batch)
    wait_until(lambda: len(script.started) == 2)
    engine.close()
    reopened = BatchEngine(store, auto_resume=False).open()
    try:
        assert reopened.status(batch)["state"] == "paused" and store.counts_by_state(batch)["queued"] == 3
    finally:
        reopened.close()


def test_live_status_matches_the_store_after_the_batch(engine, plan_batch, script, store):
    batch = plan_batch(30, workers=4)
    engine.start(batch)
    assert engine.wait_idle(20)
    status = engine.status(batch)
    assert {k: v for k, v in status["counts"].items() if v} == store.counts_by_state(batch)
    assert status["throughput"]["overall_per_hour"] is None or status["throughput"]["overall_per_hour"] > 0
    assert status["recent_events"][0]["to_state"] == "completed"


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" in status.read_text()


def test_force_stop_kills_a_command_job_that_ignores_sigterm(engine, plan_batch, store, tmp_path):
    """Force stop returns within 2 s; the job's whole process group (child and grandchild) dies."""
    job = Path(__file__).parent / "jobs" / "fake_job.py"
    batch = plan_batch(1, runner="command", command=[sys.executable, str(job), "stubborn", str(tmp_path)])
    engine.start(batch)
    wait_until(lambda: (tmp_path / "child.pid").exists() and (tmp_path / "grandchild.pid").exists(), timeout=30)
    pids = [int((tmp_path / n).read_text()) for n in ("child.pid", "grandchild.pid")]
    status = engine.stop(batch, force=True)  # its 2 s bound is test_force_stop_returns_fast_... above
    assert status["state"] == "stopped" and status["counts"]["stopped"] == 1, status
    wait_until(lambda: all(_gone(pid) for pid in pids), timeout=30,
               message=f"job processes {pids} survived: {[Path(f'/proc/{p}/status').exists() for p in pids]}")
    assert store.items(batch)["state"].tolist() == ["stopped"]

"""The batch queue and an operator's changes to a batch (priority, workers, queue place): the unhappy paths
first, with a real threaded engine and the scripted runner; and status reads that never wait for the engine."""

from __future__ import annotations

import threading

import pytest

from engine.core.errors import IllegalTransition, InvalidValue, NotFound
from engine.core.settings import Capacity
from engine.run.engine import BatchEngine
from tests.support.polling import wait_until


@pytest.fixture
def engine(store):
    """One batch runs at a time; more queue."""
    engine = BatchEngine(store, capacity=Capacity(max_workers=4, max_running_batches=1), abandon_grace=0.5).open()
    yield engine
    engine.close()


@pytest.fixture
def busy(engine, plan_batch, script):
    """A running batch whose jobs block until the gate opens, and two batches queued behind it."""
    script.default = "block"
    running, second, third = plan_batch(4), plan_batch(3), plan_batch(3)
    engine.start(running)
    engine.start(second)
    engine.start(third)
    wait_until(lambda: len(script.started) == 2)
    return running, second, third


def _operator_actions(store, batch):
    return [e["reason"] for e in store.events(batch) if e["kind"] == "operator_action"]


def test_pausing_a_queued_batch_takes_it_out_of_the_queue(engine, busy, store, script):
    running, second, third = busy
    status = engine.pause(second, actor="ana")
    assert (status["state"], status["queue_position"]) == ("paused", None)
    assert engine.queue() == [third] and engine.status(third)["queue_position"] == 1
    assert store.get_batch(second)["queue_rank"] is None and store.counts_by_state(second) == {"queued": 3}
    assert engine.start(second)["queue_position"] == 2  # resuming it queues it again, at the end
    script.gate.set()
    assert engine.wait_idle(20)
    assert [store.get_batch(b)["state"] for b in busy] == ["completed"] * 3


def test_stopping_a_queued_batch_stops_it_and_its_items(engine, busy, store, script):
    running, second, third = busy
    for force in (False, True):
        batch = second if not force else third
        status = engine.stop(batch, force=force)
        assert status["state"] == "stopped" and status["counts"]["stopped"] == 3, status
        assert store.counts_by_state(batch) == {"stopped": 3}
    assert engine.queue() == []
    script.gate.set()
    assert engine.wait_idle(20) and store.get_batch(running)["state"] == "completed"
    assert [store.get_batch(b)["state"] for b in (second, third)] == ["stopped", "stopped"]


def test_starting_a_queued_batch_again_says_where_it_is(engine, busy):
    with pytest.raises(IllegalTransition, match=r"already queued \(position 2 of 2\)"):
        engine.start(busy[2])


@pytest.mark.parametrize("priority", [0, 11, -3, 2.5, True])
def test_a_priority_out_of_range_is_refused_and_changes_nothing(engine, busy, store, priority):
    running = busy[0]
    events = store.count_events(running)
    with pytest.raises(InvalidValue, match="priority must be a whole number from 1 to 10") as error:
        engine.set_priority(running, priority)
    assert error.value.field == "priority"
    assert store.get_batch(running)["priority"] == 5 and store.count_events(running) == events
    assert engine.status(running)["priority"] == 5


@pytest.mark.parametrize("workers", [0, 65])
def test_workers_out_of_range_are_refused_and_change_nothing(engine, busy, store, workers):
    running = busy[0]
    with pytest.raises(InvalidValue, match="workers must be a whole number from 1 to 64"):
        engine.set_workers(running, workers)
    assert store.get_batch(running)["settings"]["workers"] == 2 and _operator_actions(store, running) == []


def test_moving_a_running_or_unknown_batch_in_the_queue_is_refused(engine, busy, store):
    running, second, third = busy
    with pytest.raises(IllegalTransition, match=f"batch {running} is running, not queued"):
        engine.move_in_queue(running, 1)
    with pytest.raises(InvalidValue, match="position must be a whole number from 1 to 2"):
        engine.move_in_queue(third, 3)
    with pytest.raises(NotFound):
        engine.move_in_queue("no-such-batch", 1)
    assert engine.queue() == [second, third] and _operator_actions(store, third) == []


def test_status_of_an_unknown_batch_is_not_found(engine):
    with pytest.raises(NotFound, match="no batch 'nope'"):
        engine.status("nope")
    with pytest.raises(NotFound):
        engine.set_priority("nope", 3)


def test_moving_in_the_queue_reorders_admission_and_is_audited(engine, busy, store, script):
    running, second, third = busy
    assert engine.move_in_queue(third, 1, actor="ana")["queue_position"] == 1
    assert engine.queue() == [third, second] and engine.status(second)["queue_position"] == 2
    ranks = {b: store.get_batch(b)["queue_rank"] for b in (second, third)}
    assert ranks[third] < ranks[second]
    event = [e for e in store.events(third) if e["kind"] == "operator_action"][-1]
    assert (event["actor"], event["reason"]) == ("ana", "queue position 2 -> 1")
    engine.pause(running)
    wait_until(lambda: store.get_batch(third)["state"] == "running")
    assert store.get_batch(second)["state"] == "queued"
    script.gate.set()
    assert engine.wait_idle(20)


def test_priority_and_workers_change_a_running_batch_at_once_audited_and_stored(engine, plan_batch, script, store):
    script.default = "block"
    batch = plan_batch(6, workers=1)
    engine.start(batch)
    wait_until(lambda: len(script.started) == 1)
    engine.set_priority(batch, 8, actor="ana")
    status = engine.set_workers(batch, 3, actor="ana")
    wait_until(lambda: len(script.started) == 3)  # the new cap applies to the running batch
    engine.writer.flush()
    assert (status["priority"], status["workers"]) == (8, 3)
    stored = store.get_batch(batch)
    assert stored["priority"] == 8 and stored["settings"]["workers"] == 3
    assert _operator_actions(store, batch) == ["priority 5 -> 8", "workers 1 -> 3"]
    script.gate.set()
    assert engine.wait_idle(20)
    assert engine.status(batch)["workers"] == 3


def test_status_of_a_batch_not_loaded_never_waits_for_the_engine_lock(engine, busy, plan_batch, store):
    """A lifecycle call holding the engine lock (a long store write, say) must not hold up status polls of
    other batches: before, a batch outside the status cache was loaded, item table and all, under that lock."""
    planned = plan_batch(5)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with engine._lock:
            held.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        held.wait(10)
        answers: list = []
        reader = threading.Thread(target=lambda: answers.append(engine.status(planned)))
        reader.start()
        reader.join(10)
        assert answers and answers[0]["state"] == "planned" and answers[0]["counts"]["queued"] == 5
        assert answers[0]["total"] == 5 and answers[0]["workers"] == 2
    finally:
        release.set()
        holder.join()


def test_polling_many_batches_never_evicts_a_running_batch_live_status(engine, busy, plan_batch, store):
    running = busy[0]
    live = engine._statuses[running]
    for batch in [plan_batch(2) for _ in range(20)]:
        assert engine.status(batch)["state"] == "planned"
    assert engine._statuses[running] is live and engine.status(running)["counts"]["running"] == 2


def test_a_status_read_from_the_store_follows_every_change_of_its_batch(engine, busy, store):
    second = busy[1]
    assert engine.status(second)["priority"] == 5 and engine.status(second)["state"] == "queued"  # read, kept
    engine.set_priority(second, 9)
    assert engine.status(second)["priority"] == 9
    engine.pause(second)
    assert engine.status(second)["state"] == "paused" and engine.status(second)["queue_position"] is None


def test_letting_go_of_a_stale_run_keeps_the_batch_reloaded_since_in_the_fair_share(store, plan_batch):
    """A lifecycle call that let go of the engine lock (force stop awaits its write without it) and then lets go of
    the run it held must not take the batch out of the scheduler when the batch was unloaded and loaded again
    meanwhile: the dispatcher then found a running batch without a share and its thread died (KeyError in
    Scheduler.charge; seen in the twenty-clients API test)."""
    from tests.support.inline import InlineExecutor

    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), background=False).open()
    try:
        batch = plan_batch(3)
        engine.start(batch)
        stale = engine._runs[batch]
        engine.pause(batch)  # idle and paused: the run is let go
        assert batch not in engine._runs
        engine.start(batch)  # resumed: loaded again, a new run in the fair share
        assert engine._runs[batch] is not stale
        engine._unload(stale)  # the late let-go of the old run
        engine.drain()
        assert engine.status(batch)["counts"]["completed"] == 3
    finally:
        engine.close()

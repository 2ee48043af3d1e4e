"""Issue #15: attempts handed to a worker by the chunk, and recorded by the move block.

Each attempt stays its own (its deadline, its outcome, its transitions); what a chunk changes is when an item
moves to ``running`` (when its chunk is handed out) and that items held up behind a slow one are taken back.
Chunk sizes are measured on the engine's clock: with the test clock every attempt takes no time, so the sizes
are exact (1, 2, 4, ... while attempts complete, 1 again after a failure).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.core.limits import FakeClock, Limits
from engine.run.active import Attempt
from engine.run.chunks import STALL_SECONDS, Chunk, run_chunk
from engine.run.engine import BatchEngine
from engine.runners.base import RunContext
from engine.store import Interrupted, ItemMove, MoveBlock, utcnow
from tests.support.inline import InlineExecutor
from tests.support.polling import wait_until

BAD = "caf\udce9"  # a lone surrogate: Arrow's UTF-8 encoder refuses it


class CountingExecutor(InlineExecutor):
    """Inline, and remembers how many attempts each chunk handed to it held."""

    def __init__(self, sizes: list[int]) -> None:
        self.sizes = sizes

    def submit(self, fn, /, *args, **kwargs):
        if isinstance(args[0], Chunk):
            self.sizes.append(len(args[0].attempts))
        return super().submit(fn, *args, **kwargs)


def _inline(store, sizes: list[int], **kwargs: Any) -> BatchEngine:
    return BatchEngine(store, executor_factory=lambda n: CountingExecutor(sizes), clock=FakeClock(),
                       background=False, **kwargs).open()


def _pids(store, batch: str) -> dict[int, str]:
    """Product id by seq (the run order is not the product ids' order)."""
    return dict(zip(*(store.items(batch)[c].tolist() for c in ("seq", "product_id"))))


def _block(batch: str, seqs: list[int], state: str, **rows: Any) -> MoveBlock:
    at = 1_700_000_000_000_000
    values: dict[str, Any] = {"state": state, "attempts": 1, "attempt_base": 0, "last_error": None, "phase": None,
                              "started_at": at, "finished_at": None, "duration_s": None, "outcome": None, "gate": None,
                              "coverage": None, "fingerprint": None}
    values.update(rows)
    source = "queued" if state == "running" else "running"
    return MoveBlock(batch, np.array(seqs, np.int64), values, source, at, 1, "engine", "test")


# ---------------------------------------------------------------------------- the store refuses part of a block
def test_a_move_block_the_store_refuses_is_retried_item_by_item_and_only_the_bad_item_is_changed(store, plan_batch):
    batch = plan_batch(3)
    engine = BatchEngine(store).open()
    try:
        engine.writer.post((_block(batch, [1, 2, 3], "running", last_error=[None, f"earlier: {BAD}", None]),))
        engine.writer.flush()
        rows = {r["seq"]: r for r in store.item_records(batch)}
        assert [rows[s]["state"] for s in (1, 2, 3)] == ["running"] * 3  # no item of the group was lost
        assert rows[2]["last_error"].startswith("earlier: caf") and "\udce9" not in rows[2]["last_error"]
        assert engine.writer.rejected == 1 and engine.writer.degraded is None
        done = _block(batch, [1, 2, 3], "completed", finished_at=1_700_000_000_100_000, duration_s=0.1,
                      outcome=['{"ok": 1}', f'{{"title": "{BAD}"}}', '{"ok": 3}'])
        engine.writer.post((done,))
        engine.writer.flush()
        rows = {r["seq"]: r for r in store.item_records(batch)}
        assert (rows[1]["state"], rows[3]["state"]) == ("completed", "completed")
        assert rows[2]["state"] == "failed" and "could not be stored" in rows[2]["last_error"]
        assert engine.writer.rejected == 2 and engine.writer.degraded is None
    finally:
        engine.close()


def test_the_last_move_of_an_item_in_one_commit_wins_and_events_keep_their_order(store, plan_batch):
    batch = plan_batch(3)
    now = utcnow()
    store.commit([
        _block(batch, [1, 2, 3], "running"),
        _block(batch, [1, 2], "completed", finished_at=np.array([1_700_000_000_100_000, 1_700_000_000_200_000]),
               duration_s=np.array([0.1, np.nan]), outcome=['{"a": 1}', '{"b": 2}'], gate=["passed", None],
               coverage=np.array([1.0, np.nan]), reason=["completed", "completed"]),
        ItemMove(batch, 3, "queued", 1, 1, "held up", None, None, None, None, None, None, None, None,
                 "running", now, 1, "engine", "withdrawn"),
    ])
    rows = {r["seq"]: r for r in store.item_records(batch)}
    assert [rows[s]["state"] for s in (1, 2, 3)] == ["completed", "completed", "queued"]
    assert (rows[1]["gate"], rows[1]["coverage"], rows[1]["duration_s"]) == ("passed", 1.0, 0.1)
    assert (rows[2]["gate"], rows[2]["coverage"], rows[2]["duration_s"]) == (None, None, None)
    assert rows[3]["attempt_base"] == 1 and rows[3]["last_error"] == "held up"
    moves = [(e["seq"], e["from_state"], e["to_state"]) for e in store.events(batch, limit=100)
             if e["kind"] == "item_transition"]
    assert moves == [(1, "queued", "running"), (2, "queued", "running"), (3, "queued", "running"),
                     (1, "running", "completed"), (2, "running", "completed"), (3, "running", "queued")]


# ---------------------------------------------------------------------------- sizes
def test_a_failure_sends_the_chunk_size_back_to_one(store, plan_batch, script):
    batch = plan_batch(12, workers=1, max_attempts=1, fail_fast_failures=0)
    script.plan[_pids(store, batch)[4]] = ["fatal"]  # in the third chunk (items 4..7)
    sizes: list[int] = []
    engine = _inline(store, sizes)
    try:
        engine.start(batch)
        engine.drain()
        assert sizes == [1, 2, 4, 1, 2, 2]  # the last: an even share of what is left (2 items, 1 worker)
        counts = store.counts_by_state(batch)
        assert counts == {"completed": 11, "failed": 1}
    finally:
        engine.close()


def test_attempts_go_out_in_growing_chunks_and_each_is_recorded_on_its_own(store, plan_batch, script):
    batch = plan_batch(15, workers=1)
    sizes: list[int] = []
    engine = _inline(store, sizes)
    try:
        engine.start(batch)
        engine.drain()
        assert sizes == [1, 2, 4, 8]
        items = store.items(batch)
        assert items["state"].tolist() == ["completed"] * 15 and items["attempts"].tolist() == [1] * 15
        assert items["outcome"].notna().all() and (items["duration_s"] >= 0).all()
        assert [pid for pid, _ in script.calls] == items.sort_values("seq")["product_id"].tolist()  # in run order
        events = [e for e in store.events(batch, limit=1000) if e["kind"] == "item_transition"]
        assert len(events) == 30 and {(e["from_state"], e["to_state"]) for e in events} == {
            ("queued", "running"), ("running", "completed")}
        status = engine.status(batch)
        assert status["counts"]["completed"] == 15 and status["running"] == [] and status["state"] == "completed"
    finally:
        engine.close()


def test_items_found_running_when_the_process_died_run_alone(store, plan_batch, script):
    """Items 5 and 6 were running when the process died (crash 1 of 3): each goes to a worker on its own, so a
    second crash is not blamed on items that only waited in the same chunk."""
    batch = plan_batch(12, workers=1)
    store.commit([_block(batch, [5, 6], "running"), Interrupted(batch, utcnow(), 3, "engine")])
    assert store.counts_by_state(batch) == {"queued": 12}
    sizes: list[int] = []
    engine = _inline(store, sizes)
    try:
        engine.start(batch)
        engine.drain()
        assert sizes == [1, 2, 1, 1, 1, 6]  # 1 | 2 3 | 4 (5 is next: it waits) | 5 | 6 | 7..12
        assert store.counts_by_state(batch) == {"completed": 12}
    finally:
        engine.close()


def test_interrupted_for_chosen_items_leaves_the_other_running_items_alone(store, plan_batch):
    """A remote worker died during item 5 (engine/dask): only item 5 is interrupted; 6 goes on running. At the crash
    cap it fails, saying what died."""
    batch = plan_batch(8)
    store.commit([_block(batch, [5, 6], "running"),
                  Interrupted(batch, utcnow(), 2, "engine", seqs=(5,), cause="the Dask worker w1 died")])
    items = store.items(batch).set_index("seq")
    assert items.loc[5, "state"] == "queued" and items.loc[5, "crashes"] == 1 and items.loc[5, "attempt_base"] == 1
    assert items.loc[6, "state"] == "running" and items.loc[6, "crashes"] == 0
    reasons = [e["reason"] for e in store.events(batch, seq=5, limit=10)]
    assert ("interrupted: the Dask worker w1 died during attempt 1 (crash 1 of at most 2; not counted as a failure)"
            in reasons), reasons
    store.commit([_block(batch, [5], "running"), Interrupted(batch, utcnow(), 2, "engine", seqs=(5,),
                                                             cause="the Dask worker w2 died")])
    items = store.items(batch).set_index("seq")
    assert items.loc[5, "state"] == "failed" and items.loc[5, "last_error"] == "crashed the worker 2 times"
    assert items.loc[6, "state"] == "running"
    reasons = [e["reason"] for e in store.events(batch, seq=5, limit=10)]
    assert "crashed the worker 2 times: the Dask worker w2 died during each of its last 2 attempts" in reasons, reasons
    assert not [e for e in store.events(batch, seq=6, limit=10) if e["kind"] == "item_transition"
                and e["from_state"] == "running"], "item 6 was moved"


def test_max_chunk_one_hands_out_one_attempt_at_a_time(store, plan_batch, script):
    batch = plan_batch(5, workers=1)
    sizes: list[int] = []
    engine = _inline(store, sizes, max_chunk=1)
    try:
        engine.start(batch)
        engine.drain()
        assert sizes == [1] * 5 and store.counts_by_state(batch) == {"completed": 5}
    finally:
        engine.close()


# ---------------------------------------------------------------------------- held up behind a slow item
def test_items_held_up_behind_a_slow_item_are_withdrawn_and_run_again_without_losing_an_attempt(store, plan_batch,
                                                                                                  script):
    """One worker: chunks of 1, 2, 4 items; the 5th item (second of the third chunk) blocks. Past STALL_SECONDS
    the two behind it are taken back (queued, the attempt not counted) and run once the worker is free."""
    batch = plan_batch(7, workers=1, max_run_seconds=600)
    pids = _pids(store, batch)
    script.plan[pids[5]] = ["block"]
    clock = FakeClock()
    engine = BatchEngine(store, clock=clock).open()
    try:
        engine.start(batch)
        wait_until(lambda: pids[5] in script.started)
        def shown() -> dict[str, Any] | None:
            status = engine.status(batch)
            running = {r["seq"]: r for r in status["running"]}
            return status if {5, 6, 7} <= set(running) and running[5]["phase"] == "discover" else None

        status = shown() or wait_until(shown)
        running = {r["seq"]: r for r in status["running"]}  # the chunk's items are running (committed); 4 may be done
        assert set(running) <= {4, 5, 6, 7} and {r["attempt"] for r in running.values()} == {1}
        assert running[5]["phase"] == "discover" and running[5]["product_id"] == pids[5]
        assert running[6]["phase"] is None and running[6]["started_at"].tzinfo is not None
        feed = {(e["seq"], e["to_state"], e["reason"]) for e in status["recent_events"]}
        assert {(7, "running", "dispatched"), (6, "running", "dispatched"), (5, "running", "dispatched")} <= feed
        clock.advance(STALL_SECONDS)

        def withdrawn() -> list[dict[str, Any]]:
            engine.writer.flush()
            return [e for e in store.events(batch, limit=1000) if (e["reason"] or "").startswith("withdrawn")]

        moved = wait_until(withdrawn, message=lambda: f"nothing withdrawn: {engine.status(batch)}")
        assert {(e["seq"], e["from_state"], e["to_state"]) for e in moved} == {(6, "running", "queued"),
                                                                                (7, "running", "queued")}
        assert pids[6] not in script.started and pids[7] not in script.started
        script.gate.set()
        assert engine.wait_idle(20)
        items = store.items(batch)
        assert items["state"].tolist() == ["completed"] * 7
        assert (items["attempts"] - items["attempt_base"]).tolist() == [1] * 7  # the withdrawn try is not counted
        assert sorted(pid for pid, _ in script.calls) == [f"p{i:04d}" for i in range(7)]  # each ran once
    finally:
        script.gate.set()
        engine.close()


def test_items_behind_an_abandoned_attempt_are_withdrawn_and_run_on_a_fresh_pool(store, plan_batch, script):
    batch = plan_batch(7, workers=1, max_run_seconds=5, max_attempts=1, fail_fast_failures=0)
    stuck = _pids(store, batch)[5]
    script.plan[stuck] = ["ignore-cancel"]
    clock = FakeClock()
    engine = BatchEngine(store, clock=clock, abandon_grace=1.0).open()
    try:
        engine.start(batch)
        wait_until(lambda: stuck in script.started)
        clock.advance(7.0)  # past its deadline and the grace
        assert engine.wait_idle(20)
        items = store.items(batch).set_index("product_id")
        assert items.loc[stuck, "state"] == "failed" and "abandoned" in items.loc[stuck, "last_error"]
        others = items.drop(index=stuck)
        assert others["state"].tolist() == ["completed"] * 6
        assert (others["attempts"] - others["attempt_base"]).tolist() == [1] * 6
    finally:
        script.gate.set()
        engine.close()


def test_a_force_stop_fences_every_attempt_of_a_chunk_including_those_not_begun(store, plan_batch, script):
    batch = plan_batch(7, workers=1)
    pids = _pids(store, batch)
    script.plan[pids[5]] = ["block"]
    engine = BatchEngine(store, clock=FakeClock()).open()
    try:
        engine.start(batch)
        wait_until(lambda: pids[5] in script.started)
        engine.stop(batch, force=True)
        script.gate.set()
        assert engine.wait_idle(20)
        items = store.items(batch).set_index("seq")
        assert items.loc[[5, 6, 7], "state"].tolist() == ["stopped"] * 3
        assert items.loc[[1, 2, 3, 4], "state"].tolist() == ["completed"] * 4
        assert pids[6] not in script.started and pids[7] not in script.started  # cancelled before they began
        assert engine.status(batch)["running"] == []
    finally:
        script.gate.set()
        engine.close()


def test_an_attempt_deadline_starts_when_its_worker_begins_it():
    """A chunk's later attempts are not charged the time they waited behind the earlier ones."""
    clock = FakeClock()
    attempts = [Attempt(seq, 1, clock) for seq in (1, 2)]
    assert all(a.deadline is None for a in attempts)  # none until begun

    def slow_first(product: dict[str, Any], settings: Any, ctx: RunContext) -> dict[str, Any]:
        if ctx.seq == 1:
            clock.advance(9.0)  # the first runs nearly to its deadline
        ctx.cancel.raise_if_cancelled()
        return {"seq": ctx.seq, "product": product["product_id"]}

    def context(attempt: Attempt) -> RunContext:
        return RunContext("b", attempt.seq, attempt.attempt, attempt, Limits())

    chunk = Chunk(attempts, "b", [("p1", "mouse", "B", "M1", ""), ("p2", "mouse", "B", "M2", "")], context)
    assert chunk.current() is None and chunk.limit == 2

    class Settings:
        max_run_seconds = 10.0

    run_chunk(chunk, slow_first, Settings(), clock)  # type: ignore[arg-type]
    assert [r[1] for r in chunk.results] == [None, None]  # the second was not cancelled by the first's 9 s
    assert [r[0] for r in chunk.results] == [{"seq": 1, "product": "p1"}, {"seq": 2, "product": "p2"}]
    assert (attempts[0].deadline, attempts[1].deadline) == (10.0, 19.0)


def test_a_writer_group_counts_a_move_block_as_the_items_it_moves(store, plan_batch, monkeypatch):
    import engine.run.writer as writer_module
    from engine.run.writer import GroupCommitWriter

    batch = plan_batch(24)
    monkeypatch.setattr(writer_module, "MAX_GROUP", 10)
    writer = GroupCommitWriter(store)
    try:
        for first in (1, 9, 17):  # three blocks of 8 items, queued before the writer starts
            writer.post((_block(batch, list(range(first, first + 8)), "running"),))
        writer.start()
        writer.flush()
        assert writer.commits == 2  # 8 + 8 reach the limit of 10 changes; the third block is the next commit
        assert store.counts_by_state(batch) == {"running": 24}
    finally:
        writer.close()


def test_a_chunk_whose_worker_gives_back_is_withdrawn_only_from_where_the_worker_said():
    """A remote worker's "began" events reach the engine late: a chunk of such a worker (``gives_back``) is never
    judged stalled by the engine's clock, only by the worker's word, and from the index the worker named."""
    clock = FakeClock()
    attempts = [Attempt(seq, 1, clock) for seq in (1, 2, 3, 4)]
    local = Chunk(list(attempts), "b", [("p",)] * 4, lambda a: None)  # type: ignore[arg-type, return-value]
    remote = Chunk(list(attempts), "b", [("p",)] * 4, lambda a: None, gives_back=True)  # type: ignore[arg-type, return-value]
    for chunk in (local, remote):
        chunk.started, chunk.began_clock = 1, 0.0
    assert local.stalled(STALL_SECONDS) and not remote.stalled(STALL_SECONDS + 100)
    remote.given_back = 3  # the worker began up to index 2 (those "began" events have not arrived); none from 3 on
    assert remote.stalled(0.0)
    assert [a.seq for a in remote.withdraw(remote.given_back)] == [4] and remote.limit == 3
    assert not remote.stalled(0.0)
    assert [a.seq for a in local.withdraw()] == [2, 3, 4] and local.limit == 1

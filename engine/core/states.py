"""Item and batch states, and the one table of moves between them.

The enums are ``str`` subclasses so they go into SQL and JSON unchanged. Every state change
in the engine goes through :func:`check_item_move` or :func:`check_batch_move`; a move the
table does not list raises :class:`~engine.core.errors.IllegalTransition` before anything is written.
"""

from __future__ import annotations

from enum import Enum

from engine.core.errors import IllegalTransition


class ItemState(str, Enum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    STOPPED = "stopped"

    def __str__(self) -> str:
        return self.value


class BatchState(str, Enum):
    PLANNED = "planned"
    QUEUED = "queued"  # started, waiting for the server's worker budget (a place in the batch queue)
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"

    def __str__(self) -> str:
        return self.value


# Items that will not move again unless an operator asks: a batch whose items are all here is done.
TERMINAL_ITEM_STATES = frozenset({ItemState.COMPLETED, ItemState.FAILED, ItemState.SKIPPED, ItemState.STOPPED})
# Items an operator may send back to the queue (retry failed, resume a stopped batch).
REQUEUEABLE_ITEM_STATES = frozenset({ItemState.FAILED, ItemState.STOPPED})
# Batches the engine is working on or may work on again without a new plan: restored after a restart.
ACTIVE_BATCH_STATES = frozenset({BatchState.QUEUED, BatchState.RUNNING, BatchState.PAUSED, BatchState.STOPPING})
# Batches that can be started or resumed by the operator.
STARTABLE_BATCH_STATES = frozenset({BatchState.PLANNED, BatchState.PAUSED, BatchState.STOPPED})
# Batches a stop (graceful or force) applies to.
STOPPABLE_BATCH_STATES = frozenset({BatchState.QUEUED, BatchState.RUNNING, BatchState.PAUSED, BatchState.STOPPING})
# Batches whose dispatcher may still start or finish items: while one is, no other batch is loaded.
BUSY_BATCH_STATES = frozenset({BatchState.RUNNING, BatchState.STOPPING})
# Batches that have ended: the move into one of these sets the batch's finished_at.
FINISHED_BATCH_STATES = frozenset({BatchState.COMPLETED, BatchState.STOPPED})
# Items that end without a (further) run: the move into one of these sets the item's finished_at.
SET_ASIDE_ITEM_STATES = frozenset({ItemState.STOPPED, ItemState.SKIPPED})

# The phases of one product run, in order: a runner reports the one it is in (RunContext.phase).
PHASES = ("discover", "fetch", "extract", "reconcile", "finalize")

I = ItemState  # noqa: E741 (a one-letter alias keeps the transition table readable)
B = BatchState

ITEM_MOVES: dict[ItemState, frozenset[ItemState]] = {
    I.QUEUED: frozenset({I.RUNNING, I.SKIPPED, I.STOPPED}),
    I.RUNNING: frozenset({I.COMPLETED, I.QUEUED, I.FAILED, I.STOPPED}),
    I.COMPLETED: frozenset(),
    I.FAILED: frozenset({I.QUEUED}),
    I.SKIPPED: frozenset(),
    I.STOPPED: frozenset({I.QUEUED}),
}

BATCH_MOVES: dict[BatchState, frozenset[BatchState]] = {
    B.PLANNED: frozenset({B.QUEUED, B.RUNNING}),
    # A queued batch waits for capacity: admitted it runs; paused or stopped it leaves the queue.
    B.QUEUED: frozenset({B.RUNNING, B.PAUSED, B.STOPPED}),
    B.RUNNING: frozenset({B.PAUSED, B.STOPPING, B.STOPPED, B.COMPLETED}),
    B.PAUSED: frozenset({B.QUEUED, B.RUNNING, B.STOPPING, B.STOPPED}),
    B.STOPPING: frozenset({B.STOPPED}),
    B.STOPPED: frozenset({B.QUEUED, B.RUNNING}),
    # A completed batch runs again only when an operator re-queues failed items (retry failed).
    B.COMPLETED: frozenset({B.QUEUED, B.RUNNING}),
}

del I, B


def check_item_move(current: ItemState | str, target: ItemState | str, *, what: str = "item") -> ItemState:
    """Return ``target`` as an ItemState if the table allows ``current -> target``, else raise."""
    cur, tgt = ItemState(current), ItemState(target)
    if tgt not in ITEM_MOVES[cur]:
        allowed = ", ".join(sorted(s.value for s in ITEM_MOVES[cur])) or "nothing (it is final)"
        raise IllegalTransition(f"{what} is {cur.value}; it cannot become {tgt.value} (from {cur.value} it can become: {allowed})")
    return tgt


def check_batch_move(current: BatchState | str, target: BatchState | str, *, batch_run_id: str = "") -> BatchState:
    """Return ``target`` as a BatchState if the table allows ``current -> target``, else raise."""
    cur, tgt = BatchState(current), BatchState(target)
    if tgt not in BATCH_MOVES[cur]:
        name = f"batch {batch_run_id}" if batch_run_id else "the batch"
        allowed = ", ".join(sorted(s.value for s in BATCH_MOVES[cur])) or "nothing"
        raise IllegalTransition(f"{name} is {cur.value}; it cannot become {tgt.value} (from {cur.value} it can become: {allowed})")
    return tgt

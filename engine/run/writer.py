"""Group commit: every change the engine makes reaches the store in order, many per transaction.

DuckDB costs about a millisecond per statement whatever it does, so one transaction per
transition would cap the engine at a few hundred transitions a second. The writer thread
takes everything queued since its last commit, writes it as one transaction of set-based
statements, and only then tells the listeners (the live status) and the waiting callers:
nobody observes a change before it is durable.

Two kinds of failure, two answers (DESIGN §5: "a value the store cannot hold fails that item, never the writer"):

- **The store refuses a change** (``StoreRejected``: a value it cannot hold). The group is committed
  again entry by entry; an entry refused on its own is replaced by what ``fallback`` makes of it (the
  engine fails that item, saying why) or, failing that, dropped and logged. Every other entry commits.
- **The store cannot write** (``StoreUnavailable``: disk full, read-only directory). Nothing is lost:
  posted changes (facts that already happened, such as a finished product's outcome) wait in order in a
  backlog that is retried every ``retry_seconds`` and before every new write; awaited writes (operator
  actions) fail at once with the cause, so the caller can undo what it did in memory and answer 503.
  ``degraded`` holds the cause until a write succeeds again.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import NamedTuple

from engine.core.errors import StoreRejected, StoreUnavailable
from engine.store import Change, MoveBlock, OutcomeRecord, Store

log = logging.getLogger("indexlab.writer")
MAX_GROUP = 20_000  # changes per transaction at most (a move block counts its items): bounds the latency of one commit
RETRY_SECONDS = 1.0  # while the store cannot write, the backlog is retried this often

Listener = Callable[[Sequence[Change]], None]
Fallback = Callable[[tuple[Change, ...], StoreRejected], tuple[Change, ...] | None]


class _Awaited(NamedTuple):
    """Submitted changes, and the future their submitter waits on."""

    changes: tuple[Change, ...]
    future: Future[None]


# A queued group: posted changes as the bare tuple of them (the engine posts two groups per item,
# thousands a second, and whatever waits in the queue when the cyclic GC runs a young collection
# is promoted to its old generation: one object per group, not three), or an _Awaited.
_Entry = tuple[Change, ...] | _Awaited


def _changes(entry: _Entry) -> tuple[Change, ...]:
    return entry.changes if isinstance(entry, _Awaited) else entry


def _weight(entry: _Entry) -> int:
    """Changes in an entry, a move block counted as the items it moves."""
    return sum(c.size if type(c) is MoveBlock else 1 for c in _changes(entry))


def item_by_item(changes: tuple[Change, ...]) -> list[tuple[Change, ...]] | None:
    """Posted changes holding move blocks, as one entry per item (its move, and its outcome record if any) and
    one per other change, in order; None when they hold no move block (nothing to split)."""
    if not any(type(c) is MoveBlock for c in changes):
        return None
    parts: list[list[Change]] = []
    items: dict[tuple[str, int], list[Change]] = {}
    for change in changes:
        if type(change) is MoveBlock:
            for move in change.moves():
                part: list[Change] = [move]
                items[(move.batch_run_id, move.seq)] = part
                parts.append(part)
        elif type(change) is OutcomeRecord and (change.batch_run_id, change.seq) in items:
            items[(change.batch_run_id, change.seq)].append(change)
        else:
            parts.append([change])
    return [tuple(part) for part in parts]


class GroupCommitWriter:
    """Commits changes in submission order, from its thread once started (``start()``). ``threaded=False``
    commits in the caller (deterministic tests)."""

    def __init__(self, store: Store, *, threaded: bool = True, fallback: Fallback | None = None,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.store = store
        self.threaded = threaded
        self.fallback = fallback
        self.retry_seconds = retry_seconds
        self.degraded: str | None = None  # why the store cannot write, while it cannot
        self.commits = 0  # transactions written, for benchmarks and tests
        self.rejected = 0  # entries the store refused on their own
        self._listeners: list[Listener] = []
        self._backlog: list[tuple[Change, ...]] = []  # posted changes waiting for the store to write again
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._sync_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the writer thread (``threaded``); until then, queued changes wait. Idempotent."""
        if self.threaded and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="indexlab-writer", daemon=True)
            self._thread.start()

    def add_listener(self, listener: Listener) -> None:
        """Called with each committed group, in commit order, from the writer thread."""
        self._listeners.append(listener)

    @property
    def backlog(self) -> int:
        """Posted changes not yet written because the store cannot write."""
        return sum(len(entry) for entry in self._backlog)

    def submit(self, changes: Sequence[Change]) -> Future[None]:
        """Queue changes; the future resolves once they are committed, or carries why they were not."""
        entry = _Awaited(tuple(changes), Future())
        self._enqueue(entry)
        return entry.future

    def post(self, changes: Sequence[Change]) -> None:
        """Queue changes without a future: the engine's own hot path. They are committed in order, however
        long the store takes to be writable again."""
        self._enqueue(tuple(changes))  # a tuple is not copied

    def write(self, changes: Sequence[Change], timeout: float | None = 30.0) -> None:
        """Submit and wait until committed: for operator actions that must be durable before they return.

        Raises StoreUnavailable or StoreRejected: then nothing of ``changes`` was written.
        """
        self.submit(changes).result(timeout=timeout)

    def flush(self, timeout: float | None = 30.0) -> None:
        self.write([], timeout=timeout)

    def close(self, timeout: float = 30.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)
        if self._backlog:
            log.error("closing with %d changes the store could not write (%s): the next start re-queues "
                      "their items", self.backlog, self.degraded)

    # ------------------------------------------------------------------ internals
    def _enqueue(self, entry: _Entry) -> None:
        if self.threaded:
            self._queue.put(entry)
            return
        with self._sync_lock:
            self._write_group([entry])

    def _loop(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.retry_seconds if self.degraded is not None else None)
            except queue.Empty:
                self._write_group([])  # retry the backlog, or probe whether the store writes again
                continue
            if first is None:
                self._write_group([])
                return
            group = [first]
            size = _weight(first)
            while size < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._write_group(group)
                    return
                group.append(nxt)
                size += _weight(nxt)
            self._write_group(group)

    def _write_group(self, group: list[_Entry]) -> None:
        """The backlog, then ``group``: in one transaction if the store takes it, else as much as it takes."""
        entries: list[_Entry] = [*self._backlog, *group]
        self._backlog = []
        if not entries:
            if self.degraded is not None and self.store.probe() is None:
                self._done([])
            return
        try:
            self._commit([c for entry in entries for c in _changes(entry)])
        except StoreRejected:
            self._write_one_by_one(entries)
            return
        except StoreUnavailable as exc:
            self._hold(entries, exc)
            return
        except BaseException as exc:  # a bug, not a store fault: say so and keep the writer alive
            log.exception("store commit failed unexpectedly")
            self._hold(entries, StoreUnavailable(f"the store failed unexpectedly: {type(exc).__name__}: {exc}"))
            return
        self._done(entries)

    def _write_one_by_one(self, entries: list[_Entry]) -> None:
        """A group the store refused: every entry alone, in order; a refused entry holding move blocks is tried item
        by item; a refused entry is replaced or dropped."""
        entries, at = list(entries), 0
        while at < len(entries):
            entry = entries[at]
            try:
                self._commit(_changes(entry))
            except StoreRejected as exc:
                parts = None if isinstance(entry, _Awaited) else item_by_item(entry)
                if parts is not None:
                    entries[at:at + 1] = parts
                    continue
                self._reject(entry, exc)
                at += 1
                continue
            except StoreUnavailable as exc:
                self._hold(entries[at:], exc)
                return
            self._done([entry])
            at += 1

    def _reject(self, entry: _Entry, error: StoreRejected) -> None:
        self.rejected += 1
        if isinstance(entry, _Awaited):  # an operator action: its caller undoes it and reports the error
            entry.future.set_exception(error)
            return
        replacement = self.fallback(entry, error) if self.fallback is not None else None
        if replacement:
            try:
                self._commit(replacement)
                log.warning("the store refused a change (%s); wrote its replacement instead", error)
                self._done([replacement])
                return
            except StoreRejected:
                pass
            except StoreUnavailable as exc:
                self._hold([replacement], exc)
                return
        log.error("the store refused a change and it was dropped (%s): %r", error, entry)

    def _hold(self, entries: list[_Entry], error: StoreUnavailable) -> None:
        """Keep posted entries for later, fail awaited ones now: their callers undo what they did."""
        if self.degraded is None:
            log.error("the store cannot write: %s; holding changes until it can", error.message)
        self.degraded = error.message
        for entry in entries:
            if isinstance(entry, _Awaited):
                if entry.changes:
                    entry.future.set_exception(error)
                elif not self._backlog:  # a flush with nothing held before it is done
                    entry.future.set_result(None)
                else:
                    entry.future.set_exception(error)
            else:
                self._backlog.append(entry)

    def _commit(self, changes: Sequence[Change]) -> None:
        if changes:
            self.store.commit(changes)
            self.commits += 1

    def _done(self, entries: list[_Entry]) -> None:
        if self.degraded is not None:
            log.warning("the store writes again (it could not: %s)", self.degraded)
            self.degraded = None
        changes = [c for entry in entries for c in _changes(entry)]
        if changes:
            for listener in self._listeners:
                try:
                    listener(changes)
                except Exception:  # a broken listener must not lose the commit acknowledgements
                    log.exception("commit listener failed")
        for entry in entries:
            if isinstance(entry, _Awaited):
                entry.future.set_result(None)

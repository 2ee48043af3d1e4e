"""Group commit: every change the engine makes reaches the store in order, many per transaction.

DuckDB costs about a millisecond per statement whatever it does, so one transaction per
transition would cap the engine at a few hundred transitions a second. The writer thread
takes everything queued since its last commit, writes it as one transaction of set-based
statements, and only then tells the listeners (the live status) and the waiting callers:
nobody observes a change before it is durable.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import NamedTuple

from engine.errors import StoreError
from engine.store import Change, Store

log = logging.getLogger("indexlab.writer")
MAX_GROUP = 20_000  # changes per transaction at most: bounds the latency of one commit

Listener = Callable[[Sequence[Change]], None]


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


class GroupCommitWriter:
    """Commits changes in submission order. ``threaded=False`` commits in the caller (deterministic tests)."""

    def __init__(self, store: Store, *, threaded: bool = True) -> None:
        self.store = store
        self.threaded = threaded
        self.error: BaseException | None = None
        self.commits = 0  # transactions written, for benchmarks and tests
        self._listeners: list[Listener] = []
        self._queue: queue.SimpleQueue[_Entry | None] = queue.SimpleQueue()
        self._sync_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        if threaded:
            self._thread = threading.Thread(target=self._loop, name="indexlab-writer", daemon=True)
            self._thread.start()

    def add_listener(self, listener: Listener) -> None:
        """Called with each committed group, in commit order, from the writer thread."""
        self._listeners.append(listener)

    def submit(self, changes: Sequence[Change]) -> Future[None]:
        """Queue changes; the future resolves once they are committed (or carries the store error)."""
        future: Future[None] = Future()
        if self.error is not None:
            future.set_exception(StoreError(f"the store writer stopped after an error: {self.error}"))
            return future
        entry = _Awaited(tuple(changes), future)
        if not self.threaded:
            with self._sync_lock:
                self._commit([entry])
            return future
        self._queue.put(entry)
        return future

    def post(self, changes: Sequence[Change]) -> None:
        """Queue changes without a future: the engine's own hot path (errors surface as ``self.error``)."""
        entry = tuple(changes)  # a tuple is not copied
        if not self.threaded:
            with self._sync_lock:
                self._commit([entry])
            return
        self._queue.put(entry)

    def write(self, changes: Sequence[Change], timeout: float | None = 30.0) -> None:
        """Submit and wait until committed: for operator actions that must be durable before they return."""
        self.submit(changes).result(timeout=timeout)

    def flush(self, timeout: float | None = 30.0) -> None:
        self.write([], timeout=timeout)

    def close(self, timeout: float = 30.0) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout)

    # ------------------------------------------------------------------ internals
    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group = [first]
            size = len(_changes(first))
            while size < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._commit(group)
                    return
                group.append(nxt)
                size += len(_changes(nxt))
            self._commit(group)

    def _commit(self, group: list[_Entry]) -> None:
        changes = [c for entry in group for c in _changes(entry)]
        futures = [entry.future for entry in group if isinstance(entry, _Awaited)]
        try:
            if self.error is not None:
                raise StoreError(f"the store writer stopped after an error: {self.error}")
            if changes:
                self.store.commit(changes)
                self.commits += 1
        except BaseException as exc:  # the engine halts dispatch when the store cannot write
            if self.error is None:
                log.exception("store commit failed; the engine stops writing")
                self.error = exc
            for future in futures:
                future.set_exception(exc)
            return
        if changes:
            for listener in self._listeners:
                try:
                    listener(changes)
                except Exception:  # a broken listener must not lose the commit acknowledgements
                    log.exception("commit listener failed")
        for future in futures:
            future.set_result(None)

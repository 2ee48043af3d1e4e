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

from engine.errors import StoreError
from engine.store import Change, Store

log = logging.getLogger("indexlab.writer")
MAX_GROUP = 20_000  # changes per transaction at most: bounds the latency of one commit

Listener = Callable[[Sequence[Change]], None]


class GroupCommitWriter:
    """Commits changes in submission order. ``threaded=False`` commits in the caller (deterministic tests)."""

    def __init__(self, store: Store, *, threaded: bool = True) -> None:
        self.store = store
        self.threaded = threaded
        self.error: BaseException | None = None
        self.commits = 0  # transactions written, for benchmarks and tests
        self._listeners: list[Listener] = []
        self._queue: queue.SimpleQueue[tuple[list[Change], Future[None] | None] | None] = queue.SimpleQueue()
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
        if not self.threaded:
            with self._sync_lock:
                self._commit([(list(changes), future)])
            return future
        self._queue.put((list(changes), future))
        return future

    def post(self, changes: Sequence[Change]) -> None:
        """Queue changes without a future: the engine's own hot path (errors surface as ``self.error``)."""
        if not self.threaded:
            with self._sync_lock:
                self._commit([(list(changes), None)])
            return
        self._queue.put((list(changes), None))

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
            size = len(first[0])
            while size < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._commit(group)
                    return
                group.append(nxt)
                size += len(nxt[0])
            self._commit(group)

    def _commit(self, group: list[tuple[list[Change], Future[None] | None]]) -> None:
        changes = [c for part, _ in group for c in part]
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
            for _, future in group:
                if future is not None:
                    future.set_exception(exc)
            return
        if changes:
            for listener in self._listeners:
                try:
                    listener(changes)
                except Exception:  # a broken listener must not lose the commit acknowledgements
                    log.exception("commit listener failed")
        for _, future in group:
            if future is not None:
                future.set_result(None)

"""The worker's side of a chunk on a Dask cluster: runs the attempts a control plane sent, in this worker process.

A task gets a ``ChunkSpec`` (plain data: the runner's name, the settings snapshot, the attempts and their products)
and returns each attempt's end as plain data; it never touches the store. On the way it tells the control plane,
through the cluster's structured events (``Worker.log_event`` on ``TOPIC``), when each attempt begins (with this
process's pid and host: a job's log shows where it ran), its phase moves and its log lines.

Cancellation comes the other way through a Dask ``Variable`` named after the chunk, which the control plane writes
when an attempt is force-stopped, passes its deadline on the control plane's clock, or is withdrawn, then sets the
chunk's Dask ``Event``. Only an attempt that runs longer than ``WATCH_AFTER_S`` starts a watcher thread, which waits
on the event (a long poll at the scheduler), so fast attempts cost no scheduler round trip. One sentinel thread per
worker process notices such attempts (a timer per attempt cost more than the attempts of a fast runner). Each attempt also has
its own deadline here (``max_run_seconds`` from when it begins): it is cancelled on time even when the control
plane cannot reach the worker.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from engine.core.errors import IndexLabError
from engine.core.limits import Cancelled, CancelToken, DeadlineExceeded, Limits
from engine.core.settings import BatchSettings
from engine.core.text import storable
from engine.run.chunks import STALL_SECONDS
from engine.runners.base import RunContext, RunnerError

log = logging.getLogger("indexlab.dask")

TOPIC = "indexlab"  # the cluster event topic of every chunk's progress
WATCH_AFTER_S = 0.1  # an attempt running this long starts polling its chunk's cancel variable
SENTINEL_S = 0.05  # how often the sentinel looks at the attempts running in this process, while any runs
WAIT_S = 2.0  # a watcher's long poll on its chunk's cancel event
POLL_S = 0.2  # how often a watcher reads the cancel variable once the event is set


@dataclass(frozen=True, slots=True)
class ChunkSpec:
    """What a worker needs to run a chunk: plain, picklable data (no engine objects)."""

    key: str  # the chunk's name: its Dask key, its cancel variable, the events' tag
    batch_run_id: str
    runner: str  # resolved by name in the worker process (built-in or an ``indexlab.runners`` plugin)
    settings: BatchSettings
    attempts: tuple[tuple[int, int], ...]  # (seq, attempt number)
    products: tuple[tuple[str | None, ...], ...]  # each attempt's product, in PRODUCT_KEYS order
    limits: Any = None  # the cluster's limiter handle (engine/dask/limits.py), None: this process's own


# One attempt's end as it travels back: outcome, failure, wall clock began and ended, seconds it ran.
# The failure is plain data too: (kind, message, retryable), kind one of "error", "cancelled", "deadline".
RemoteResult = tuple[Any, tuple[str, str, bool] | None, float, float, float]


def cancel_name(key: str) -> str:
    return f"indexlab-cancel-{key}"


def failure_of(exc: BaseException) -> tuple[str, str, bool]:
    """An exception as plain data: many do not survive pickling with their attributes (``retryable``)."""
    kind = "deadline" if isinstance(exc, DeadlineExceeded) else "cancelled" if isinstance(exc, Cancelled) else "error"
    text = exc.message if isinstance(exc, IndexLabError) else f"{type(exc).__name__}: {exc}"
    return kind, storable(text)[:4000], bool(getattr(exc, "retryable", True))


def error_of(failure: tuple[str, str, bool]) -> BaseException:
    """The control plane's exception for a failure that came back as plain data."""
    kind, message, retryable = failure
    if kind == "deadline":
        return DeadlineExceeded(message)
    if kind == "cancelled":
        return Cancelled(message)
    return RunnerError(message, retryable=retryable)


class _Watcher:
    """Polls the chunk's cancel variable while an attempt runs long; applies what the control plane asked."""

    def __init__(self, key: str, client: Any = None, size: int = 0, send: Any = None) -> None:
        self.key = key
        self.client = client  # the worker's client, got in the task's thread (get_client() knows no other)
        self.size = size  # attempts in the chunk
        self.send = send  # sends an event to the control plane (the worker's log_event: any thread may call it)
        self.limit: int | None = None  # begin no attempt at or past this index (withdrawn)
        self.cancelled: dict[int, str] = {}  # attempt index -> reason
        self.current: tuple[int, CancelToken] | None = None
        self.began = 0.0  # monotonic: when the current attempt began
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None
        self._version = -1

    def begin(self, at: int, token: CancelToken, began: float) -> bool:
        """Begin attempt ``at``, unless the chunk may begin no more (withdrawn or given back): then False."""
        with self._lock:
            if self.limit is not None and at >= self.limit:
                return False
            self.current, self.began = (at, token), began
            reason = self.cancelled.get(at)
        if reason is not None:
            token.set(reason)
        return True

    def give_back(self, now: float) -> int | None:
        """The attempt running now has run STALL_SECONDS or more: the chunk begins none after it, and the control plane
        is told from which index on to queue them again (for other workers). Decided here, under the lock ``begin``
        takes, so an attempt given back is never begun. Returns that index, None when there is nothing to give back."""
        with self._lock:
            if self.current is None or now - self.began < STALL_SECONDS:
                return None
            after = self.current[0] + 1
            if after >= (self.size if self.limit is None else min(self.limit, self.size)):
                return None
            self.limit = after
        if self.send is not None:
            self.send(TOPIC, ["gave_back", self.key, after])
        return after

    def end(self) -> None:
        with self._lock:
            self.current = None

    def runs_long(self, now: float) -> bool:
        """Whether an attempt is running and has run WATCH_AFTER_S or more."""
        with self._lock:
            return self.current is not None and now - self.began >= WATCH_AFTER_S

    @property
    def watching(self) -> bool:
        return self._thread is not None

    def long_running(self) -> None:
        """Called by the sentinel for an attempt that runs past WATCH_AFTER_S: poll from now until the chunk ends."""
        with self._lock:  # never once the chunk closed (close() reads _thread under the same lock)
            if self._thread is not None or self._done.is_set():
                return
            self._thread = threading.Thread(target=self._poll, name=f"indexlab-watch-{self.key}", daemon=True)
            self._thread.start()

    def _poll(self) -> None:
        """Wait on the chunk's cancel event (a long poll at the scheduler: no call while nothing happens); once it is
        set, read the variable the control plane wrote before setting it, and read it again every POLL_S."""
        from distributed import Event, Variable

        try:
            event = Event(cancel_name(self.key), client=self.client)
            variable = Variable(cancel_name(self.key), client=self.client)
            while not self._done.is_set() and not event.wait(timeout=WAIT_S):
                pass
            while not self._done.is_set():
                payload = variable.get(timeout=POLL_S * 5)
                if payload is not None and payload.get("v", 0) != self._version:
                    self._apply(payload)
                self._done.wait(POLL_S)
        except Exception:  # the scheduler is away: the attempt still ends at its own deadline
            if not self._done.is_set():
                log.warning("chunk %s stopped watching for cancellation; its attempts end at their deadlines",
                            self.key, exc_info=True)

    def _apply(self, payload: dict[str, Any]) -> None:
        with self._lock:
            self._version = payload.get("v", 0)
            limit = payload.get("limit")
            if limit is not None:
                self.limit = limit if self.limit is None else min(limit, self.limit)
            self.cancelled.update({int(at): str(reason) for at, reason in payload.get("cancel", {}).items()})
            current = self.current
        if current is not None and current[0] in self.cancelled:
            current[1].set(self.cancelled[current[0]])

    def close(self) -> bool:
        """The chunk ended. A watcher waiting on the cancel event is released (the task's thread sets the event
        before its result leaves: the control plane then removes it). Returns whether one watched."""
        with self._lock:
            self._done.set()
            if self._thread is None:
                return False
        try:
            from distributed import Event

            Event(cancel_name(self.key), client=self.client).set()
        except Exception:
            pass
        return True


class _Sentinel:
    """One thread per worker process that starts the watcher of each chunk whose current attempt runs long, and has
    a chunk held up behind a slow attempt give back the rest. It looks every SENTINEL_S while chunks run here and
    waits, idle, while none does."""

    def __init__(self) -> None:
        self._chunks: set[_Watcher] = set()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, watcher: _Watcher) -> None:
        with self._changed:
            self._chunks.add(watcher)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="indexlab-sentinel", daemon=True)
                self._thread.start()
            self._changed.notify()

    def discard(self, watcher: _Watcher) -> None:
        with self._changed:
            self._chunks.discard(watcher)

    def _loop(self) -> None:
        while True:
            with self._changed:
                while not self._chunks:
                    self._changed.wait()
                chunks = list(self._chunks)
            now = time.monotonic()
            for watcher in chunks:
                try:
                    if not watcher.watching and watcher.runs_long(now):
                        watcher.long_running()
                    watcher.give_back(now)
                except Exception:  # one chunk's trouble must not end the sentinel of every chunk here
                    log.exception("the sentinel could not look after chunk %s", watcher.key)
            with self._changed:
                self._changed.wait(SENTINEL_S)


_SENTINEL = _Sentinel()


def run_remote_chunk(spec: ChunkSpec) -> tuple[list[RemoteResult], bool]:
    """A Dask task: run the chunk's attempts in order here; return each one's end (plain data), and whether the chunk
    used its cancel event (the control plane then removes it from the scheduler)."""
    from distributed import get_client, get_worker

    from engine.run.items import PRODUCT_KEYS
    from engine.runners import resolve

    worker = get_worker()
    send = worker.log_event
    where = (os.getpid(), socket.gethostname(), worker.address)
    limits = _limits(spec)
    watcher = _Watcher(spec.key, get_client(), len(spec.attempts), send)
    results: list[RemoteResult] = []
    settings, key = spec.settings, spec.key
    try:
        runner = resolve(spec.runner)
    except Exception as exc:
        now = time.time()
        return [(None, failure_of(exc), now, now, 0.0)] * len(spec.attempts), False
    _SENTINEL.add(watcher)
    try:
        for at, ((seq, number), product) in enumerate(zip(spec.attempts, spec.products)):
            began = time.monotonic()
            token = CancelToken(deadline=began + settings.max_run_seconds)
            if not watcher.begin(at, token, began):  # withdrawn or given back: the control plane queued it again
                break
            send(TOPIC, ["began", key, at, *where])
            ctx = RunContext(spec.batch_run_id, seq, number, token, limits,
                             on_phase=lambda name, at=at: send(TOPIC, ["phase", key, at, str(name)]),
                             on_log=lambda level, message, at=at: send(TOPIC, ["log", key, at, str(level), str(message)]))
            began_wall = time.time()
            try:
                token.raise_if_cancelled()
                outcome = runner(dict(zip(PRODUCT_KEYS, product)), settings, ctx)
            except BaseException as exc:  # this attempt's failure, carried back as data
                results.append((None, failure_of(exc), began_wall, time.time(), time.monotonic() - began))
            else:
                results.append((outcome, None, began_wall, time.time(), time.monotonic() - began))
            finally:
                watcher.end()
    finally:
        _SENTINEL.discard(watcher)
        watched = watcher.close()
    return results, watched


def _limits(spec: ChunkSpec) -> Limits:
    """The limits this chunk's runner sees: the cluster's one limiter when the control plane offered one."""
    if spec.limits is None:
        return _LOCAL_LIMITS
    from engine.dask.limits import ClusterLimits

    return ClusterLimits(spec.limits)  # type: ignore[return-value]


_LOCAL_LIMITS = Limits()

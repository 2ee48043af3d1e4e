"""The Dask executor's relay thread (part of DaskCluster, engine/dask/executor.py): the workers' events onto the chunks
the engine watches, and the engine's cancellations out to the workers.

The cluster's events ("began", "gave_back", "phase", "log" from engine/dask/worker.py) arrive on the Dask client's event loop,
which only queues them: the relay thread applies them, since applying takes the engine's lock. Every ``RELAY_S`` it
also looks at each chunk in flight for attempts whose cancel token the engine set (force stop, a deadline) or that it
withdrew, and writes them to the chunk's Dask ``Variable``, then sets its ``Event``.
"""

from __future__ import annotations

import logging
import queue
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from engine.core.limits import Clock
from engine.dask.worker import cancel_name
from engine.run.chunks import Chunk

log = logging.getLogger("indexlab.dask")

RELAY_S = 0.1  # how often cancellations are looked for and sent


@dataclass(eq=False)
class Remote:
    """A chunk running on the cluster, as the control plane follows it."""

    key: str
    chunk: Chunk
    clock: Clock
    max_run_seconds: float
    local: Future
    contexts: dict[int, Any] = field(default_factory=dict)  # attempt index -> its RunContext (made at "began")
    where: tuple[Any, ...] | None = None  # (pid, host, worker address) of the attempt running now
    sent: dict[int, str] = field(default_factory=dict)  # cancellations sent: attempt index -> reason
    sent_limit: int | None = None
    version: int = 0  # of the cancellations sent: 0, none (its cancel variable and event were never set)
    watched: bool = False  # its worker waited on its cancel event


class ChunkRelay:
    """The relay thread's work, over ``self._inflight`` (chunk key -> Remote) under ``self._lock``."""

    def _relay_loop(self) -> None:
        while not self._closed.is_set():
            try:
                event = self._events.get(timeout=RELAY_S)
            except queue.Empty:
                event = None
            while event is not None:
                self._apply(event)
                try:
                    event = self._events.get_nowait()
                except queue.Empty:
                    event = None
            self._send_cancellations()
            self._apply_limits()

    def _apply(self, event: Any) -> None:
        """One worker event: ``(scheduler time, [kind, key, index, ...])``."""
        try:
            kind, key, at, *rest = event[1]
        except (TypeError, ValueError, IndexError):
            return
        with self._lock:
            remote = self._inflight.get(key)
        if remote is None:  # its chunk ended already (events may arrive after the result)
            return
        chunk = remote.chunk
        if not 0 <= at < len(chunk.attempts):
            return
        attempt = chunk.attempts[at]
        try:
            if kind == "began":
                remote.where = tuple(rest[:3])
                with chunk.lock:
                    if at + 1 > chunk.started and at < chunk.limit:
                        chunk.started = at + 1
                        chunk.began_clock = began = remote.clock.monotonic()
                        attempt.deadline = began + remote.max_run_seconds
                context = remote.contexts[at] = chunk.context(attempt)
                if at == 0:  # once a chunk: slow jobs run one to a chunk, so each says where it ran
                    pid, host, address = rest[:3]
                    more = f" with the {len(chunk.attempts) - 1} after it" if len(chunk.attempts) > 1 else ""
                    context.log(f"running on Dask worker {address} (pid {pid}, host {host}){more}", "info")
            elif kind == "gave_back":  # held up behind a slow attempt, the worker begins none from ``at`` on
                with chunk.lock:
                    if chunk.given_back is None or at < chunk.given_back:
                        chunk.given_back = at
                remote.sent_limit = at  # it knows: the engine's withdrawal of them needs no cancellation sent
            elif kind == "phase":
                self._context(remote, at).on_phase(str(rest[0]))
            elif kind == "log":
                self._context(remote, at).on_log(str(rest[0]), str(rest[1])[:4000])
        except Exception:  # one bad event must not stop the relay
            log.exception("could not apply the cluster event %r", event[1][:3])

    @staticmethod
    def _context(remote: Remote, at: int) -> Any:
        context = remote.contexts.get(at)
        if context is None:
            context = remote.contexts[at] = remote.chunk.context(remote.chunk.attempts[at])
        return context

    def _send_cancellations(self) -> None:
        with self._lock:
            remotes = list(self._inflight.values())
        for remote in remotes:
            chunk = remote.chunk
            with chunk.lock:
                first = max(0, chunk.started - 1)
                limit = chunk.limit
            cancel = {at: a.reason or "cancelled" for at, a in enumerate(chunk.attempts[first:], first)
                      if a.is_set() and at not in remote.sent}
            if not cancel and (limit == len(chunk.attempts) or limit == remote.sent_limit):
                continue
            remote.sent.update(cancel)
            remote.sent_limit = limit
            remote.version += 1
            payload = {"v": remote.version, "cancel": {str(at): why for at, why in remote.sent.items()}, "limit": limit}
            try:
                from distributed import Event, Variable

                Variable(cancel_name(remote.key), client=self.client).set(payload, timeout=5)
                Event(cancel_name(remote.key), client=self.client).set()
            except Exception as exc:  # the worker still ends the attempt at its own deadline
                log.warning("could not send the cancellation of chunk %s: %s", remote.key, exc)

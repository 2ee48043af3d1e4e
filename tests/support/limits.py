"""Helpers for the limiter tests: a jitter that always picks the ceiling, a clock that says when it is slept on,
and a thread that keeps what its function raised."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from engine.core.limits import CancelToken, SystemClock


class TopOfRangeRng(random.Random):
    """Jitter always picks the ceiling, so backoff growth is visible."""

    def uniform(self, a: float, b: float) -> float:
        return b


class SignallingClock(SystemClock):
    """Real clock that says when someone starts sleeping on it."""

    def __init__(self) -> None:
        self.sleeping = threading.Event()

    def sleep(self, seconds: float, cancel: CancelToken | None = None) -> None:
        self.sleeping.set()
        super().sleep(seconds, cancel)


class Outcome:
    """Runs ``fn`` in a daemon thread and keeps what it raised."""

    def __init__(self, fn: Callable[[], object]) -> None:
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(fn,), daemon=True)
        self.thread.start()

    def _run(self, fn: Callable[[], object]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc
        finally:
            self.done.set()

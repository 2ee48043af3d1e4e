"""Polling with a deadline: tests never sleep a fixed time, they wait for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02,
               message: str | Callable[[], str] = "") -> object:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds.

    ``message`` may be a function: it is called on failure, to describe what was seen last.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError((message() if callable(message) else message) or f"condition not met within {timeout}s")
        time.sleep(interval)

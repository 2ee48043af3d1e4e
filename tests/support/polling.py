"""Polling with a deadline: tests never sleep a fixed time, they wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], timeout: float = 60.0, interval: float = 0.02,
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


async def wait_until_async(condition: Callable[[], object], timeout: float = 60.0, interval: float = 0.01) -> object:
    """``wait_until`` inside a coroutine: polls without blocking the event loop the condition waits on."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := condition()):
        assert asyncio.get_running_loop().time() < deadline, f"condition not met within {timeout}s"
        await asyncio.sleep(interval)
    return value

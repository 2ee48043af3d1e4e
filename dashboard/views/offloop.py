"""The one way the views run blocking work (SQL, a lifecycle commit, a preview) off the Tornado event loop.

``off_loop`` awaits a function on the loop's default thread pool; ``schedule`` runs an async method the way Panel
runs callbacks (on the session's loop when served, at once in a script); ``on_loop`` tells which case this is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

import panel as pn

T = TypeVar("T")


async def off_loop(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run blocking work (SQL, a lifecycle commit) on the loop's thread pool, never on the event loop."""
    return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, *args, **kwargs))


def schedule(callback: Callable[..., Any], *args: Any, later: bool = False, **kwargs: Any) -> None:
    """Run a callback (async or not) the way Panel runs callbacks: on the session's loop when served, at once otherwise.
    ``later``: on the next tick of the session's loop (with the document locked), never inside this call."""
    pn.state.execute(functools.partial(callback, *args, **kwargs), schedule=later)


def on_loop() -> bool:
    """True inside the event loop's thread (a served session, an async test), where blocking reads must not run."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

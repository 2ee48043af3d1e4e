"""The runner registry: names to product jobs.

Built-in runners register themselves here when ``engine.runners`` imports them; this module imports
none of them, so anything in ``engine.runners`` may import it.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.core.errors import IndexLabError
from engine.runners.base import Runner

_RUNNERS: dict[str, Runner] = {}


def register(name: str, *, durable_dispatch: bool = True) -> Callable[[Runner], Runner]:
    """Register a runner under ``name``.

    ``durable_dispatch``: the engine commits an item's dispatch (its attempt number) before the runner
    starts, so a run that kills the process is on record and counted as a crash, and an external
    program never sees the same ``INDEXLAB_ATTEMPT`` twice. It costs each item one commit's wait
    (~7 ms): runners whose runs take milliseconds in-process may turn it off (``noop``, ``harvest``).
    """
    def decorate(fn: Runner) -> Runner:
        fn.durable_dispatch = durable_dispatch  # type: ignore[attr-defined]
        _RUNNERS[name] = fn
        return fn
    return decorate


def get_runner(name: str) -> Runner:
    """The runner registered under ``name``; an IndexLabError (field ``runner``) naming the known ones if none is."""
    try:
        return _RUNNERS[name]
    except KeyError:
        known = ", ".join(sorted(_RUNNERS))
        raise IndexLabError(f"unknown runner {name!r}; known runners: {known}", field="runner") from None


def check_runner(name: str) -> None:
    """Raise what ``get_runner`` raises when this process has no runner ``name`` (settings meet runners here)."""
    get_runner(name)


def runner_names() -> list[str]:
    return sorted(_RUNNERS)

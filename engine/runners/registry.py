"""The runner registry: names to product jobs.

Where a runner comes from, in the order a name is looked up:

- built-ins, registered by ``engine.runners`` when it is imported (``command``, ``noop``) or on first use
  (``harvest``), and runners that code in this process registers with ``register``;
- plugins: callables that installed distributions name in the ``indexlab.runners`` entry-point group
  (docs/runners.md). Their names are listed without importing anything; a plugin's module is imported
  the first time its name is asked for, so a broken plugin fails only where it is asked for, saying why.

A name a built-in holds is never a plugin's (the plugin is refused and the refusal logged once). ``resolve``
finds a runner by its name in any process with the same installation: what a Dask worker calls, since a
runner travels to workers as its name, not as an object.

This module imports no runner, so anything in ``engine.runners`` may import it.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from engine.core.errors import IndexLabError
from engine.runners.base import Runner

ENTRY_POINT_GROUP = "indexlab.runners"
# A runner's name is shown in option lists, CLI tables and URLs: short, no spaces, no markup.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
BUILT_IN, PLUGIN = "built-in", "plugin"

log = logging.getLogger("indexlab.runners")

_RUNNERS: dict[str, Runner] = {}
# Built-in runners whose modules load on first use: importing harvest (its parsers) takes most of a second, which a
# server restarting on a batch of another runner should not wait for before it dispatches again.
_ON_FIRST_USE = {"harvest": "engine.runners.harvest"}
_lock = threading.RLock()  # discovery and loading; re-entrant: a plugin's import may list runners
_plugins: dict[str, EntryPoint] | None = None  # discovered once per process (forget_plugins starts over)
_loaded: dict[str, Runner] = {}  # plugins imported so far
_unusable: dict[str, str] = {}  # plugin name -> why it cannot run (an import that failed is not tried again)


class RunnerUnavailable(IndexLabError):
    """No runner of that name can run in this process: unknown, or a plugin that cannot be loaded."""

    code = "runner_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message, field="runner")


@dataclass(frozen=True)
class RunnerInfo:
    """One runner this process offers, as listed (``indexlab runners``, the API, the dashboard's picker)."""

    name: str
    origin: str  # BUILT_IN or PLUGIN
    distribution: str | None = None  # a plugin's: the installed distribution that names it
    version: str | None = None
    entry_point: str | None = None  # a plugin's "module:attribute"
    problem: str | None = None  # why it cannot run, once that is known (its import failed)


def register(name: str, *, durable_dispatch: bool = True) -> Callable[[Runner], Runner]:
    """Register a runner under ``name``.

    ``durable_dispatch``: the engine commits an item's dispatch (its attempt number) before the runner
    starts, so a run that kills the process is on record and counted as a crash, and an external
    program never sees the same ``INDEXLAB_ATTEMPT`` twice. It costs each item one commit's wait
    (~7 ms): runners whose runs take milliseconds in-process may turn it off (``noop``, ``harvest``).
    A plugin declares it as an attribute of its callable (``run.durable_dispatch = False``; default True).
    """
    def decorate(fn: Runner) -> Runner:
        fn.durable_dispatch = durable_dispatch  # type: ignore[attr-defined]
        _RUNNERS[name] = fn
        return fn
    return decorate


def resolve(name: str) -> Runner:
    """The runner named ``name``: a built-in, a registered runner, or a plugin (imported now if it is not yet).

    Works in any process whose Python has the same packages installed (a Dask worker, a fresh subprocess):
    ``import engine.runners; engine.runners.resolve("example_specs")``. Raises ``RunnerUnavailable`` (field
    ``runner``) naming the known runners when none has the name, or naming the entry point, its distribution
    and the exception when the plugin cannot be loaded.
    """
    runner = _RUNNERS.get(name) or _loaded.get(name)
    if runner is not None:
        return runner
    if name in _ON_FIRST_USE:
        importlib.import_module(_ON_FIRST_USE[name])  # registers it
        return _RUNNERS[name]
    with _lock:
        plugins = _discover()
        if name in _loaded:
            return _loaded[name]
        if name in _unusable:
            raise RunnerUnavailable(_unusable[name])
        if name not in plugins:
            raise RunnerUnavailable(f"unknown runner {name!r}; known runners: {', '.join(runner_names())}")
        try:
            _loaded[name] = _load(plugins[name])
        except RunnerUnavailable as exc:
            _unusable[name] = exc.message
            log.error("%s", exc.message)
            raise
        return _loaded[name]


get_runner = resolve  # the engine's name for it


def check_runner(name: str) -> None:
    """Raise what ``resolve`` raises when this process has no runner ``name`` (settings meet runners here)."""
    resolve(name)


def runner_names() -> list[str]:
    """Every runner's name, plugins included (listing imports no plugin)."""
    return sorted({*_RUNNERS, *_ON_FIRST_USE, *_discover()})


def runner_info() -> list[RunnerInfo]:
    """Every runner with where it comes from, by name (listing imports no plugin)."""
    plugins = _discover()
    info = [RunnerInfo(name, BUILT_IN) for name in {*_RUNNERS, *_ON_FIRST_USE}]
    info += [RunnerInfo(name, PLUGIN, *_distribution(ep), ep.value, _unusable.get(name)) for name, ep in plugins.items()
             if name not in _RUNNERS]
    return sorted(info, key=lambda r: r.name)


def forget_plugins() -> None:
    """Discover the entry points again on next use, and forget loaded and failed plugins (a test that puts a
    distribution on ``sys.path``; a process keeps what it found at first use otherwise)."""
    global _plugins
    with _lock:
        _plugins = None
        _loaded.clear()
        _unusable.clear()


def _discover() -> dict[str, EntryPoint]:
    """The ``indexlab.runners`` entry points by name, read once per process; refusals are logged then."""
    global _plugins
    if _plugins is not None:
        return _plugins
    with _lock:
        if _plugins is not None:
            return _plugins
        found: dict[str, EntryPoint] = {}
        taken = {*_RUNNERS, *_ON_FIRST_USE}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            where = _describe(ep)
            if not NAME_PATTERN.fullmatch(ep.name):
                log.warning("runner plugin %s is not used: a runner's name is 1-64 letters, digits, '_', '.' or '-', "
                            "starting with a letter or digit", where)
            elif ep.name in taken:
                log.warning("runner plugin %s is not used: %r is a built-in runner's name and built-ins win; "
                            "rename the entry point", where, ep.name)
            elif ep.name in found:
                _unusable[ep.name] = (f"runner {ep.name!r} is offered by two plugins ({_describe(found[ep.name])}; "
                                      f"{where}): uninstall one, or rename its entry point")
                log.warning("%s", _unusable[ep.name])
            else:
                found[ep.name] = ep
        _plugins = found
        return found


def _distribution(ep: EntryPoint) -> tuple[str | None, str | None]:
    dist = ep.dist
    if dist is None:
        return None, None
    meta = dist.metadata
    return meta.get("Name") or None, meta.get("Version") or None


def _describe(ep: EntryPoint) -> str:
    name, version = _distribution(ep)
    source = f" of distribution {name} {version}" if name else ""
    return f"entry point {ep.name} = {ep.value}{source}"


def _load(ep: EntryPoint) -> Runner:
    """Import a plugin and check it can be called as a runner; any failure is a RunnerUnavailable saying which."""
    where = _describe(ep)
    try:
        runner = ep.load()
    except (Exception, SystemExit) as exc:  # noqa: BLE001  (someone else's import: anything can go wrong)
        what = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line: a SyntaxError's caret and all
        raise RunnerUnavailable(f"runner {ep.name!r} cannot be loaded ({where}): {what}"[:2000]) from None
    if not callable(runner):
        raise RunnerUnavailable(f"runner {ep.name!r} ({where}) names an object of type {type(runner).__name__}, not a callable: a "
                                "runner is called as runner(product, settings, ctx)")
    try:
        inspect.signature(runner).bind(None, None, None)
    except TypeError as exc:
        raise RunnerUnavailable(f"runner {ep.name!r} ({where}) cannot be called as runner(product, settings, ctx): "
                                f"{exc}") from None
    except ValueError:  # no signature to read (a builtin): it is called and fails there if it must
        pass
    durable = getattr(runner, "durable_dispatch", True)
    if not isinstance(durable, bool):
        raise RunnerUnavailable(f"runner {ep.name!r} ({where}): durable_dispatch must be True or False, "
                                f"found {durable!r}")
    return runner

"""Product jobs. Importing this package registers the built-in runners (command, noop, harvest)."""

from engine.runners import (  # noqa: F401  (registers them)
    command,
    harvest,
    noop,
)
from engine.runners.base import RunContext, Runner, RunnerError
from engine.runners.registry import check_runner, get_runner, register, runner_names

__all__ = ["RunContext", "Runner", "RunnerError", "check_runner", "get_runner", "register", "runner_names"]

"""Built-in product jobs. Importing this package registers them."""

from engine.runners import command, noop  # noqa: F401  (registers them)
from engine.runners import harvest  # noqa: F401  (registers it)
from engine.runners.base import RunContext, Runner, RunnerError, get_runner, register, runner_names

__all__ = ["RunContext", "Runner", "RunnerError", "get_runner", "register", "runner_names"]

"""Product jobs. Importing this package registers the built-in runners (command, noop; harvest when first asked
for); plugins (the ``indexlab.runners`` entry-point group) load when first asked for (docs/runners.md)."""

from engine.runners import (  # noqa: F401  (registers them)
    command,
    noop,
)
from engine.runners.base import RunContext, Runner, RunnerError
from engine.runners.outcome import OutcomeInvalid, check_outcome
from engine.runners.registry import (
    ENTRY_POINT_GROUP,
    RunnerInfo,
    RunnerUnavailable,
    check_runner,
    get_runner,
    register,
    resolve,
    runner_info,
    runner_names,
)

__all__ = ["ENTRY_POINT_GROUP", "OutcomeInvalid", "RunContext", "Runner", "RunnerError", "RunnerInfo",
           "RunnerUnavailable", "check_outcome", "check_runner", "get_runner", "register", "resolve", "runner_info",
           "runner_names"]

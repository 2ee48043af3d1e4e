"""What a product job is: a plain function from a product to an outcome, and the context it runs in.

Inputs (product dict, settings snapshot) and outcomes (a JSON-able dict) stay plain data so a
job can run in a thread, a child process, or on a Dask worker; only the engine writes the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from engine.core.errors import IndexLabError
from engine.core.limits import CancelToken, Limits
from engine.core.settings import BatchSettings

Outcome = dict[str, Any]


class RunnerError(IndexLabError):
    """A product run failed. ``retryable`` decides between another attempt and ``failed``."""

    code = "runner_failed"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


_RUNNER_LOG = logging.getLogger("indexlab.runner")


@dataclass
class RunContext:
    """Handed to a runner for one attempt of one item."""

    batch_run_id: str
    seq: int
    attempt: int
    cancel: CancelToken
    limits: Limits
    on_phase: Callable[[str], None] = lambda name: None
    on_log: Callable[[str, str], None] = lambda level, message: None
    logger: logging.Logger = field(default=_RUNNER_LOG)  # (one for every attempt: looking it up took a lock)

    def phase(self, name: str) -> None:
        """Move the item's phase cursor; also a cancellation point."""
        self.cancel.raise_if_cancelled()
        self.on_phase(name)

    def log(self, message: str, level: str = "info") -> None:
        """A line in the item's events (kept short: the last line of stderr, a skipped step)."""
        self.on_log(level, message[:4000])


class Runner(Protocol):
    def __call__(self, product: dict[str, Any], settings: BatchSettings, ctx: RunContext) -> Outcome: ...

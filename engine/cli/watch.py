"""A live terminal view of one batch (``indexlab status BATCH_ID --watch``, ``indexlab batch status ... --watch``).

On a terminal the view is redrawn in place: counts, progress, throughput, ETA, the products running and their
phases, the newest failures. Anywhere else (a pipe, a CI log) it prints one line per change instead: the progress
line when the state, a count or a running product's phase changes, and each new failure once. Every piece of batch
and product text goes through ``plain``: the only escape sequences written are the view's own cursor moves.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from engine.cli.output import plain
from engine.cli.status import StatusLike, fmt_seconds, progress_line, read_status
from engine.core.states import FINISHED_BATCH_STATES, BatchState
from engine.service import BatchStatus, Failure

WATCH_INTERVAL_S = 1.0
SHOWN_RUNNING, SHOWN_FAILURES = 8, 5
# A batch in one of these is moving (or waiting for capacity): a command that follows it goes on watching.
MOVING_BATCH_STATES = frozenset({BatchState.QUEUED, BatchState.RUNNING, BatchState.STOPPING})
_UP_AND_CLEAR = "\x1b[{n}F\x1b[J"  # cursor to the start of the line n lines up, then clear to the end of the screen


def _product(seq: int, product_id: str | None, brand: str | None, model: str | None) -> str:
    name = " ".join(part for part in (brand, model) if part)
    return f"#{seq} {name or product_id or ''}" + (f" ({product_id})" if name and product_id else "")


def frame(status: StatusLike, width: int = 100) -> list[str]:
    """The view of ``status`` as plain lines, each at most ``width`` characters (a wrapped line would break the
    redraw)."""
    s = read_status(status)
    c = s.counts
    rate = s.throughput
    lines = [
        f"batch     {s.batch_run_id}   {s.state.value}" + (f" (halted: {s.halted})" if s.halted else ""),
        f"progress  {progress_line(s).split(' | ', 1)[0]}",
        "counts    " + ", ".join(f"{k.value} {v:,}" for k, v in c.items()),
        f"rate      {rate.recent_per_hour or 0:,.0f}/h recent, {rate.overall_per_hour or 0:,.0f}/h overall   "
        f"ETA {fmt_seconds(s.eta.seconds if s.eta else None)}",
        f"result    {s.result_text if s.result is not None else 'not finished: ' + s.result_text}",
    ]
    if s.reason:
        lines.append(f"reason    {s.reason}")
    for i, item in enumerate(s.running[:SHOWN_RUNNING]):
        lines.append(f"{'running' if i == 0 else '':<10}{_product(item.seq, item.product_id, item.brand, item.model)}"
                     f" [{item.phase or 'starting'}] attempt {item.attempt}")
    if len(s.running) > SHOWN_RUNNING:
        lines.append(f"{'':<10}... and {len(s.running) - SHOWN_RUNNING} more")
    for i, failure in enumerate(_newest_failures(s)):
        lines.append(f"{'failures' if i == 0 else '':<10}"
                     f"{_product(failure.seq, failure.product_id, failure.brand, failure.model)}: {failure.error}")
    return [plain(line)[:width] for line in lines]


def _newest_failures(s: BatchStatus) -> list[Failure]:
    newest: dict[int, Failure] = {}  # an item retried and failed again is shown once, newest first
    for failure in s.recent_failures:
        newest.setdefault(failure.seq, failure)
    return list(newest.values())[:SHOWN_FAILURES]


class View:
    """Draws successive statuses on ``out``: in place on a terminal, else a line per change."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.drawn = 0  # lines of the last frame (terminal)
        self.last_key: tuple | None = None  # what the last progress line showed (not a terminal)
        self.failures_seen: set[tuple[int, int]] = set()

    def show(self, status: StatusLike) -> None:
        s = read_status(status)
        if self.tty:
            lines = frame(s, max(shutil.get_terminal_size().columns - 1, 20))
            prefix = _UP_AND_CLEAR.format(n=self.drawn) if self.drawn else ""
            self.out.write(prefix + "\n".join(lines) + "\n")
            self.drawn = len(lines)
        else:
            for line in self._changes(s):
                self.out.write(plain(line) + "\n")
        self.out.flush()

    def _changes(self, s: BatchStatus) -> list[str]:
        key = (s.state, tuple(sorted(s.counts.items())), tuple((r.seq, r.phase) for r in s.running))
        lines = []
        if key != self.last_key:
            self.last_key = key
            lines.append(progress_line(s))
        for failure in reversed(s.recent_failures):  # oldest first, each once
            if (failure.seq, failure.attempt) not in self.failures_seen:
                self.failures_seen.add((failure.seq, failure.attempt))
                lines.append(f"failure   {_product(failure.seq, failure.product_id, failure.brand, failure.model)} "
                             f"attempt {failure.attempt}: {failure.error}")
        return lines


def watch(read: Callable[[], StatusLike], out: TextIO, *, interval: float = WATCH_INTERVAL_S,
          until: Callable[[BatchStatus], bool] = lambda s: s.state in FINISHED_BATCH_STATES) -> BatchStatus:
    """Show ``read()`` every ``interval`` seconds until ``until(status)`` (default: the batch finished) or Ctrl-C;
    return the last status read."""
    view = View(out)
    status = read_status(read())
    try:
        while True:
            view.show(status)
            if until(status):
                return status
            time.sleep(interval)
            status = read_status(read())
    except KeyboardInterrupt:
        return status


def moving(status: BatchStatus) -> bool:
    """Whether a batch still moves by itself (running, stopping, or queued for capacity)."""
    return status.state in MOVING_BATCH_STATES


"""A batch's status as both CLIs print it (``indexlab status`` and ``indexlab batch status``), and the exit code
that says its result: 0 succeeded, 4 failed, 5 partial, 6 not finished (planned, running, paused, stopping).

One printer over the service's read models (``BatchStatus``, ``FailureGroup``): what it is handed, the model or
its dict or JSON document (the headless CLI has the service's, ``indexlab batch`` the API's), is read into the
model first, so both print the same text for the same batch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from engine.cli.common import EXIT_OK
from engine.cli.output import say
from engine.core.states import ItemState
from engine.service import BatchStatus, ExecutorInfo, Failure, FailureGroup

EXIT_RESULT_FAILED, EXIT_PARTIAL, EXIT_NOT_FINISHED = 4, 5, 6
EXIT_BY_RESULT = {"succeeded": EXIT_OK, "failed": EXIT_RESULT_FAILED, "partial": EXIT_PARTIAL}
STATUS_GROUPS = 5  # failure groups the status text shows


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


StatusLike = BatchStatus | Mapping[str, Any]  # the read model, or its dict / JSON document (the service's, the API's)
GroupLike = FailureGroup | Mapping[str, Any]


def read_status(status: StatusLike) -> BatchStatus:
    """The status read model of ``status``: both CLIs print through it, whichever form they were handed."""
    return BatchStatus.model_validate(status)


def progress_line(status: StatusLike) -> str:
    s = read_status(status)
    c = s.counts
    width = 24
    filled = int(width * s.progress)
    rate = s.throughput.recent_per_hour or s.throughput.overall_per_hour
    eta = s.eta.seconds if s.eta else None
    where = f" | {s.current.brand} {s.current.model} [{s.current.phase or 'starting'}]" if s.current else ""
    return (f"[{'#' * filled}{'.' * (width - filled)}] {s.done}/{s.total} {s.state.value} "
            f"ok {c[ItemState.COMPLETED]} failed {c[ItemState.FAILED]} running {c[ItemState.RUNNING]} | "
            f"{rate or 0:,.0f}/h | ETA {fmt_seconds(eta)}{where}")


def exit_code(status: StatusLike) -> int:
    """The exit code that says a batch's result: 0 succeeded, 4 failed, 5 partial, 6 not finished."""
    return EXIT_BY_RESULT.get(read_status(status).result or "", EXIT_NOT_FINISHED)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def print_failure_groups(groups: Sequence[GroupLike], failed: int | None = None) -> None:
    """Failure groups, largest first: count, reason, when, and the first products (all plain text)."""
    typed = [FailureGroup.model_validate(g) for g in groups]
    failed = sum(g.count for g in typed) if failed is None else failed
    say(f"failures      {failed:,} failed in {len(typed):,} reason group{'s' if len(typed) != 1 else ''}")
    for group in typed:
        examples = ", ".join(f"#{e.seq} {e.product_id}" for e in group.examples)
        say(f"  {group.count:>7,}  {group.reason}",
            f"           first {_when(group.first_seen)}, last {_when(group.last_seen)}; e.g. {examples}")


def print_status(status: StatusLike, groups: Sequence[GroupLike] | None = None) -> None:
    """A batch's status as both CLIs print it: state, result in words and why, counts, progress, failures."""
    s = read_status(status)
    say(f"batch_run_id  {s.batch_run_id}")
    say(f"state         {s.state.value}" + (f" (halted: {s.halted})" if s.halted else ""))
    say(f"result        {s.result_text if s.result is not None else 'not finished: ' + s.result_text}")
    if s.reason:
        say(f"reason        {s.reason}")
    say("counts        " + ", ".join(f"{k.value} {v}" for k, v in s.counts.items()))
    say(f"progress      {progress_line(s)}")
    if s.executor is not None:
        say(f"executor      {executor_line(s.executor)}")
    for item in s.running[:5]:
        say(f"running       #{item.seq} {item.product_id or ''} [{item.phase or 'starting'}]")
    if groups:
        print_failure_groups(groups, s.outcomes.failed)
    newest: dict[int, Failure] = {}  # recent failed attempts, newest first: an item retried and failed again is shown once
    for failure in s.recent_failures:
        newest.setdefault(failure.seq, failure)
    for failure in list(newest.values())[:5]:
        say(f"failure       #{failure.seq} {failure.product_id or ''}: {failure.error}")


def executor_line(e: ExecutorInfo) -> str:
    """Where the server runs jobs, in a line: ``dask: 2 workers, 4 threads at tcp://...; dashboard http://...``."""
    if e.executor == "local":
        return f"local: {e.max_workers} threads in the server"
    where = f" at {e.scheduler}" if e.scheduler else ""
    state = "" if e.status in (None, "running") else f" ({e.status})"
    line = f"dask: {e.workers} workers, {e.worker_threads} threads{where}{state}; budget {e.max_workers}"
    return line + (f"; dashboard {e.dashboard_link}" if e.dashboard_link else "")


def summary(status: StatusLike) -> dict[str, Any]:
    """``indexlab run``'s final document (and ``start``'s, here or through a server)."""
    s = read_status(status)
    elapsed = (s.finished_at - s.started_at).total_seconds() if s.started_at and s.finished_at else None
    finished_items = s.counts[ItemState.COMPLETED] + s.counts[ItemState.FAILED]
    return {
        "batch_run_id": s.batch_run_id, "state": s.state.value, "counts": {k.value: v for k, v in s.counts.items()},
        "total": s.total, "started_at": s.started_at, "finished_at": s.finished_at,
        "products_per_hour": finished_items / elapsed * 3600 if elapsed else s.throughput.overall_per_hour,
        "result": s.result, "outcomes": s.outcomes.model_dump(), "result_text": s.result_text, "reason": s.reason,
    }

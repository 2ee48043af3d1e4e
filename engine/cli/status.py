"""A batch's status as both CLIs print it (``indexlab status`` and ``indexlab batch status``), and the exit code
that says its result: 0 succeeded, 4 failed, 5 partial, 6 not finished (planned, running, paused, stopping)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.cli.common import EXIT_OK
from engine.cli.output import say

EXIT_RESULT_FAILED, EXIT_PARTIAL, EXIT_NOT_FINISHED = 4, 5, 6
EXIT_BY_RESULT = {"succeeded": EXIT_OK, "failed": EXIT_RESULT_FAILED, "partial": EXIT_PARTIAL}
STATUS_GROUPS = 5  # failure groups the status text shows


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(status: dict[str, Any]) -> str:
    c, total = status["counts"], status["total"]
    width = 24
    filled = int(width * status["progress"])
    rate = status["throughput"]["recent_per_hour"] or status["throughput"]["overall_per_hour"]
    eta = status["eta"]["seconds"] if status["eta"] else None
    current = status["current"]
    where = f" | {current['brand']} {current['model']} [{current['phase'] or 'starting'}]" if current else ""
    return (f"[{'#' * filled}{'.' * (width - filled)}] {status['done']}/{total} {status['state']} "
            f"ok {c['completed']} failed {c['failed']} running {c['running']} | "
            f"{rate or 0:,.0f}/h | ETA {_fmt_seconds(eta)}{where}")


def exit_code(status: dict[str, Any]) -> int:
    """The exit code that says a batch's result: 0 succeeded, 4 failed, 5 partial, 6 not finished."""
    return EXIT_BY_RESULT.get(status.get("result") or "", EXIT_NOT_FINISHED)


def _when(value: Any) -> str:
    """A timestamp (a datetime, or the API's ISO text) as ``YYYY-MM-DD HH:MM:SS``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "-"


def print_failure_groups(groups: list[dict[str, Any]], failed: int | None = None) -> None:
    """Failure groups, largest first: count, reason, when, and the first products (all plain text)."""
    failed = sum(g["count"] for g in groups) if failed is None else failed
    say(f"failures      {failed:,} failed in {len(groups):,} reason group{'s' if len(groups) != 1 else ''}")
    for group in groups:
        examples = ", ".join(f"#{e['seq']} {e['product_id']}" for e in group["examples"])
        say(f"  {group['count']:>7,}  {group['reason']}",
            f"           first {_when(group['first_seen'])}, last {_when(group['last_seen'])}; e.g. {examples}")


def print_status(status: dict[str, Any], groups: list[dict[str, Any]] | None = None) -> None:
    """A batch's status as both CLIs print it: state, result in words and why, counts, progress, failures."""
    say(f"batch_run_id  {status['batch_run_id']}")
    say(f"state         {status['state']}" + (f" (halted: {status['halted']})" if status.get("halted") else ""))
    finished = status.get("result") is not None
    say(f"result        {status['result_text'] if finished else 'not finished: ' + status['result_text']}")
    if status.get("reason"):
        say(f"reason        {status['reason']}")
    say("counts        " + ", ".join(f"{k} {v}" for k, v in status["counts"].items()))
    say(f"progress      {progress_line(status)}")
    for item in status["running"][:5]:
        say(f"running       #{item['seq']} {item.get('product_id') or ''} [{item.get('phase') or 'starting'}]")
    if groups:
        print_failure_groups(groups, status["outcomes"]["failed"])
    newest = {}  # recent failed attempts, newest first: an item retried and failed again is shown once
    for failure in status["recent_failures"]:
        newest.setdefault(failure["seq"], failure)
    for failure in list(newest.values())[:5]:
        say(f"failure       #{failure['seq']} {failure.get('product_id') or ''}: {failure['error']}")


def summary(status: dict[str, Any]) -> dict[str, Any]:
    """``indexlab run``'s final document."""
    started, finished = status["started_at"], status["finished_at"]
    elapsed = (finished - started).total_seconds() if started and finished else None
    finished_items = status["counts"]["completed"] + status["counts"]["failed"]
    return {
        "batch_run_id": status["batch_run_id"], "state": status["state"], "counts": status["counts"],
        "total": status["total"], "started_at": started, "finished_at": finished,
        "products_per_hour": finished_items / elapsed * 3600 if elapsed else status["throughput"]["overall_per_hour"],
        "result": status["result"], "outcomes": status["outcomes"], "result_text": status["result_text"],
        "reason": status["reason"],
    }

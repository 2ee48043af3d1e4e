"""How both CLIs write: plain text lines (``say``) or one JSON document (``emit_json``), never raw product text."""

from __future__ import annotations

import json
import sys
import unicodedata
from datetime import datetime
from typing import Any, TextIO

from engine.core.plan import PlanSummary


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def emit_json(document: Any) -> None:
    """One JSON document on stdout; every non-ASCII character escaped, so no product text reaches the
    terminal raw (C1 controls, bidi overrides and unpaired surrogates included)."""
    text = json.dumps(document, default=_json_default, indent=2, ensure_ascii=True)
    sys.stdout.write(text.replace("\x7f", "\\u007f") + "\n")  # DEL: the one control json leaves as is


def plain(text: object) -> str:
    """``text`` made safe for a terminal: every character that is neither printable nor a space (ESC and the
    other C0/C1 controls, CR, line breaks, bidi overrides, unpaired surrogates) written as its escape, as
    repr() writes it. Product, catalog, outcome and job text can then never move the cursor, clear the
    screen, retitle the window or reorder what is shown."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or unicodedata.category(c) == "Zs"
                   else c.encode("unicode_escape").decode("ascii") for c in text)


def say(*lines: object, file: TextIO | None = None) -> None:
    """Print each of ``lines`` on a line of its own, made ``plain``: the one way the CLIs print text."""
    print(*map(plain, lines), sep="\n", file=file or sys.stdout)


def warn(message: str) -> None:
    say(f"indexlab: warning: {message}", file=sys.stderr)


def print_plan(batch_run_id: str | None, summary: PlanSummary) -> None:
    """A plan as saved, or (``batch_run_id`` None) as it would be: a preview."""
    est = summary.estimate
    say(f"batch_run_id  {batch_run_id}" if batch_run_id else "preview       not saved (--dry-run)")
    say(f"items         {summary.total} across {len(summary.brands)} brands")
    say(f"profile       {summary.settings.profile.value}, workers {summary.settings.workers}, runner {summary.settings.runner}")
    say(f"estimate      {est.job_count} jobs (at most {est.max_job_count} with retries), {est.runtime_text}"
          f" [{est.basis.replace('_', ' ')}]")
    say("brands in run order:")
    for b in summary.brands:
        say(f"  {b.position:>3}. {b.brand}{' (pinned)' if b.pinned else ''}: {b.count}")
    say(f"first {len(summary.first_items)} items:")
    for item in summary.first_items:
        variant = f" [{item.variant}]" if item.variant else ""
        say(f"  {item.seq:>5}  {item.brand} {item.model}{variant}  ({item.product_id})")
    for warning in summary.warnings:
        say(f"warning: {warning}")

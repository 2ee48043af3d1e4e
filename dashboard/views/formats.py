"""Words and small HTML pieces every tab uses: escaping, times, durations, rates, badges, sections, alerts.

Every value that comes from data (product names, errors, reasons, actors) goes through ``esc``: product text is
escaped wherever it is rendered as HTML (DESIGN §7). Pure functions, no Panel.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from dashboard.views.theme import BATCH_COLORS, NO_STATE_COLOR, RESULT_COLORS, UNKNOWN_STATE_COLOR


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)

def badge(state: str | None, colors: Mapping[str, str] = BATCH_COLORS) -> str:
    if not state:
        return f'<span class="badge" style="background:{NO_STATE_COLOR}">no batch</span>'
    return f'<span class="badge" style="background:{colors.get(state, UNKNOWN_STATE_COLOR)}">{esc(state)}</span>'

def result_badge(result: str | None) -> str:
    """A finished batch's result (succeeded, partial, failed) in its own colour; '' while it has none."""
    if not result:
        return ""
    return (f'<span class="result-badge" style="background:{RESULT_COLORS.get(result, UNKNOWN_STATE_COLOR)}">'
            f'{esc(result)}</span>')

def product_label(row: Mapping[str, Any]) -> str:
    """Brand model variant, escaped."""
    parts = [row.get("brand"), row.get("model"), row.get("variant")]
    return esc(" ".join(str(p) for p in parts if p))

def as_datetime(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if hasattr(value, "to_pydatetime"):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)

def clock(value: Any, *, date: bool = False) -> str:
    """'14:03:09' (or '2025-11-24 14:03') in UTC; '' for no time."""
    when = as_datetime(value)
    if when is None:
        return ""
    when = when.astimezone(UTC)
    return when.strftime("%Y-%m-%d %H:%M") if date else when.strftime("%H:%M:%S")

def stamp(value: Any) -> str:
    """'2025-11-24 14:03:09' in UTC; '' for no time."""
    when = as_datetime(value)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if when else ""

def duration(seconds: float | None) -> str:
    """'350 ms', '4.2 s', '45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
    if seconds < 0.9995:
        return f"{max(0, round(seconds * 1000))} ms"
    if seconds < 9.95:
        return f"{seconds:.1f} s"
    s = max(0, int(round(seconds)))
    if s < 90:
        return f"{s} s"
    if s < 3600:
        return f"{round(s / 60)} min"
    if s < 86_400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86_400} d {s % 86_400 // 3600} h"

def rate(per_hour: float | None) -> str:
    if per_hour is None or (isinstance(per_hour, float) and math.isnan(per_hour)):
        return "–"
    return f"{per_hour:,.0f}/h" if per_hour >= 10 else f"{per_hour:,.1f}/h"

def gate_words(min_required_coverage: Any) -> str:
    """'required-field coverage at least 80%', or 'off' (a gate of 0)."""
    if not isinstance(min_required_coverage, (int, float)) or min_required_coverage <= 0:
        return "off"
    return f"required-field coverage at least {100 * min_required_coverage:.0f}%"

def alert(text: Any, kind: str = "info") -> str:
    """A message box (info, success, warning, danger, secondary) holding ``text`` as text."""
    return f'<div class="alert {kind}">{esc(text)}</div>'

def section(title: str, note: str = "") -> str:
    extra = f' <span class="meta">{esc(note)}</span>' if note else ""
    return f'<div class="section">{esc(title)}{extra}</div>'

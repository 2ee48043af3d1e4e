"""The summary's two tables as they show their rows: failure groups (with "Retry this group") and the items page.

Plain strings only (UTC times, durations, the quality gate in words): Tabulator cells are text (dashboard.views.plain).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from dashboard.views.formats import clock, duration

GROUP_COLUMNS = ["count", "reason", "seen", "examples", "retry"]
RETRY_GROUP_LABEL = "Retry this group"
GROUPS_CSS = """
.tabulator { font-size: 13px; border-radius: 6px; }
.tabulator .tabulator-header .tabulator-col { background: var(--il-table-head); }
.tabulator-row .tabulator-cell { padding: 5px 8px; }
.tabulator-row .tabulator-cell[tabulator-field="reason"] { font-family: ui-monospace, Menlo, Consolas, monospace;
  font-size: 12.5px; color: var(--il-red-800); }
.tabulator-row .tabulator-cell[tabulator-field="retry"] { color: var(--il-blue-700); font-weight: 600; cursor: pointer;
  text-decoration: underline; }
"""


def groups_for_display(groups: list[dict[str, Any]]) -> pd.DataFrame:
    """Failure groups as the table shows them: plain strings (UTC times, '#3 ta-0, #4 ta-1 …')."""
    rows = []
    for g in groups:
        examples = ", ".join(f"#{int(e.get('seq', 0))} {e.get('product_id')}" for e in g.get("examples") or [])
        more = int(g.get("count") or 0) - len(g.get("examples") or [])
        rows.append({"count": int(g.get("count") or 0), "reason": g.get("reason") or "",
                     "seen": f"{clock(g.get('first_seen'), date=True)} –\n{clock(g.get('last_seen'), date=True)}",
                     "examples": examples + (f" and {more:,} more" if more > 0 else ""), "retry": RETRY_GROUP_LABEL})
    return pd.DataFrame(rows, columns=GROUP_COLUMNS)


ITEM_COLUMNS = ["seq", "state", "gate", "brand", "model", "variant", "product_id", "attempts", "phase", "duration",
                "finished", "last_error"]
GATE_WORDS = {"passed": "passed", "needs_review": "needs review"}


def items_for_display(page: pd.DataFrame) -> pd.DataFrame:
    """The items page as the table shows it: plain strings for times, durations and the quality gate (UTC)."""
    if page.empty:
        return pd.DataFrame(columns=ITEM_COLUMNS)
    out = page[["seq", "state", "brand", "model", "variant", "product_id", "attempts", "phase", "last_error"]].copy()
    out["gate"] = [GATE_WORDS.get(g, "") if isinstance(g, str) else "" for g in page["gate"]]
    out["duration"] = [duration(d) if d == d and d is not None else "" for d in page["duration_s"]]
    out["finished"] = [clock(t) if t is not None and t == t else "" for t in page["finished_at"]]
    out["phase"] = out["phase"].fillna("")
    out["last_error"] = out["last_error"].fillna("")
    return out

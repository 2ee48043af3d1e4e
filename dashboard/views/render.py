"""HTML fragments of the plan preview, run summary and history, built from plain status dicts and models.

Every value that comes from data (product names, errors, reasons, actors) goes through ``esc``:
product text is escaped wherever it is rendered as HTML (DESIGN §7). Pure functions, no Panel.
"""

from __future__ import annotations

import html
import math
import shlex
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from engine.runners.base import PHASES

ITEM_COLORS = {
    "queued": "#64748b", "running": "#2563eb", "completed": "#16a34a",
    "failed": "#dc2626", "skipped": "#9333ea", "stopped": "#ea580c",
}
# A batch's state says where it is, not how it went: "completed" is neutral (its result carries the colour).
BATCH_COLORS = {
    "planned": "#64748b", "running": "#2563eb", "paused": "#d97706",
    "stopping": "#ea580c", "stopped": "#b91c1c", "completed": "#475569",
}
RESULT_COLORS = {"succeeded": "#16a34a", "partial": "#d97706", "failed": "#dc2626"}
# What came out of the items (engine.core.triage.result_counts), in the bar's order; "unfinished" is the bar's track.
OUTCOME_COLORS = {"succeeded": "#16a34a", "needs_review": "#facc15", "failed": "#dc2626", "skipped": "#9333ea",
                  "stopped": "#ea580c"}
OUTCOME_WORDS = {"succeeded": "succeeded", "needs_review": "need review", "failed": "failed", "skipped": "skipped",
                 "stopped": "stopped"}
FEED_LIMIT = 30
RUNNING_LIMIT = 8


def esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def badge(state: str | None, colors: Mapping[str, str] = BATCH_COLORS) -> str:
    if not state:
        return '<span class="badge" style="background:#94a3b8">no batch</span>'
    return f'<span class="badge" style="background:{colors.get(state, "#64748b")}">{esc(state)}</span>'


def result_badge(result: str | None) -> str:
    """A finished batch's result (succeeded, partial, failed) in its own colour; '' while it has none."""
    if not result:
        return ""
    return (f'<span class="result-badge" style="background:{RESULT_COLORS.get(result, "#64748b")}">'
            f'{esc(result)}</span>')


def outcome_bar(outcomes: Mapping[str, int]) -> str:
    """The progress bar, one segment per outcome (succeeded, needs review, failed, skipped, stopped) in
    proportion to all items; what has not run yet is the bar's empty track."""
    total = sum(int(v or 0) for v in outcomes.values())
    segments = []
    for key, color in OUTCOME_COLORS.items():
        n = int(outcomes.get(key) or 0)
        if n and total:
            segments.append(f'<span class="seg" data-outcome="{key}" style="width:{100 * n / total:.2f}%;'
                            f'background:{color}" title="{n:,} {OUTCOME_WORDS[key]}"></span>')
    legend = "".join(f'<span class="key"><span class="swatch" style="background:{color}"></span>'
                     f'{OUTCOME_WORDS[key]}</span>' for key, color in OUTCOME_COLORS.items()
                     if outcomes.get(key))
    return f'<div class="obar">{"".join(segments)}</div><div class="legend">{legend}</div>'


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
    """'45 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "–"
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


# --------------------------------------------------------------------------- summary fragments
def header_html(batch_run_id: str | None, status: Mapping[str, Any], batch: Mapping[str, Any]) -> str:
    if not batch_run_id:
        return ('<div class="head"><div class="title">Batch Run Summary</div>'
                '<div class="meta">No batch yet. Plan one in the Batch Run Builder (or with <code>indexlab plan</code>) '
                'and start it: its progress shows here.</div></div>')
    settings = batch.get("settings") or {}
    meta = [esc(batch.get("runner", "")), esc(batch.get("profile", "")),
            f"{settings.get('workers', '?')} worker{'s' if settings.get('workers') != 1 else ''}",
            f"{status.get('total', batch.get('item_count', 0)):,} items"]
    for label, key in (("created", "created_at"), ("started", "started_at"), ("finished", "finished_at")):
        when = status.get(key) or batch.get(key)
        if when:
            meta.append(f"{label} {clock(when, date=True)} UTC")
    halted = status.get("halted")
    warn = f'<div class="warn">{esc(halted)}</div>' if halted else ""
    reason = status.get("reason") or batch.get("reason")
    why = f'<div class="why"><span class="k">reason</span> {esc(reason)}</div>' if reason else ""
    return (f'<div class="head"><div class="title">Batch Run Summary</div>'
            f'<div class="idline">{result_badge(status.get("result"))}{badge(status.get("state"))}'
            f'<code class="bid">{esc(batch_run_id)}</code></div>'
            f'<div class="meta">{" · ".join(m for m in meta if m)}</div>{why}{warn}</div>')


def progress_html(status: Mapping[str, Any], now: datetime | None = None) -> str:
    """What came out so far in words ('Partial: 22 succeeded, 3 need review, 18 failed') with the share
    finished, the ETA with its band, and throughput."""
    total, done = int(status.get("total") or 0), int(status.get("done") or 0)
    pct = 100.0 * (status.get("progress") or 0.0)
    state = status.get("state")
    eta = status.get("eta")
    if not total:
        eta_text = ""
    elif done >= total:
        eta_text = "nothing left to run"
    elif state != "running":
        eta_text = f"ETA when running ({esc(state)})" if state else ""
    elif not eta:
        eta_text = "ETA: estimating (after a few finished products)"
    else:
        now = now or datetime.now(UTC)
        finish = now.timestamp() + eta["seconds"]
        eta_text = (f'ETA <b class="eta">{duration(eta["seconds"])}</b> '
                    f'<span class="band">({duration(eta["low_seconds"])} – {duration(eta["high_seconds"])})</span>'
                    f' · about {datetime.fromtimestamp(finish, UTC):%H:%M} UTC')
    tp = status.get("throughput") or {}
    started, finished = as_datetime(status.get("started_at")), as_datetime(status.get("finished_at"))
    if state in ("completed", "stopped") and started and finished:
        wall = max((finished - started).total_seconds(), 1.0)
        speed = f'<span class="speed">ran {duration(wall)} · {rate(done / wall * 3600)} on average</span>'
    else:
        speed = (f'<span class="speed"><b>{rate(tp.get("recent_per_hour"))}</b> last 2 min · '
                 f'{rate(tp.get("overall_per_hour"))} overall</span>')
    result = status.get("result")
    words = esc(status.get("result_text") or f"{done:,} of {total:,} finished")
    if result and ":" in words:  # the lead word ("Failed:") in the result's colour
        lead, rest = words.split(":", 1)
        words = f'<b style="color:{RESULT_COLORS.get(result, "inherit")}">{lead}:</b>{rest}'
    return (f'<div class="progress-line"><span class="result-text">{words}</span>'
            f'<span class="meta">{pct:.1f}% finished</span>'
            f'<span class="sep">|</span><span>{eta_text}</span><span class="sep">|</span>{speed}</div>')


def phase_trail(phase: str | None) -> str:
    """The phase cursor: discover › fetch › extract › reconcile › finalize, the current one lit."""
    if phase and phase not in PHASES:
        return f'<span class="ph now">{esc(phase)}</span>'
    at = PHASES.index(phase) if phase else -1
    steps = []
    for i, name in enumerate(PHASES):
        cls = "now" if i == at else ("past" if i < at else "")
        steps.append(f'<span class="ph {cls}">{name}</span>')
    return '<span class="arrow">›</span>'.join(steps)


def running_html(running: Iterable[Mapping[str, Any]], state: str | None, now: datetime | None = None) -> str:
    rows = list(running)
    if not rows:
        idle = {"paused": "Paused: nothing is running.", "completed": "Done: nothing is running.",
                "stopped": "Stopped: nothing is running.", "planned": "Not started yet."}
        return f'<div class="empty">{idle.get(state or "", "Nothing is running.")}</div>'
    now = now or datetime.now(UTC)
    out = []
    for row in rows[:RUNNING_LIMIT]:
        started = as_datetime(row.get("started_at"))
        elapsed = duration((now - started).total_seconds()) if started else ""
        attempt = int(row.get("attempt") or 1)
        meta = " · ".join(x for x in (f"attempt {attempt}" if attempt > 1 else "", elapsed) if x)
        out.append(
            f'<div class="run"><div class="line"><span class="seq">#{int(row.get("seq", 0))}</span>'
            f'<span class="name">{product_label(row)}</span><span class="meta">{meta}</span></div>'
            f'<div class="line sub"><code>{esc(row.get("product_id"))}</code></div>'
            f'<div class="trail">{phase_trail(row.get("phase"))}</div></div>')
    if len(rows) > RUNNING_LIMIT:
        out.append(f'<div class="more">and {len(rows) - RUNNING_LIMIT} more running</div>')
    return "".join(out)


def failures_html(failures: Iterable[Mapping[str, Any]]) -> str:
    rows = list(failures)
    if not rows:
        return '<div class="empty">No failures.</div>'
    out = []
    for f in rows:
        verdict = ('<span class="pill bad">failed</span>' if f.get("final")
                   else '<span class="pill retry">will retry</span>')
        out.append(
            f'<div class="fail"><div class="line"><span class="time">{clock(f.get("at"))}</span>'
            f'<span class="seq">#{int(f.get("seq", 0))}</span><span class="name">{product_label(f)}</span>'
            f'{verdict}<span class="meta">attempt {int(f.get("attempt") or 0)}</span></div>'
            f'<div class="err">{esc(f.get("error"))}</div></div>')
    return "".join(out)


def group_html(group: Mapping[str, Any]) -> str:
    """One failure group: how many failed for this reason, when, a few of them, and one full error."""
    examples = ", ".join(f'#{int(e.get("seq", 0))} <code>{esc(e.get("product_id"))}</code>'
                         for e in group.get("examples") or [])
    more = int(group.get("count") or 0) - len(group.get("examples") or [])
    example_error = group.get("example_error")
    error = (f'<div class="err">{esc(example_error)}</div>'
             if example_error and example_error != group.get("reason") else "")
    return (f'<div class="group"><div class="line"><span class="count">{int(group.get("count") or 0):,}</span>'
            f'<span class="reason-text">{esc(group.get("reason"))}</span></div>'
            f'<div class="meta">first {clock(group.get("first_seen"), date=True)} · last '
            f'{clock(group.get("last_seen"), date=True)} UTC · {examples}{f" and {more:,} more" if more > 0 else ""}'
            f'</div>{error}</div>')


def review_html(review: Mapping[str, Any]) -> str:
    """Completed products below the quality gate and the required fields they lack."""
    count, gate = int(review.get("count") or 0), review.get("min_required_coverage")
    gate_text = gate_words(gate)
    if not count:
        return f'<div class="empty">No product needs review (quality gate: {esc(gate_text)}).</div>'
    rows = "".join(f'<tr><td class="fname">{esc(f.get("field"))}</td><td>{int(f.get("products") or 0):,}</td></tr>'
                   for f in review.get("missing_fields") or [])
    table = ('<table class="fields"><thead><tr><th>missing field</th><th>products</th></tr></thead>'
             f'<tbody>{rows}</tbody></table>') if rows else ""
    return (f'<div><b>{count:,} product{"s" if count != 1 else ""}</b> completed below the quality gate '
            f'({esc(gate_text)}).</div>{table}')


def gate_words(min_required_coverage: Any) -> str:
    """'required-field coverage at least 80%', or 'off' (a gate of 0)."""
    if not isinstance(min_required_coverage, (int, float)) or min_required_coverage <= 0:
        return "off"
    return f"required-field coverage at least {100 * min_required_coverage:.0f}%"


def item_events_text(events: Iterable[Mapping[str, Any]]) -> str:
    """One item's events as plain lines: time, kind, move, attempt, who, and the reason (a stderr tail keeps
    its lines)."""
    lines = []
    for e in events:
        move = " → ".join(x for x in (e.get("from_state"), e.get("to_state")) if x)
        data = e.get("data") if isinstance(e.get("data"), Mapping) else {}
        level = f"[{data['level']}]" if data.get("level") else ""
        head = " ".join(x for x in (stamp(e.get("occurred_at")), _KIND_LABELS.get(e.get("kind") or "", e.get("kind")),
                                     level, move, f"attempt {e['attempt']}" if e.get("attempt") is not None else "",
                                     f"by {e['actor']}" if e.get("actor") else "") if x)
        lines.append(f"{head}\n    " + str(e.get("reason") or "").replace("\n", "\n    "))
    return "\n".join(lines)


def item_events_html(item: Mapping[str, Any], events: list[Mapping[str, Any]], total: int) -> str:
    """An item's events as text in a <pre> (escaped: every reason, error and stderr line is plain text)."""
    shown = f"{len(events):,} of {total:,}" if total > len(events) else f"{total:,}"
    return (f'<div class="line"><span class="seq">#{int(item.get("seq", 0))}</span>'
            f'<span class="name">{product_label(item)}</span><code>{esc(item.get("product_id"))}</code>'
            f'<span class="meta">{esc(item.get("state"))} · {shown} events</span></div>'
            f'<pre class="events">{esc(item_events_text(events))}</pre>')


_KIND_LABELS = {"batch_transition": "batch", "operator_action": "action", "bulk_transition": "items",
                "item_transition": "item", "log": "log"}


def feed_html(events: Iterable[Mapping[str, Any]]) -> str:
    rows = list(events)[:FEED_LIMIT]
    if not rows:
        return '<div class="empty">No actions yet.</div>'
    out = []
    for e in rows:
        kind = e.get("kind") or ""
        colors = BATCH_COLORS if kind == "batch_transition" else ITEM_COLORS
        move = ""
        if e.get("to_state"):
            source = e.get("from_state") or ""
            source_html = " | ".join(badge(s, colors) for s in source.split("|")) if source else ""
            move = f'{source_html}<span class="arrow">→</span>{badge(e.get("to_state"), colors)}' if source_html \
                else badge(e.get("to_state"), colors)
        seq = f'<span class="seq">#{int(e["seq"])}</span>' if e.get("seq") is not None else ""
        out.append(
            f'<div class="event"><div class="line"><span class="time">{clock(e.get("occurred_at"))}</span>'
            f'<span class="kind">{esc(_KIND_LABELS.get(kind, kind))}</span>{seq}{move}'
            f'<span class="actor">by {esc(e.get("actor") or "?")}</span></div>'
            f'<div class="reason">{esc(e.get("reason"))}</div></div>')
    return "".join(out)


# --------------------------------------------------------------------------- plan preview
def plan_html(summary: Any) -> str:
    """A plan's summary (engine.plan.PlanSummary): totals, estimate, categories and command.

    HTML, not Markdown: Markdown would turn the ``**`` or ``[x](...)`` in a category into formatting.
    """
    est, cfg = summary.estimate, summary.settings
    brands, workers = len(summary.brands), cfg.workers
    categories = ", ".join(f'<span class="cat">{esc(k)}</span>&nbsp;{v:,}' for k, v in summary.categories.items())
    basis = est.basis_text or ("from past runs" if est.basis == "history" else "profile default")
    rows = [("Estimated jobs", f"{est.job_count:,} (at most {est.max_job_count:,} with retries)"),
            ("Estimated runtime", f"{esc(est.runtime_text)} with {workers} worker{'s' if workers != 1 else ''} — "
                                  f"{est.seconds_per_product_low:.0f}–{est.seconds_per_product_high:.0f} s per product"),
            ("Estimate basis", esc(basis)),
            ("Quality gate", esc(gate_words(cfg.min_required_coverage))
             + (" (below it a product needs review)" if cfg.min_required_coverage > 0 else "")),
            ("Categories", categories)]
    if cfg.runner == "command" and cfg.command:
        rows.append(("Command", f"<code>{esc(shlex.join(cfg.command))}</code>"))
    return (f'<div class="plan"><div class="plan-title">{summary.total:,} products across {brands} '
            f'brand{"s" if brands != 1 else ""}</div>'
            + "".join(f'<div class="plan-line"><b>{label}</b> {value}</div>' for label, value in rows) + "</div>")


def snapshot_html(cfg: Any) -> str:
    """The settings frozen into a batch (engine.core.settings.BatchSettings), as a one-row table."""
    snapshot = {"profile": cfg.profile.value, "runner": cfg.runner,
                "LLM provider / model": f"{cfg.llm_provider} / {cfg.llm_model}", "workers": cfg.workers,
                "max run s": f"{cfg.max_run_seconds:g}", "max attempts": cfg.max_attempts,
                "domain cooldown / concurrency": f"{cfg.domain_cooldown_seconds:g} s / {cfg.domain_concurrency}",
                "provider rate": f"{cfg.provider_rate_per_minute:g}/min",
                "quality gate": gate_words(cfg.min_required_coverage)}
    return (section("Settings snapshot frozen into the batch") + '<table class="fields"><thead><tr>'
            + "".join(f"<th>{esc(k)}</th>" for k in snapshot) + "</tr></thead><tbody><tr>"
            + "".join(f"<td>{esc(v)}</td>" for v in snapshot.values()) + "</tr></tbody></table>")


def alert(text: Any, kind: str = "info") -> str:
    """A message box (info, success, warning, danger, secondary) holding ``text`` as text."""
    return f'<div class="alert {kind}">{esc(text)}</div>'


def _link(url: Any) -> str:
    """An http(s) URL as a link that opens a new tab; anything else (javascript:, file:) as plain text."""
    text = esc(url)
    if isinstance(url, str) and url.lower().startswith(("http://", "https://")):
        return f'<a href="{text}" target="_blank" rel="noopener noreferrer">{text}</a>'
    return text


def _confidence(value: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return '<span class="meta">–</span>'
    pct = max(0.0, min(1.0, float(value))) * 100
    color = "#16a34a" if pct >= 80 else ("#d97706" if pct >= 50 else "#dc2626")
    return (f'<span class="conf"><span class="bar"><span style="width:{pct:.0f}%;background:{color}"></span></span>'
            f'{pct:.0f}%</span>')


def fields_html(fields: Iterable[Mapping[str, Any]], text: Any = str) -> str:
    """An outcome's fields with their evidence: value and unit, confidence, tier, conflict, source, snippet."""
    rows = list(fields)
    if not rows:
        return '<div class="empty">No fields in this outcome.</div>'
    body = []
    for f in rows:
        value = " ".join(x for x in (text(f.get("value")), str(f.get("unit") or "")) if x)
        conflict = '<span class="pill bad">conflict</span>' if f.get("conflict") else ""
        tier = f'<span class="tier">{esc(f.get("tier"))}</span>' if f.get("tier") else ""
        snippet = f'<code>{esc(f.get("snippet_id"))}</code>' if f.get("snippet_id") else ""
        body.append(f'<tr><td class="fname">{esc(f.get("field"))}</td><td class="fval">{esc(value)} {conflict}</td>'
                    f'<td>{_confidence(f.get("confidence"))}</td><td>{tier}</td>'
                    f'<td class="src">{_link(f.get("source_url"))}<div>{snippet}</div></td></tr>')
    return ('<table class="fields"><thead><tr><th>field</th><th>value</th><th>confidence</th><th>tier</th>'
            f'<th>source · snippet</th></tr></thead><tbody>{"".join(body)}</tbody></table>')


def sources_html(sources: Iterable[Mapping[str, Any]]) -> str:
    rows = [s for s in sources if isinstance(s, Mapping)]
    if not rows:
        return ""
    body = []
    for src in rows:
        status = str(src.get("status") or "")
        pill = "bad" if status == "error" else ("retry" if status == "duplicate" else "ok")
        error = f'<div class="err">{esc(src.get("error"))}</div>' if src.get("error") else ""
        body.append(f'<tr><td><span class="tier">{esc(src.get("tier"))}</span></td>'
                    f'<td class="src">{_link(src.get("url"))}{error}</td>'
                    f'<td><span class="pill {pill}">{esc(status)}</span></td></tr>')
    return ('<table class="fields"><thead><tr><th>tier</th><th>source</th><th>status</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')


CSS = """
:host { font-family: inherit; font-size: 13.5px; color: #1e293b; width: 100%; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px; }
.badge { display: inline-block; color: #fff; border-radius: 999px; padding: 1px 9px; font-size: 11.5px;
         font-weight: 600; letter-spacing: .02em; text-transform: uppercase; margin-right: 6px; white-space: nowrap; }
.head .title { font-size: 22px; font-weight: 650; margin-bottom: 4px; }
.head .idline { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; margin-bottom: 2px; }
.head .bid { font-size: 14px; background: #f1f5f9; padding: 2px 6px; border-radius: 4px; word-break: break-all; }
.head .meta { color: #64748b; }
.result-badge { display: inline-block; color: #fff; border-radius: 6px; padding: 2px 12px; font-size: 14px;
                font-weight: 700; letter-spacing: .03em; text-transform: uppercase; margin-right: 4px; white-space: nowrap; }
.head .why { margin-top: 4px; color: #334155; overflow-wrap: anywhere; white-space: pre-wrap; }
.head .why .k, .k { color: #64748b; }
.obar { display: flex; height: 14px; border-radius: 7px; overflow: hidden; background: #e2e8f0; margin: 4px 0 4px 0; }
.obar .seg { display: block; height: 100%; }
.legend { display: flex; flex-wrap: wrap; gap: 2px 14px; color: #475569; font-size: 12.5px; margin-bottom: 4px; }
.legend .key { display: inline-flex; align-items: center; gap: 5px; }
.legend .swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; }
.progress-line .result-text { font-size: 15px; font-weight: 600; }
.group { padding: 4px 2px; }
.group .reason-text { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12.5px;
                      color: #991b1b; overflow-wrap: anywhere; white-space: pre-wrap; }
.group .count { font-weight: 700; font-size: 15px; margin-right: 6px; }
pre.events { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; white-space: pre-wrap;
             overflow-wrap: anywhere; background: #f8fafc; border: 1px solid #e2e8f0; border-radius: 6px; padding: 8px;
             margin: 6px 0 0 0; max-height: 360px; overflow-y: auto; }
.head .warn { color: #b91c1c; margin-top: 4px; font-weight: 600; }
.progress-line { display: flex; flex-wrap: wrap; gap: 4px 10px; align-items: baseline; font-size: 14px; }
.progress-line .done { font-size: 18px; }
.progress-line .sep { color: #cbd5e1; }
.progress-line .band, .progress-line .speed { color: #475569; }
.empty { color: #94a3b8; padding: 6px 2px; }
.more { color: #64748b; padding-top: 4px; }
.run, .fail, .event { padding: 6px 2px; border-bottom: 1px solid #f1f5f9; }
.line { display: flex; align-items: baseline; gap: 8px; flex-wrap: wrap; }
.line.sub { color: #64748b; }
.seq { color: #64748b; font-variant-numeric: tabular-nums; }
.name { font-weight: 600; overflow-wrap: anywhere; }
.meta, .actor, .time { color: #64748b; font-size: 12.5px; font-variant-numeric: tabular-nums; }
.actor { margin-left: auto; }
.kind { font-size: 11px; text-transform: uppercase; color: #475569; background: #f1f5f9; border-radius: 4px; padding: 0 5px; }
.trail { margin-top: 4px; display: flex; flex-wrap: wrap; align-items: center; gap: 2px; }
.ph { font-size: 11.5px; padding: 1px 7px; border-radius: 999px; color: #94a3b8; border: 1px solid #e2e8f0; }
.ph.past { color: #16a34a; border-color: #bbf7d0; background: #f0fdf4; }
.ph.now { color: #fff; background: #2563eb; border-color: #2563eb; font-weight: 600; }
.arrow { color: #94a3b8; margin: 0 3px; }
.err { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px; color: #991b1b;
       background: #fef2f2; border-radius: 4px; padding: 3px 6px; margin-top: 3px; overflow-wrap: anywhere; white-space: pre-wrap; }
.reason { color: #334155; margin-top: 2px; overflow-wrap: anywhere; }
.pill { font-size: 11px; border-radius: 999px; padding: 0 7px; font-weight: 600; }
.pill.bad { background: #fee2e2; color: #991b1b; }
.pill.retry { background: #fef3c7; color: #92400e; }
.pill.ok { background: #dcfce7; color: #166534; }
table.fields { width: 100%; border-collapse: collapse; margin-top: 8px; table-layout: auto; }
table.fields th { text-align: left; font-weight: 600; color: #475569; background: #f5f7fa; padding: 5px 8px;
                  border-bottom: 1px solid #e2e8f0; font-size: 12.5px; }
table.fields td { padding: 5px 8px; border-bottom: 1px solid #f1f5f9; vertical-align: top; }
td.fname { font-weight: 600; overflow-wrap: anywhere; min-width: 7em; }
td.fval, td.src { overflow-wrap: anywhere; min-width: 7em; }
td.src a { color: #1d4ed8; text-decoration: none; }
.tier { font-size: 11.5px; background: #eef2ff; color: #3730a3; border-radius: 4px; padding: 1px 6px;
        display: inline-block; max-width: 12em; overflow-wrap: anywhere; }
.conf { display: inline-flex; align-items: center; gap: 6px; white-space: nowrap; font-variant-numeric: tabular-nums; }
.conf .bar { display: inline-block; width: 46px; height: 6px; background: #e2e8f0; border-radius: 3px; overflow: hidden; }
.conf .bar span { display: block; height: 100%; }
.alert { border-radius: 6px; padding: 8px 12px; font-size: 14px; }
.alert.danger { background: #fef2f2; color: #991b1b; border: 1px solid #fecaca; }
.alert.warning { background: #fffbeb; color: #92400e; border: 1px solid #fde68a; }
.alert.success { background: #f0fdf4; color: #166534; border: 1px solid #bbf7d0; }
.alert.info { background: #eff6ff; color: #1e40af; border: 1px solid #bfdbfe; }
.alert.secondary { background: #f8fafc; color: #475569; border: 1px solid #e2e8f0; }
.plan { overflow-wrap: anywhere; }
.plan-title { font-size: 24px; font-weight: 650; margin: 4px 0 8px 0; }
.plan-line { line-height: 1.5; }
.plan .cat { font-weight: 500; }
.section { font-size: 15px; font-weight: 650; color: #0f172a; }
.kv { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; }
.kv .k { color: #64748b; }
"""

BUTTON_CSS = """
.bk-btn:disabled, .bk-btn[disabled] { opacity: 0.38; filter: grayscale(70%); cursor: not-allowed; }
.bk-btn { font-weight: 600; }
"""

CARD_STYLES = {"background": "#ffffff", "border": "1px solid #e2e8f0", "border-radius": "10px",
               "padding": "10px 14px", "box-shadow": "0 1px 2px rgba(15, 23, 42, 0.04)"}


def section(title: str, note: str = "") -> str:
    extra = f' <span class="meta">{esc(note)}</span>' if note else ""
    return f'<div class="section">{esc(title)}{extra}</div>'

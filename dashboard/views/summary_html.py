"""The Batch Run Summary's HTML fragments: header, outcome bar, progress line, running items, failures, failure
groups, needs review, one item's events and the action feed. Built from plain status dicts; every data value
escaped (``esc``). Pure functions, no Panel.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from dashboard.views.formats import (
    as_datetime,
    badge,
    clock,
    duration,
    esc,
    gate_words,
    product_label,
    rate,
    result_badge,
    stamp,
)
from dashboard.views.theme import BATCH_COLORS, ITEM_COLORS, OUTCOME_COLORS, RESULT_COLORS
from engine.core.states import PHASES

OUTCOME_WORDS = {"succeeded": "succeeded", "needs_review": "need review", "failed": "failed", "skipped": "skipped",
                 "stopped": "stopped"}

FEED_LIMIT = 30

RUNNING_LIMIT = 8

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
            + (f'<div class="bname" style="font-weight:600">{esc(batch["name"])}</div>' if batch.get("name") else "")
            + f'<div class="meta">{" · ".join(m for m in meta if m)}</div>{why}{warn}</div>')

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

def newer_html(newer: Mapping[str, Any]) -> str:
    """The banner over a batch the view did not leave: a newer one exists (its name, id and state, as text)."""
    if not newer:
        return ""
    name = f'{esc(newer.get("name"))} ' if newer.get("name") else ""
    return (f'<div class="newer"><b>A newer batch is {esc(newer.get("state"))}:</b> {name}'
            f'<code>{esc(newer.get("batch_run_id"))}</code></div>')

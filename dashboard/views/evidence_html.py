"""A product outcome's evidence as HTML: its fields (value, confidence, tier, conflict, source, snippet) and the
sources it read. Every value escaped; only http(s) URLs become links."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dashboard.views.formats import esc
from dashboard.views.theme import var


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
    color = var("green-600") if pct >= 80 else (var("amber-600") if pct >= 50 else var("red-600"))
    return (f'<span class="conf"><span class="bar"><span style="width:{pct:.0f}%;background:{color}"></span></span>'
            f'{pct:.0f}%</span>')

def _snippet(f: Mapping[str, Any]) -> str:
    """The source's words, as text in a quote that wraps anywhere (a 1,000-character word stays in the card) and
    isolates its bidi controls; its id is the tooltip. Without the words (an outcome stored before they were kept,
    or a runner that gives none) the id."""
    ident = f.get("snippet_id")
    if f.get("snippet"):
        title = f' title="snippet {esc(ident)}"' if ident else ""
        return f'<blockquote class="snippet quote"{title}>{esc(f["snippet"])}</blockquote>'
    return f'<div class="snippet">snippet <code>{esc(ident)}</code></div>' if ident else ""

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
        snippet = _snippet(f)
        source = _link(f.get("source_url")) if f.get("source_url") else '<span class="meta">no source</span>'
        body.append(f'<tr class="fhead"><td class="fname">{esc(f.get("field"))}</td>'
                    f'<td class="fval">{esc(value)} {conflict}</td>'
                    f'<td>{_confidence(f.get("confidence"))}</td><td>{tier}</td></tr>'
                    f'<tr class="fsrc"><td></td><td class="src" colspan="3">{source}{snippet}</td></tr>')
    # the source and snippet on a row of their own, under the value: a URL gets the card's width, not a sliver
    return ('<table class="fields"><colgroup><col style="width:24%"><col><col style="width:96px">'
            '<col style="width:118px"></colgroup><thead><tr><th>field</th><th>value · source · snippet</th>'
            f'<th>confidence</th><th>tier</th></tr></thead><tbody>{"".join(body)}</tbody></table>')

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
    return ('<table class="fields"><colgroup><col style="width:110px"><col><col style="width:100px"></colgroup>'
            '<thead><tr><th>tier</th><th>source</th><th>status</th></tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table>')

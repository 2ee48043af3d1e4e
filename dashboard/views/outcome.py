"""A product's latest outcome with its evidence (in History; the builder's grid opens it by a product id click).

The state lives in the view's params: ``show(product_id)`` reads off the event loop, and ``_render`` redraws the
two panes from ``outcome``, ``product``, ``error`` and ``product_id``. Product text is escaped (``esc``).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import panel as pn
import param

from dashboard.views.evidence_html import fields_html, sources_html
from dashboard.views.formats import clock, esc, product_label, section
from dashboard.views.offloop import off_loop, schedule
from dashboard.views.theme import HTML_CSS, ROOT_CSS
from engine.core.errors import IndexLabError

log = logging.getLogger(__name__)

NO_PRODUCT = ('<div class="section">Product outcome</div><div class="empty">Pick a product (an item of a batch, or a '
              'row of the builder grid) to see its latest outcome and evidence.</div>')


def field_text(value: Any) -> str:
    """A field value as one line of text, per type: lists joined ('Wired, 2.4 GHz'), numbers with thousands
    separators, booleans Yes/No, objects as 'key: value' pairs."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.0f}" if value.is_integer() else f"{value:,.6g}" if abs(value) < 1000 else f"{value:,.1f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(field_text(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {field_text(v)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False, default=str)


def _pct(value: Any) -> str:
    return f"{100 * value:.0f}%" if isinstance(value, (int, float)) else "–"


def outcome_head_html(product_id: str | None, outcome: dict | None, product: dict, error: str, *,
                      wanted_batch: str | None = None) -> str:
    """Which product, and its outcome in numbers (or why there is none), naming the batch it came from; when the
    operator opened another batch (``wanted_batch``) that has none for this product, it says so."""
    if product_id is None:
        return NO_PRODUCT
    o, p = outcome, product
    label = product_label(p) or esc(product_id)
    head = (f'<div class="section">{label}</div><div class="meta"><code>{esc(product_id)}</code>'
            f'{" · " + esc(p["category"]) if p.get("category") else ""}</div>')
    if o is None:
        return head + f'<div class="empty">{esc(error or "Loading…")}</div>'
    s = o.get("summary") or {}
    missing = ", ".join(esc(m) for m in s.get("missing") or []) or "none"
    runner = " ".join(str(x) for x in (s.get("runner"), s.get("profile")) if x)
    source = o.get("batch_run_id")
    if wanted_batch and source != wanted_batch:
        head += (f'<div class="alert warning">Batch <code>{esc(wanted_batch)}</code> has no outcome for this product: '
                 f'shown is its latest outcome, from batch <code>{esc(source)}</code>.</div>')
    return head + (
        '<div class="kv" style="margin-top:6px">'
        f'<span class="k">{"outcome" if wanted_batch == source else "latest outcome"}</span>'
        f'<span>from batch <code>{esc(source)}</code> · '
        f'item #{int(o.get("seq") or 0)} · attempt {int(o.get("attempt") or 0)} · '
        f'{clock(o.get("recorded_at"), date=True)} UTC</span>'
        f'<span class="k">coverage</span><span>{_pct(o.get("coverage"))}</span>'
        f'<span class="k">confidence</span><span>{_pct(o.get("confidence"))}</span>'
        f'<span class="k">conflicts</span><span>{int(o.get("conflicts") or 0)}</span>'
        f'<span class="k">missing</span><span>{missing}</span>'
        + (f'<span class="k">runner</span><span>{esc(runner)}</span>' if runner else "")
        + '</div>')


def evidence_html(outcome: dict | None) -> str:
    """The outcome's fields with their evidence, and the sources it read."""
    fields = (outcome or {}).get("fields") or []
    sources = ((outcome or {}).get("summary") or {}).get("sources") or []
    parts = []
    if outcome is not None:
        parts.append('<div style="height:10px"></div>')
        parts.append(section("Fields and evidence", f"{len(fields)} field{'s' if len(fields) != 1 else ''}"))
        parts.append(fields_html(fields, field_text))
    if sources:
        parts.append('<div style="height:10px"></div>' + section("Sources", f"{len(sources)}"))
        parts.append(sources_html(sources))
    return "".join(parts)


class OutcomeView(pn.viewable.Viewer):
    """A product's latest outcome with its evidence. ``show(product_id)`` from any callback (the builder's grid)."""

    product_id = param.String(default=None, allow_None=True, doc="The product shown; None before one is picked.")
    outcome = param.Dict(default=None, allow_None=True, doc="service.outcome(product_id): quality, summary and fields.")
    product = param.Dict(default={}, doc="The product's catalog row (brand, model, variant, category), if still there.")
    error = param.String(default="", doc="Why there is no outcome to show (never run, unknown product).")
    loading = param.Boolean(default=False, doc="A read is under way.")
    batch_run_id = param.String(default=None, allow_None=True, doc="The batch the product was clicked in: its "
                                "outcome is preferred, and the view says when the one shown is from another batch.")

    def __init__(self, context: Any, **params: Any) -> None:
        self.context = context
        super().__init__(**params)
        self.head = pn.pane.HTML(NO_PRODUCT, sizing_mode="stretch_width", stylesheets=[HTML_CSS], margin=(0, 0),
                                 css_classes=["outcome-head"])
        self.evidence = pn.pane.HTML("", sizing_mode="stretch_width", stylesheets=[HTML_CSS], margin=(0, 0),
                                     css_classes=["outcome-evidence"])
        self._spinner = pn.indicators.LoadingSpinner(value=True, size=22, visible=self.param.loading, margin=(4, 0))

    @param.depends("product_id", "outcome", "product", "error", "batch_run_id", watch=True)
    def _render(self) -> None:
        # A watcher, not a bound reference: with ``pn.bind`` as the panes' object the browser test of History once
        # (in four runs) saw the head fall back to "Pick a product" after showing the outcome; cause not found.
        self.head.object = outcome_head_html(self.product_id, self.outcome, self.product, self.error,
                                             wanted_batch=self.batch_run_id)
        self.evidence.object = evidence_html(self.outcome)

    # ------------------------------------------------------------------ reading
    def show(self, product_id: str, batch_run_id: str | None = None) -> None:
        """Show ``product_id``'s outcome (in ``batch_run_id`` if it has one, else its latest); the read runs off the
        event loop when served."""
        self.param.update(product_id=product_id, batch_run_id=batch_run_id, outcome=None, product={}, error="")
        schedule(self.load_async)

    def load(self) -> None:
        """Read the outcome now, in this thread."""
        if self.product_id is not None:
            self._apply(*self._read(self.product_id))

    async def load_async(self) -> None:
        wanted = self.product_id
        if wanted is None:
            return
        self.loading = True
        try:
            result = await off_loop(self._read, wanted)
        except Exception as exc:  # never leave the card saying "Loading…": say what went wrong
            log.exception("reading the outcome of %r failed", wanted)
            result = (None, {}, f"The outcome could not be read: {type(exc).__name__}: {exc}")
        finally:
            self.loading = False
        if wanted == self.product_id:  # a newer show() wins
            self._apply(*result)

    def _read(self, product_id: str) -> tuple[dict | None, dict, str]:
        products = self.context.catalog.products
        rows = products.loc[products["product_id"] == product_id]
        product = {k: v for k, v in rows.iloc[0].to_dict().items() if isinstance(v, (str, int, float))} if len(rows) else {}
        try:
            return self.context.service.outcome(product_id, self.batch_run_id), product, ""
        except IndexLabError as exc:
            return None, product, exc.message

    def _apply(self, outcome: dict | None, product: dict, error: str) -> None:
        self.param.update(outcome=outcome, product=product, error=error)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self._spinner, self.head, self.evidence, sizing_mode="stretch_width", margin=0,
                         stylesheets=[ROOT_CSS])

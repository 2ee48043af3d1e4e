"""The dashboard page. A placeholder until the Batch Run Builder lands: it shows the catalog and the store."""

from __future__ import annotations

import html

import panel as pn

from dashboard.context import AppContext, get_context


def create_app(db: str | None = None, catalog: str | None = None, context: AppContext | None = None) -> pn.viewable.Viewable:
    ctx = context or get_context(db=db, catalog=catalog)
    summary = ctx.catalog.summary()
    batches = ctx.store.list_batches(limit=10)
    rows = "\n".join(
        f"| `{b['batch_run_id']}` | {b['state']} | {b['item_count']} | {b['created_at']:%Y-%m-%d %H:%M:%S} UTC |"
        for b in batches
    ) or "| - | - | - | - |"
    body = pn.pane.Markdown(
        f"""
## Batch Run Builder

The grid, brand order, preview and live summary are on their way. Plans made with
`indexlab plan` are stored in **{html.escape(str(ctx.store.path))}**.

**Catalog** {html.escape(summary['source'])}: {summary['products']} products,
{summary['brands']} brands, {len(summary['category_counts'])} categories,
{summary['problems']} problems.

| batch | state | items | created |
|---|---|---|---|
{rows}
""",
        sizing_mode="stretch_width",
    )
    header = pn.pane.Markdown("# IndexLab Batch", sizing_mode="stretch_width")
    return pn.Column(header, body, sizing_mode="stretch_width", margin=(10, 30))


if __name__.startswith("bokeh"):  # `panel serve dashboard/app.py --plugins dashboard.api`
    create_app().servable(title="IndexLab Batch")

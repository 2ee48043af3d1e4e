"""The Batch Run Builder alone, for browser tests and bench/ui.py, until the app mounts it as a tab.

    INDEXLAB_DB=... INDEXLAB_CATALOG=... panel serve tests/browser/apps/builder_app.py --port N

A line under the builder shows the preview's item count and first brands, so tests can see that
the preview follows the selection and the brand order.
"""

import html
import warnings

import panel as pn

from dashboard.context import get_context
from dashboard.views.builder import BatchRunBuilder
from dashboard.views.state import BuilderState

warnings.filterwarnings("ignore", category=DeprecationWarning, module="bokeh")


def preview_text(preview, error: str, pending: bool) -> str:
    if pending:
        text = "preview: updating"
    elif preview is None:
        text = f"preview: {error}"
    else:
        brands = ", ".join(b.brand for b in preview.summary.brands[:5])
        text = f"preview: {preview.summary.total:,} items; brands {brands}"
    return f'<span class="preview-text">{html.escape(text)}</span>'



def create() -> pn.viewable.Viewable:
    state = BuilderState(get_context().service, live_preview=False)
    line = pn.pane.HTML(pn.bind(preview_text, state.param.preview, state.param.preview_error,
                                state.param.preview_pending), css_classes=["preview-line"])
    return pn.Column(BatchRunBuilder(state=state), line, sizing_mode="stretch_width", margin=(10, 20))


if __name__.startswith("bokeh"):
    create().servable(title="IndexLab Batch - Batch Run Builder")

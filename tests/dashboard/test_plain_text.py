"""Catalog text reaches the filters and the plan summary as text (the browser side: tests/browser/test_hostile_text.py)."""

from __future__ import annotations

import html

import pytest

from dashboard.views.builder import BatchRunBuilder
from dashboard.views.plan_html import plan_html
from dashboard.views.state import BuilderState
from engine.core.catalog import Catalog
from engine.service import BatchService
from tests.support.catalogs import products_frame

IMG = "<img src=x onerror=alert(1)>"
MD = "**<b>x</b>** [l](javascript:alert(2))"
ROWS = [("p-1", MD, IMG, "M1", ""), ("p-2", "mouse", "Zowie", "M2", ""), ("p-3", IMG, MD, "M3", "")]


@pytest.fixture
def state(store) -> BuilderState:
    products = products_frame(ROWS).sort_values("product_id").reset_index(drop=True)
    return BuilderState(BatchService(store, Catalog(products=products, problems=(), source="test")))


@pytest.mark.parametrize("name, param", [("chips", "brand_filter"), ("categories", "category_filter")])
def test_filters_send_escaped_labels_and_keep_the_raw_values(state, name, param):
    """Choices.js sets a label as innerHTML: an escaped label reads as the text itself."""
    view = BatchRunBuilder(state=state)
    view.__panel__().get_root()
    widget = view._widgets[name]
    labels = widget._process_param_change({"options": widget.options})["options"]
    assert html.escape(IMG) in labels and html.escape(MD) in labels and IMG not in labels and MD not in labels
    picked = widget._process_property_change({"value": [html.escape(IMG)]})["value"]
    assert picked == [IMG]  # the browser's pick is the raw catalog value again
    widget.value = picked
    assert getattr(state, param) == [IMG]


def test_plan_summary_shows_categories_as_text_not_markdown(state):
    state.select_all()
    page = plan_html(state.preview.summary)
    assert IMG not in page and MD not in page  # no markup of the catalog's survives
    assert f"{html.escape(MD)}</span>&nbsp;1" in page and f"{html.escape(IMG)}</span>&nbsp;1" in page

"""What a served page receives, in the order it receives it: every model a message names reached the page before it
(or in it). A red CI run: "Select Brand", then Plan Preview, on a loaded machine; the browser threw "reference p1214
isn't known" (and p1215, p1211): the preview's chart changes overtook the message that first sent the chart."""

from __future__ import annotations

import panel as pn
import pytest

from dashboard.context import AppContext
from dashboard.views.preview import PlanPreview
from dashboard.views.run_state import RunState
from dashboard.views.state import BuilderState
from dashboard.views.summary import BatchRunSummary
from engine.core.catalog import Catalog
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.catalogs import products_frame
from tests.support.page_order import served


@pytest.fixture
def service(store):
    rows = [(f"p{i:03d}", "mouse", ["Logitech", "Razer", "Zowie"][i % 3], f"M{i}", "") for i in range(30)]
    engine = BatchEngine(store).open()
    yield BatchService(store, Catalog(products=products_frame(rows), problems=(), source="t"), engine)
    engine.close()


def test_a_preview_arriving_as_its_tab_is_shown_names_only_models_the_page_has(service):
    """The builder computes a preview off the loop and hands it back in a next-tick callback (``follow_preview``);
    the Plan Preview tab was shown just before, its models still in Panel's queue (the socket was busy). The chart's
    range, figure and source took Bokeh's own path and reached the page before the tab that holds them."""
    state = BuilderState(service, live_preview=False)
    state.select_brand("Razer")  # the preview is pending, computed off the loop
    tabs = pn.Tabs(("Batch Run Builder", pn.pane.HTML("builder")), ("Plan Preview", PlanPreview(state=state)),
                   dynamic=True)
    with served(tabs) as page:
        tabs.active = 1  # the operator opens Plan Preview: its models are rendered and sent
        assert page.arrivals(), "showing the tab sent nothing"
        ticket, request = state.preview_ticket()
        assert state.apply_preview(ticket, *state.compute_preview(request))  # what follow_preview's show() does
        assert page.unknown_references() == []
        assert page.connection.by_bokeh == [], "a change took Bokeh's own path, ahead of Panel's queue"


@pytest.fixture
def context(store, service):
    return AppContext(store, service.catalog, service.engine, service)


def test_a_chart_point_arriving_as_the_summary_is_shown_names_only_models_the_page_has(context):
    """The summary's periodic tick streams chart points into Bokeh models directly: the same race, on its charts."""
    run = RunState(context)
    summary = BatchRunSummary(run=run, restore_on_load=False)
    tabs = pn.Tabs(("Batch Run Builder", pn.pane.HTML("builder")), ("Batch Run Summary", summary), dynamic=True)
    with served(tabs) as page:
        tabs.active = 1
        assert page.arrivals(), "showing the tab sent nothing"
        point = {"t": 1.7e12, "completed": 1, "failed": 0, "recent_per_hour": 60.0, "overall_per_hour": 60.0}
        run.param.update(series=[point], series_version=run.series_version + 1)
        summary._stream()  # what each tick does first
        assert page.unknown_references() == []
        assert page.connection.by_bokeh == [], "a change took Bokeh's own path, ahead of Panel's queue"
    summary.stop()

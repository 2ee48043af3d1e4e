"""dashboard.views.app: what a page load builds. Tabs other than the builder are built when first shown."""

from __future__ import annotations

import panel as pn
import pytest

from dashboard.context import AppContext
from dashboard.views.app import TABS, build_tabs
from dashboard.views.sessions import live_session_objects
from engine.core.catalog import load_catalog
from engine.core.limits import FakeClock
from engine.core.plan import PlanRequest, Selection
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.inline import InlineExecutor
from tests.support.polling import wait_until

LATER = {"PlanPreview", "BatchRunSummary", "History"}


@pytest.fixture
def context(store):
    catalog = load_catalog()
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), clock=FakeClock(), background=False).open()
    yield AppContext(store, catalog, engine, BatchService(store, catalog, engine))
    engine.close()


def test_a_page_load_builds_only_the_tab_it_shows(context):
    """Most page loads never open the other tabs; their widgets were two thirds of a session's objects."""
    tabs = build_tabs(context)
    tabs.get_root()
    assert not LATER & set(live_session_objects())
    tabs.active = TABS.index("History")
    assert "History" in live_session_objects()
    assert not {"PlanPreview", "BatchRunSummary"} & set(live_session_objects())


def test_a_page_load_restores_the_live_batch_and_opens_its_summary(context):
    """Page-load work runs through pn.state.onload (off the loop when served): the session follows the running
    batch and opens on its Summary."""
    request = PlanRequest(selection=Selection(brands=["Razer"]), settings={"runner": "noop"}, confirm_large=True)
    batch = context.service.plan(request).batch_run_id
    context.service.start(batch)
    tabs = build_tabs(context)
    wait_until(lambda: tabs.active == TABS.index("Batch Run Summary"), timeout=10, message="never opened the summary")


def test_panels_stylesheets_come_from_this_server_before_the_page_is_rendered(context):
    """Panel points a document's models at its CDN until the page's HTML sets ``dist_url``; models made before that
    (page-load work) kept the CDN address and the browser asked cdn.holoviz.org for loading.css."""
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from dashboard.views.app import create_app

    doc = Document()
    with set_curdoc(doc):
        create_app(context=context)
        root = pn.pane.HTML("x", loading=True).get_root(doc)
    urls = [str(s.url) for s in root.stylesheets if hasattr(s, "url")]
    assert urls and not [u for u in urls if "cdn" in u or u.startswith("http")], urls
    assert any(u.startswith("static/extensions/panel/css/loading.css") for u in urls), urls


def test_a_component_rendered_without_the_sessions_document_takes_its_stylesheets_from_this_server(monkeypatch):
    """Panel falls back to its CDN where a document has no ``dist_url`` (a component rendered on its own gets a fresh
    document): the Bootstrap design's sheets then came from cdn.holoviz.org (a red CI run: the GUI proof's page asked
    for bootstrap.min.css and theme/bootstrap*.css). A serving process takes them from this server."""
    import panel.io.resources as resources
    import panel.reactive as reactive
    from bokeh.document import Document
    from panel.theme import Bootstrap

    from dashboard.views.local_css import keep_css_local

    for module in (resources, reactive):  # put Panel back as it was after this test
        monkeypatch.setattr(module, "patch_stylesheet", module.patch_stylesheet)
    keep_css_local(Document())
    root = pn.widgets.Button(label="x", design=Bootstrap).get_root()  # a document of its own, with no dist_url
    urls = [str(s.url) for s in root.stylesheets if hasattr(s, "url")]
    assert any("bootstrap.min.css" in u for u in urls), urls  # the design's sheets are there: the check proves something
    assert [u for u in urls if u.startswith("http")] == [], urls
    assert all(u.startswith("static/extensions/panel/") for u in urls), urls

"""dashboard.views.app: what a page load builds. Tabs other than the builder are built when first shown."""

from __future__ import annotations

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

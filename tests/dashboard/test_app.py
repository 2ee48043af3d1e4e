"""dashboard.views.app: what a page load builds. Tabs other than the builder are built when first shown."""

from __future__ import annotations

import pytest

from dashboard.context import AppContext
from dashboard.views.app import TABS, build_tabs
from dashboard.views.sessions import live_session_objects
from engine.core.catalog import load_catalog
from engine.core.limits import FakeClock
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.inline import InlineExecutor

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

"""dashboard.views.running: the Running & queued tab over a real engine holding two batches (one running, one queued)."""

from __future__ import annotations

import asyncio

import pytest

from dashboard.context import AppContext
from dashboard.views.running import RunningNow, budget_html
from engine.core.catalog import load_catalog
from engine.core.limits import FakeClock
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import Capacity
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.inline import InlineExecutor

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def view(store):
    catalog = load_catalog()
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), clock=FakeClock(), background=False,
                         capacity=Capacity(max_workers=2, max_running_batches=1)).open()
    service = BatchService(store, catalog, engine)
    ids = []
    for brand, name in (("Razer", "razer first"), ("Logitech", EVIL)):
        request = PlanRequest(selection=Selection(brands=[brand]), settings={"runner": "noop"}, confirm_large=True,
                              name=name)
        ids.append(service.plan(request).batch_run_id)
        service.start(ids[-1])
    running_now = RunningNow(AppContext(store, catalog, engine, service), refresh=False)
    running_now.refresh_now()
    yield running_now, ids
    engine.close()


def test_it_lists_the_running_batch_then_the_queue_with_places_and_the_budget(view):
    running_now, (first, second) = view
    frame = running_now.table.value
    assert list(frame["batch_run_id"]) == [first, second]
    assert list(frame["state"]) == ["running", "queued"]
    assert list(frame["queue"]) == ["", "1"] and frame.iloc[1]["name"] == EVIL  # a Tabulator cell: plain text
    assert "0</b> of <b>2</b> worker slots" in budget_html(running_now.now)
    assert "1</b> of <b>1</b> batches running · <b>1</b> queued" in budget_html(running_now.now)
    assert "jobs run in this server's threads" in budget_html(running_now.now)


def test_the_budget_line_names_the_dask_cluster_and_links_its_dashboard_as_escaped_text():
    executor = {"executor": "dask", "workers": 3, "worker_threads": 6, "scheduler": f"tcp://10.0.0.5:8786{EVIL}",
                "status": "running", "dashboard_link": 'http://10.0.0.5:8787/status"><script>x</script>'}
    line = budget_html({"rows": [], "max_workers": 6, "max_running_batches": 2, "executor": executor})
    assert "jobs run on Dask: <b>3</b> workers, <b>6</b> threads at tcp://10.0.0.5:8786&lt;img" in line
    assert "<script>" not in line and "<img" not in line
    assert 'href="http://10.0.0.5:8787/status&quot;&gt;&lt;script&gt;' in line
    away = budget_html({"rows": [], "max_workers": 6, "max_running_batches": 2,
                        "executor": {**executor, "status": "unreachable", "dashboard_link": "javascript:alert(1)"}})
    assert "(unreachable)" in away and "href" not in away


def test_a_priority_out_of_range_is_refused_with_its_reason_and_nothing_changes(view):
    running_now, (first, _) = view
    running_now.selected = first
    running_now.priority.value = 10
    # (the input's own bounds stop 11 in the browser; the service refuses it anyway)
    asyncio.run(running_now._change("set_priority", 11, "Priority"))
    assert running_now.failed and "priority" in running_now.message.lower()
    assert running_now.service.status(first)["priority"] == 5


def test_moving_a_running_batch_in_the_queue_is_refused_and_the_buttons_say_so(view):
    running_now, (first, second) = view
    running_now.selected = first
    assert running_now.move_button.disabled  # only a queued batch has a place in the queue
    asyncio.run(running_now._change("move_in_queue", 1, "Queue place"))
    assert running_now.failed and running_now.message
    running_now.selected = second
    assert not running_now.move_button.disabled


def test_priority_and_workers_change_the_batch_audited_as_the_dashboard(view):
    running_now, (first, _) = view
    running_now.selected = first
    running_now.priority.value, running_now.workers.value = 9, 3
    asyncio.run(running_now.apply_priority())
    asyncio.run(running_now.apply_workers())
    assert not running_now.failed, running_now.message
    status = running_now.service.status(first)
    assert (status["priority"], status["workers"]) == (9, 3)
    events, _ = running_now.service.events(first, limit=1000)
    actions = [e for e in events if e["kind"] == "operator_action" and e["actor"] == "dashboard"]
    assert any("priority" in e["reason"] for e in actions) and any("workers" in e["reason"] for e in actions)
    row = running_now.table.value.iloc[0]
    assert (row["priority"], row["workers"]) == (9, 3)

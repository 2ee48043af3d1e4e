"""Plan Preview: guards on Start Batch, and the start flow (plan, start, hand over to the summary)."""

import asyncio
import threading

import pytest

from dashboard.views.preview import PlanPreview
from dashboard.views.state import BuilderState
from engine.core.catalog import Catalog
from engine.run.engine import BatchEngine
from engine.runners import register
from engine.service import BatchService
from tests.support.catalogs import products_frame


@pytest.fixture
def service(store):
    rows = [(f"p{i:03d}", "mouse", ["Logitech", "Razer", "Zowie"][i % 3], f"M{i}", "") for i in range(300)]
    engine = BatchEngine(store).open()
    yield BatchService(store, Catalog(products=products_frame(rows), problems=(), source="t"), engine)
    engine.close()


def test_start_is_disabled_without_a_selection(service):
    preview = PlanPreview(state=BuilderState(service))
    assert preview.start_button.disabled and not preview.confirm.visible


def test_large_selection_needs_the_confirmation_box(service):
    state = BuilderState(service, runner="noop")
    preview = PlanPreview(state=state)
    state.select_all()
    assert preview.confirm.visible and preview.start_button.disabled and "300 items" in preview.confirm.label
    preview.confirm_large = True
    assert not preview.start_button.disabled
    state.invert_selection()
    state.select_all()  # a new preview asks again
    assert preview.confirm_large is False


def test_small_selection_can_start_at_once(service):
    state = BuilderState(service, runner="noop")
    preview = PlanPreview(state=state)
    state.select_brand("Razer")
    assert not preview.start_button.disabled and not preview.confirm.visible


def test_start_batch_plans_starts_and_hands_over_the_id(service):
    state = BuilderState(service, runner="noop")
    started = []
    preview = PlanPreview(state=state, on_started=started.append)
    state.select_brand("Zowie")
    state.select_brand("Razer")
    state.to_top("Zowie")
    asyncio.run(preview.start_batch())
    assert len(started) == 1 and preview.message == ""
    assert service.engine.wait_idle(10)
    items, total = service.items(started[0])
    assert total == 200 and items["brand"].iloc[0] == "Zowie"
    assert service.status(started[0])["state"] == "completed"


def test_start_failure_is_shown_not_raised(service):
    """Another batch is running: the preview says so and stays usable."""
    gate = threading.Event()

    @register("wait-for-gate")
    def wait_for_gate(product, settings, ctx):
        while not gate.wait(0.01):
            ctx.cancel.raise_if_cancelled()
        return {}

    blocking = BuilderState(service, runner="wait-for-gate")
    blocking.select_brand("Logitech")
    service.start(service.plan(blocking.plan_request()).batch_run_id)
    state = BuilderState(service, runner="noop")
    preview = PlanPreview(state=state)
    state.select_brand("Zowie")
    try:
        asyncio.run(preview.start_batch())
        assert "one batch runs at a time" in preview.message and not preview.busy and not preview.start_button.disabled
    finally:
        gate.set()
        service.engine.wait_idle(10)


def test_server_defaults_start_the_form_and_hold_the_command(store):
    from engine.core.settings import BatchSettings

    rows = [(f"p{i}", "mouse", "Zowie", f"M{i}", "") for i in range(3)]
    defaults = BatchSettings(runner="command", command=["python", "job.py"], workers=3)
    service = BatchService(store, Catalog(products=products_frame(rows), problems=(), source="t"), defaults=defaults)
    state = BuilderState(service)
    assert state.runner == "command" and state.workers == 3
    state.workers = 1
    assert state.settings().command == ["python", "job.py"] and state.settings().workers == 1
    preview = PlanPreview(state=state)
    assert "command" in preview.settings_form().widget("runner").options
    state.select_all()
    assert "python job.py" in str(preview.summary().objects[0].object)


def test_the_command_runner_is_not_offered_without_a_server_command(service):
    preview = PlanPreview(state=BuilderState(service))
    assert "command" not in preview.settings_form().widget("runner").options


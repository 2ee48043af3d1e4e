"""Plan Preview: guards on Start Batch, and the start flow (plan, start, hand over to the summary)."""

import asyncio

import pytest

from dashboard.views.preview import PlanPreview
from dashboard.views.state import BuilderState
from engine.core.catalog import Catalog
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.catalogs import products_frame
from tests.support.plugins import require_example


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
    assert preview.confirm.visible and preview.start_button.disabled and "300 items" in preview.confirm_text
    preview.confirm.value = [preview.confirm_text]  # the operator ticks the box (or clicks its text)
    assert preview.confirm_large and not preview.start_button.disabled
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
    assert service.engine.wait_idle(60)
    items, total = service.items(started[0])
    assert total == 200 and items["brand"].iloc[0] == "Zowie"
    assert service.status(started[0])["state"] == "completed"


def test_start_failure_is_shown_not_raised(service):
    """The batch cannot start (its runner is not in this process): the preview says so and stays usable.
    (It used to be another batch running, refused as "one batch runs at a time": now both run.)"""
    state = BuilderState(service, runner="not-in-this-process")
    preview = PlanPreview(state=state)
    state.select_brand("Zowie")
    asyncio.run(preview.start_batch())
    assert "not-in-this-process" in preview.message and not preview.busy and not preview.start_button.disabled


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



@pytest.mark.parametrize("typed", [0, 500, None])
def test_a_refused_setting_is_named_under_its_field_and_never_reaches_the_state(service, typed):
    state = BuilderState(service, runner="noop")
    preview = PlanPreview(state=state)
    state.select_brand("Razer")
    before = state.workers
    preview.form.widget("workers").value = typed
    assert state.workers == before and state.settings().workers == before
    assert preview.form.errors["workers"].startswith("workers: ") and preview.start_button.disabled
    preview.form.widget("workers").value = 4
    assert state.workers == 4 and preview.form.errors == {} and not preview.start_button.disabled


def test_start_shows_its_progress_before_any_work_and_names_the_actor(service):
    """Feedback first: while the plan is still being saved the button spins and the line says what is happening."""
    state = BuilderState(service, runner="noop")
    preview = PlanPreview(state=state, actor="dashboard:session-1")
    state.select_brand("Razer")
    seen, plan = [], service.plan

    def slow_plan(request, *, actor):
        seen.append((preview.start_button.loading, preview.progress, actor))
        return plan(request, actor=actor)

    service.plan = slow_plan
    asyncio.run(preview.start_batch())
    assert seen == [(True, "Saving the plan of 100 items…", "dashboard:session-1")]
    assert preview.progress == "" and not preview.start_button.loading
    batch = service.latest_batch_id()
    # what the operator did carries the session's actor; what the engine did on its own (dispatch, finish) is its own
    assert {e["actor"] for e in service.events(batch)[0] if e["actor"] and e["actor"] != "engine"} == {
        "dashboard:session-1"}
    assert {e["actor"] for e in service.events(batch)[0] if e["kind"] != "item_transition"} == {"dashboard:session-1"}


def test_a_broken_plugin_is_offered_and_why_it_cannot_run_is_shown_as_text(service, plugin_site):
    """Issue #16: listing runners imports no plugin, so a broken one is in the list; its preview says why it cannot
    start here, the plugin's own words as text, and Start is refused with the same reason."""
    plugin_site.add("acme-broken", {"acme_broken": "acme_broken_mod:run"},
                    {"acme_broken_mod": "raise RuntimeError('<img src=x onerror=alert(1)>')\n"})
    state = BuilderState(service, runner="acme_broken")
    preview = PlanPreview(state=state)
    assert "acme_broken" in preview.settings_form().widget("runner").options
    state.select_brand("Zowie")
    html = "".join(str(getattr(part, "object", "")) for part in preview.summary().objects)
    assert "RuntimeError: &lt;img src=x onerror=alert(1)&gt;" in html and "<img" not in html
    assert "acme-broken 1.0" in html
    asyncio.run(preview.start_batch())
    assert "cannot be loaded" in preview.message and not preview.busy


def test_an_installed_plugin_is_offered_in_the_runner_list(service):
    require_example()
    preview = PlanPreview(state=BuilderState(service))
    assert "example_specs" in preview.settings_form().widget("runner").options


def test_the_first_items_table_keeps_its_columns_from_no_selection_to_a_preview_and_back(service):
    """Panel's Tabulator applies a change of columns even while the browser is still building the table, which
    throws ("reading 'firstChild'", a red CI run of tests/browser/test_offline.py): the columns must never change."""
    state = BuilderState(service, runner="noop")
    preview = PlanPreview(state=state)
    columns = list(preview.first_items.value.columns)
    assert columns == ["seq", "brand", "model", "variant", "product_id", "category"]
    state.select_brand("Razer")
    assert list(preview.first_items.value.columns) == columns and len(preview.first_items.value) > 0
    state.clear_all()
    assert list(preview.first_items.value.columns) == columns and preview.first_items.value.empty

"""Batch names and tags, the filtered batch list, archive and delete: service and store on a real DuckDB file."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from engine.core.catalog import Catalog
from engine.core.errors import IllegalTransition, NotFound, PlanError
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.service import BatchService
from tests.support.catalogs import SMALL_ROWS, product_rows, products_frame

SQLISH = ["'; DROP TABLE batches; --", "%", "_", "\\", "x' OR '1'='1", "[]", "NULL"]


@pytest.fixture
def service(store, inline_engine):
    return BatchService(store, Catalog(products=product_rows(6), problems=(), source="test"), engine=inline_engine)


def _plan(service: BatchService, **request) -> str:
    request.setdefault("selection", Selection(all=True))
    request.setdefault("settings", BatchSettings(runner="scripted", retry_backoff_seconds=1.0))
    return service.plan(PlanRequest(confirm_large=True, **request)).batch_run_id


def _finished(service, script, fate: str | None = None, **request) -> str:
    batch = _plan(service, **request)
    if fate:
        script.default = fate
    service.start(batch)
    service.engine.drain()
    script.default = "ok"
    return batch


def _ids(service, **filters) -> list[str]:
    return [b["batch_run_id"] for b in service.batches(limit=100, **filters)]


# --------------------------------------------------------------------------- names and tags
def test_a_plan_without_a_name_is_named_after_its_selection(store):
    service = BatchService(store, Catalog(products=products_frame(SMALL_ROWS), problems=(), source="t"))
    mice = _plan(service, selection=Selection(categories=["mouse"], brands=["Logitech", "Razer"]))
    every = _plan(service)
    assert store.get_batch(mice)["name"] == "Logitech + Razer mouse, 5 products"
    assert store.get_batch(every)["name"] == "Logitech + 4 more brands, 3 categories, 10 products"


def test_a_plan_keeps_its_name_and_normalised_tags(service):
    batch = _plan(service, name="  Re-scan   of <b>mice</b> ", tags=[" Q4 ", "q4", "Mice"])
    row = service.batch(batch)
    assert (row["name"], row["tags"]) == ("Re-scan of <b>mice</b>", ["q4", "mice"])


@pytest.mark.parametrize(("name", "words"), [
    ("x" * 10_000, "10,000 characters, more than 120"), ("a\x00b", "control character (U+0000)"),
    ("a\ud800b", "lone surrogate (U+D800)"), ("  ", "empty"), ("line\nbreak", "control character (U+000A)"),
])
def test_a_bad_name_is_refused_naming_the_field_and_nothing_changes(service, name, words):
    batch = _plan(service, name="kept")
    with pytest.raises(PlanError, match=re.escape(words)) as refused:
        service.rename(batch, name)
    assert refused.value.field == "name"
    assert service.batch(batch)["name"] == "kept"
    with pytest.raises(ValueError, match="name"):
        PlanRequest(selection=Selection(all=True), name=name)


@pytest.mark.parametrize(("tags", "words"), [
    (["a,b"], "comma"), (["x" * 41], "more than 40"), ([f"t{i}" for i in range(21)], "21 tags, more than 20"),
    (["\x07bell"], "control character"), ([""], "empty"),
])
def test_bad_tags_are_refused_naming_the_field(service, tags, words):
    batch = _plan(service, tags=["keep"])
    with pytest.raises(PlanError, match=re.escape(words)) as refused:
        service.set_tags(batch, add=tags)
    assert refused.value.field == "tags" and service.batch(batch)["tags"] == ["keep"]


def test_rename_and_retag_are_audited_operator_actions(service, store):
    batch = _plan(service, name="first", tags=["a", "b"])
    service.rename(batch, "second", actor="ana")
    summary = service.set_tags(batch, add=["C", "a"], remove=["b"], actor="ana")
    assert (summary["name"], summary["tags"]) == ("second", ["a", "c"])
    actions = [e for e in store.events(batch) if e["kind"] == "operator_action"]
    assert [(e["actor"], e["reason"]) for e in actions] == [
        ("ana", "renamed from 'first' to 'second'"), ("ana", "tags changed from ['a', 'b'] to ['a', 'c']")]
    assert actions[0]["data"] == {"name": {"from": "first", "to": "second"}}


def test_renaming_an_unknown_batch_is_not_found(service):
    with pytest.raises(NotFound):
        service.rename("no-such-batch", "x")


# --------------------------------------------------------------------------- the filtered list
def test_filters_by_state_name_tag_and_date_server_side(service):
    planned = _plan(service, name="Razer re-scan", tags=["q4"])
    other = _plan(service, name="Logitech", tags=["q3"])
    assert _ids(service, state="planned") == [other, planned]
    assert _ids(service, name="RAZER") == [planned] and _ids(service, name=other) == [other]
    assert _ids(service, tag="Q4 ") == [planned]
    assert _ids(service, tag="never-used") == [] and _ids(service, tag="a,b") == []  # unknown: empty, not an error
    now = datetime.now(UTC)
    assert _ids(service, since=now - timedelta(minutes=5), until=now + timedelta(minutes=5)) == [other, planned]
    assert _ids(service, since=now + timedelta(minutes=5)) == []
    assert _ids(service, until=now.date()) == [other, planned]  # a date alone: to the end of that day
    assert _ids(service, since=now.date() + timedelta(days=1)) == []


@pytest.mark.parametrize("text", SQLISH)
def test_sql_like_text_in_filters_is_only_text(service, store, text):
    named = _plan(service, name=f"a {text} b")
    _plan(service, name="plain")
    assert _ids(service, name=text) == [named]
    assert _ids(service, tag=text) == []
    assert len(store.list_batches()) == 2  # nothing dropped, nothing else matched


def test_the_result_filter_is_computed_in_sql_and_pages_correctly(service, script):
    ok = [_finished(service, script) for _ in range(3)]
    bad = [_finished(service, script, "fatal") for _ in range(2)]
    _plan(service)  # planned: no result
    assert _ids(service, result="succeeded") == ok[::-1]
    assert _ids(service, result="failed") == bad[::-1]
    assert _ids(service, result="partial") == []
    pages = [service.batch_list(result="succeeded", limit=2, offset=o) for o in (0, 2)]
    assert [[b["batch_run_id"] for b in p] for p, _ in pages] == [ok[::-1][:2], ok[::-1][2:]]
    assert {total for _, total in pages} == {3}
    assert all(b["result"] == "succeeded" for p, _ in pages for b in p)  # the SQL agrees with triage.batch_result


def test_a_partial_batch_filters_as_partial(service, script):
    batch = _plan(service)
    first = service.items(batch)[0]["product_id"][0]
    script.plan[first] = ["fatal"]
    service.start(batch)
    service.engine.drain()
    assert service.batch_with_counts(batch)["result"] == "partial" and _ids(service, result="partial") == [batch]


def test_an_unknown_state_or_result_is_refused_naming_the_field(service):
    for field in ("state", "result"):
        with pytest.raises(PlanError) as refused:
            service.batches(**{field: "done'; --"})
        assert refused.value.field == field


def test_running_time_and_throughput(service, script, store):
    batch = _finished(service, script)
    row = service.batch_with_counts(batch)
    assert row["running_s"] is not None and row["running_s"] >= 0
    planned = service.batches(state="planned") or [service.batch_with_counts(_plan(service))]
    assert planned[0]["running_s"] == 0 and planned[0]["items_per_minute"] is None


# --------------------------------------------------------------------------- archive and delete
def test_deleting_or_archiving_a_running_batch_is_refused_and_nothing_changes(service, store, script):
    batch = _plan(service, name="busy")
    service.start(batch)
    before = (store.get_batch(batch), store.counts_by_state(batch), store.count_events(batch))
    for action in (service.delete, service.archive):
        with pytest.raises(IllegalTransition, match="running: only a planned, completed or stopped batch"):
            action(batch)
    assert (store.get_batch(batch), store.counts_by_state(batch), store.count_events(batch)) == before
    service.engine.drain()


def test_a_paused_batch_cannot_be_deleted(service, store):
    batch = _plan(service)
    service.start(batch)
    service.pause(batch)
    with pytest.raises(IllegalTransition, match="is paused"):
        service.delete(batch)
    assert store.get_batch(batch)["state"] == "paused"


def test_archive_hides_a_batch_until_asked_and_unarchive_shows_it(service, script, store):
    batch = _finished(service, script)
    kept = _plan(service)
    service.archive(batch, actor="ana")
    assert _ids(service) == [kept]
    assert _ids(service, archived=True) == [kept, batch]
    assert service.batch_list()[1] == 1
    service.unarchive(batch, actor="ana")
    assert _ids(service) == [kept, batch]
    reasons = [e["reason"] for e in store.events(batch) if e["kind"] == "operator_action"]
    assert reasons[-2:] == ["archived", "unarchived"]


def test_delete_removes_everything_of_the_batch_in_one_go_and_leaves_an_audit_record(service, script, store):
    batch = _finished(service, script, name="gone", tags=["old"], settings=BatchSettings(runner="fielded"))
    kept = _finished(service, script)

    def rows_of(cur, table: str) -> int:
        return cur.execute(f"SELECT count(*) FROM {table} WHERE batch_run_id = ?", [batch]).fetchone()[0]

    with store._cursor() as cur:
        assert {t: rows_of(cur, t) for t in ("batch_items", "product_outcomes", "outcome_fields")} == {
            "batch_items": 6, "product_outcomes": 6, "outcome_fields": 12}
    record = service.delete(batch, actor="ana")
    assert record == {"batch_run_id": batch, "deleted": True, "actor": "ana", "name": "gone", "state": "completed",
                      "item_count": 6, "tags": ["old"]}
    with pytest.raises(NotFound):
        service.batch(batch)
    with store._cursor() as cur:
        left = {t: rows_of(cur, t) for t in ("batch_items", "product_outcomes", "outcome_fields")}
        kinds = [r[0] for r in cur.execute("SELECT kind FROM batch_events WHERE batch_run_id = ?", [batch]).fetchall()]
    assert left == {"batch_items": 0, "product_outcomes": 0, "outcome_fields": 0} and kinds == ["batch_deleted"]
    [audit] = store.deleted_batches()
    assert (audit["batch_run_id"], audit["actor"], audit["name"], audit["item_count"]) == (batch, "ana", "gone", 6)
    assert "deleted completed batch 'gone' with 6 items" in audit["reason"]
    assert store.count_items(kept) == 6 and _ids(service) == [kept]
    with pytest.raises(NotFound):
        service.delete(batch)


def test_a_failed_delete_changes_nothing(service, script, store, monkeypatch):
    batch = _finished(service, script)
    import engine.store.admin as admin
    monkeypatch.setattr(admin, "DELETE_BATCH", (*admin.DELETE_BATCH[:3], "DELETE FROM no_such_table"))
    with pytest.raises(Exception, match="no_such_table"):
        service.delete(batch)
    assert store.count_items(batch) == 6 and store.count_events(batch) > 0 and store.deleted_batches() == []


def test_a_deleted_batch_is_forgotten_by_the_engine_that_ran_it(service, script, store):
    """The engine holds the batch it last ran (its live status, its items): after a delete neither status nor a
    retry may act on it (a retry wrote item moves and events for rows that no longer existed)."""
    batch = _finished(service, script, "fatal")
    assert service.status(batch)["counts"]["failed"] == 6  # loaded and cached by the engine
    service.delete(batch)
    with pytest.raises(NotFound):
        service.retry_failed(batch)
    with pytest.raises(NotFound):
        service.status(batch)
    with store._cursor() as cur:
        kinds = [r[0] for r in cur.execute("SELECT kind FROM batch_events WHERE batch_run_id = ?", [batch]).fetchall()]
    assert kinds == ["batch_deleted"]


@pytest.mark.parametrize("text", ["\udcff", "a\x00b", "\ud800x"])
def test_text_that_is_not_storable_in_a_filter_matches_nothing_and_is_no_error(service, text):
    """An argument of undecodable bytes reaches Python as lone surrogates (surrogateescape); DuckDB refused it."""
    _plan(service, name="plain")
    assert _ids(service, name=text) == [] and _ids(service, tag=text) == []

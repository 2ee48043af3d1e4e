"""History without a browser: names, tags, duration and throughput columns, the filter bar (read server-side, paged)
and the archive / delete actions with their confirmation. A real Store, BatchEngine and service."""

from __future__ import annotations

import asyncio
import threading

import panel as pn
import pytest

from dashboard.context import AppContext
from dashboard.views.history import History, detail_html
from dashboard.views.summary_html import header_html
from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.service import BatchService
from engine.store import Store
from tests.support.catalogs import product_rows
from tests.support.polling import wait_until, wait_until_async

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def context(tmp_path):
    store = Store(tmp_path / "history.duckdb")
    catalog = Catalog(products=product_rows(6), problems=(), source="test")
    engine = BatchEngine(store, abandon_grace=0.5).open()
    yield AppContext(store, catalog, engine, BatchService(store, catalog, engine))
    engine.close()
    store.close()


def _plan(ctx: AppContext, *, run: bool = False, **request) -> str:
    batch = ctx.service.plan(PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner="noop"),
                                         **request)).batch_run_id
    if run:
        ctx.service.start(batch)
        wait_until(lambda: ctx.service.status(batch)["state"] == "completed", timeout=20)
    return batch


def _names(history: History) -> list[str]:
    history.batches.load()
    return list(history.batches.frame["name"])


def test_history_rows_show_name_tags_duration_and_throughput(context):
    done = _plan(context, run=True, name=EVIL, tags=["Q4"])
    history = History(context)
    history.batches.load()
    row = history.batches.frame.iloc[0].to_dict()
    assert (row["name"], row["batch_run_id"], row["tags"], row["result"]) == (EVIL, done, "q4", "succeeded")
    assert row["duration"] and row["throughput"]
    history.open_now(done)
    html = detail_html(done, history.detail)
    assert EVIL not in html and "&lt;img src=x onerror=alert(1)&gt;" in html and "q4" in html
    head = header_html(done, {}, context.service.batch(done))
    assert EVIL not in head and "&lt;img src=x onerror=alert(1)&gt;" in head


def test_the_filter_bar_reads_only_matching_batches_with_their_total(context):
    _plan(context, name="alpha one", tags=["a"])
    _plan(context, name="beta", tags=["b"])
    _plan(context, run=True, name="alpha done")
    history = History(context)
    assert _names(history) == ["alpha done", "beta", "alpha one"]
    history.filters.contains = "ALPHA"
    assert _names(history) == ["alpha done", "alpha one"] and history.batches.total == 2
    history.filters.state = "planned"
    assert _names(history) == ["alpha one"]
    history.filters.clear()
    history.filters.tag = "nobody"
    assert _names(history) == []  # an unknown tag: nothing, not an error
    assert history.batches.error == ""
    history.filters.clear()
    history.filters.result = "succeeded"
    assert _names(history) == ["alpha done"]


def test_archive_and_delete_from_history_with_confirmation(context):
    batch = _plan(context, run=True, name="old run")
    kept = _plan(context, name="kept")
    history = History(context)
    history.__panel__()
    history.open_now(batch)
    asyncio.run(history.actions.archive())
    assert history.actions.message == "Archived batch old run." and _names(history) == ["kept"]
    history.filters.archived = True
    assert _names(history) == ["kept", "old run"]
    history.actions.ask_delete()
    assert history.actions.confirming and "cannot be undone" in history.actions._confirm_html(True, history.detail)
    asyncio.run(history.actions.confirm_delete())
    assert history.selected is None and _names(history) == ["kept"]
    assert history.actions.message == "Deleted batch old run."  # closing the deleted batch keeps the news
    assert [r["batch_run_id"] for r in context.store.deleted_batches()] == [batch]
    assert context.service.batch(kept)["name"] == "kept"


def test_a_running_batch_cannot_be_archived_from_history(context):
    batch = _plan(context, name="busy")
    history = History(context)
    history.__panel__()
    history.open_now(batch)
    # a stale view: the batch moved on since it was opened (set here in the file; the store refuses by the state
    # it reads inside its own transaction)
    with context.store._transaction() as cur:
        cur.execute("UPDATE batches SET state = 'running' WHERE batch_run_id = ?", [batch])
    asyncio.run(history.actions.archive())
    assert history.actions.failed and "is running: only a planned, completed or stopped batch" in history.actions.message
    assert context.service.batch(batch)["archived_at"] is None


def test_delete_waits_for_the_opened_batch_and_its_question_survives_a_refresh(context):
    """Opening another batch reads its row off the event loop. Meanwhile Delete… was still enabled for the batch
    opened before: a click there asked about (and a confirmation deleted) that batch, or the row arriving a moment
    later cancelled the question (a red browser run under CPU load)."""
    old = _plan(context, run=True, name="old run")
    new = _plan(context, name="new")
    history = History(context)
    history.__panel__()
    history.open_now(old)
    delete = next(b for b in history.actions.__panel__().select(pn.widgets.Button) if "history-delete" in b.css_classes)
    assert not delete.disabled
    read, gate = history._read_detail, threading.Event()
    history._read_detail = lambda batch_run_id: (gate.wait(10), read(batch_run_id))[1]  # a slow read

    async def open_new_and_delete() -> None:
        opening = asyncio.create_task(history.open_async(new))
        await wait_until_async(lambda: history.selected == new, timeout=5)
        assert delete.disabled and history.actions.detail == {}  # its row is not read yet: nothing to act on
        history.actions.ask_delete()  # a click that left the page before the button was disabled
        assert not history.actions.confirming
        gate.set()
        await opening
        assert not delete.disabled
        history.actions.ask_delete()
        await history.refresh_async()  # the opened batch re-read (a refresh, a move in this session's view)
        assert history.actions.confirming
        await history.actions.confirm_delete()

    asyncio.run(open_new_and_delete())
    assert [r["batch_run_id"] for r in context.store.deleted_batches()] == [new]
    assert context.service.batch(old)["name"] == "old run"

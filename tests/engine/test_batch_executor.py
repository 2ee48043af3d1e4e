"""A batch's ``executor`` setting picks where its jobs run among what the server offers (engine/run/pools.py): a
server without a cluster refuses ``dask`` when planning, starting, retrying, admitting from the queue and after a
restart, each time saying why, and changes nothing."""

from __future__ import annotations

import pytest

from engine.core.catalog import Catalog
from engine.core.errors import IllegalTransition, PlanError
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.service import BatchService
from tests.support.catalogs import product_rows
from tests.support.inline import InlineExecutor


def _request(**settings) -> PlanRequest:
    return PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner="scripted", **settings),
                       confirm_large=True)


def test_a_server_without_a_cluster_refuses_a_dask_plan_naming_what_it_offers(store, inline_engine):
    service = BatchService(store, Catalog(products=product_rows(3), problems=(), source="test"), inline_engine)
    before = len(service.recent_batches(limit=10))
    with pytest.raises(PlanError) as refused:
        service.plan(_request(executor="dask"))
    assert refused.value.field == "settings.executor" and "offers 'local'" in refused.value.message
    with pytest.raises(PlanError):
        service.preview(_request(executor="dask"))
    assert len(service.recent_batches(limit=10)) == before  # nothing saved
    assert service.executor_kinds() == ["local"]


def test_a_dask_batch_planned_elsewhere_does_not_start_here_and_stays_planned(store, inline_engine, plan_batch):
    batch = plan_batch(3, executor="dask")  # planned without an engine (as `indexlab plan --executor dask` does)
    with pytest.raises(IllegalTransition) as refused:
        inline_engine.start(batch)
    assert "executor 'dask' is not offered" in refused.value.message and refused.value.field == "settings.executor"
    assert store.get_batch(batch)["state"] == "planned"
    status = BatchService(store, Catalog(products=product_rows(3), problems=(), source="test"),
                          inline_engine).status(batch)
    assert status["executor"]["executor"] == "dask" and status["executor"]["status"] == "not offered by this server"


def test_a_local_batch_runs_on_a_local_server(store, inline_engine, plan_batch, script):
    batch = plan_batch(3, executor="local")
    inline_engine.start(batch)
    inline_engine.drain()
    assert inline_engine.status(batch)["counts"]["completed"] == 3
    assert inline_engine.executor_info("local")["executor"] == "local"


class FakeCluster:
    """An executor factory that says it is a cluster (as engine/dask's does), running chunks inline."""

    kind = "dask"

    def __call__(self, workers: int) -> InlineExecutor:
        return InlineExecutor()


def test_a_server_with_a_cluster_offers_it_first_and_its_own_threads(store):
    engine = BatchEngine(store, executor_factory=FakeCluster(), background=False)
    assert engine.pools.kinds == ("dask", "local")
    assert engine.executor_info()["offered"] == ["dask", "local"]
    assert engine.executor_info("local")["executor"] == "local"


def test_a_dask_batch_running_when_the_server_restarts_without_a_cluster_pauses_saying_why(store, plan_batch, script):
    batch = plan_batch(3, executor="dask")
    BatchEngine(store, executor_factory=FakeCluster(), background=False).open().start(batch)  # then the server dies
    assert store.get_batch(batch)["state"] == "running"
    engine = BatchEngine(store, executor_factory=lambda n: InlineExecutor(), background=False).open()
    try:
        stored = store.get_batch(batch)
        assert stored["state"] == "paused", stored
        assert "executor 'dask' is not offered" in stored["reason"], stored["reason"]
        assert (store.items(batch)["state"] == "queued").all()
    finally:
        engine.close()

"""A batch's executor over HTTP (issue #16): the API may choose among the executors the server offers, never more.
This server runs on its own threads only: a plan asking for Dask is refused (422, naming the field and what is
offered) and nothing is saved; the status and the queue say where a batch's jobs run and what a plan may choose."""

from __future__ import annotations

from tests.support.api import B


def test_a_plan_asking_for_an_executor_the_server_does_not_offer_is_refused_and_saves_nothing(api):
    before = api.get(B, params={"limit": 100}).json()["total"]
    response = api.post("plan", {"selection": {"brands": ["Zowie"]}, "settings": {"runner": "noop", "executor": "dask"}})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == "settings.executor" and "offers 'local'" in error["message"], error
    assert api.get(B, params={"limit": 100}).json()["total"] == before


def test_an_executor_that_is_not_a_kind_is_invalid_and_an_address_is_never_one(api):
    for value in ("tcp://10.0.0.5:8786", "spark", 3):
        response = api.post("plan", {"selection": {"all": True}, "settings": {"runner": "noop", "executor": value}})
        assert response.status_code == 422 and response.json()["error"]["field"] == "settings.executor", response.text


def test_a_local_batch_says_where_it_runs_and_what_the_server_offers(api):
    response = api.post("plan", {"selection": {"brands": ["Zowie"]}, "settings": {"runner": "noop", "executor": "local"}})
    assert response.status_code in (200, 201), response.text
    batch = response.json()["batch_run_id"]
    executor = api.status(batch)["executor"]
    assert executor["executor"] == "local" and executor["offered"] == ["local"], executor
    assert api.get("/api/v1/indexlab/queue").json()["executor"]["offered"] == ["local"]

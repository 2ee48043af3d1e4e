"""The REST API against a real server: every endpoint, every client error, and the full lifecycle."""

import json
import re
from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.support.api import error
from tests.support.polling import wait_until

B = "/api/v1/indexlab/batch"
ISO_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def plan(api, **body) -> dict:
    body.setdefault("selection", {"brands": ["Zowie"]})
    body.setdefault("settings", {"runner": "noop"})
    response = api.post("plan", body)
    assert response.status_code == 201, response.text
    return response.json()


def finish(api, batch: str) -> None:
    """Leave no batch running for the next test: open the gate and wait for the end."""
    api.gate.touch()
    wait_until(lambda: api.status(batch)["state"] in ("completed", "stopped", "paused"), timeout=60)


# --------------------------------------------------------------------------- read endpoints
def test_healthz(api):
    body = api.get("/healthz").json()
    assert body["status"] == "ok" and body["catalog_products"] == 240 and ISO_UTC.match(body["time"])
    assert body["running_batch_run_ids"] == []
    assert body["executor"]["executor"] == "local" and body["executor"]["worker_threads"] == body["executor"]["max_workers"]


def test_openapi_document_is_valid_openapi_31(api):
    from openapi_spec_validator import validate

    doc = api.get("/api/v1/openapi.json").json()
    validate(doc)
    for path in ("plan", "start", "pause", "resume", "stop", "{batch_run_id}/status", "{batch_run_id}/items"):
        assert f"{B}/{path}" in doc["paths"]


def test_plan_returns_the_summary_in_run_order_with_stable_ids(api):
    body = plan(api, selection={"brands": ["Zowie", "Razer"]}, brand_order=["Zowie"])
    assert body["state"] == "planned" and ISO_UTC.match(body["created_at"]) and body["total"] == 120
    assert [b["brand"] for b in body["brands"]] == ["Zowie", "Razer"]
    assert body["first_items"][0]["brand"] == "Zowie" and body["estimate"]["job_count"] == 120


def test_items_page_in_seq_order_with_filters_and_total(api):
    batch = plan(api, selection={"brands": ["Zowie", "Razer"]})["batch_run_id"]
    page = api.get(f"{B}/{batch}/items", params={"offset": 10, "limit": 5}).json()
    assert page["total"] == 120 and [i["seq"] for i in page["items"]] == [11, 12, 13, 14, 15]
    razer = api.get(f"{B}/{batch}/items", params={"brand": "razer", "state": "queued", "limit": 1000}).json()
    assert razer["total"] == 60 and {i["brand"] for i in razer["items"]} == {"Razer"}
    assert all(ISO_UTC.match(i["queued_at"]) for i in razer["items"])


def test_list_is_newest_first(api):
    first, second = plan(api)["batch_run_id"], plan(api)["batch_run_id"]
    ids = [b["batch_run_id"] for b in api.get(B, params={"limit": 2}).json()["batches"]]
    assert ids == [second, first]


def test_events_are_paged(api):
    batch = plan(api)["batch_run_id"]
    events = api.get(f"{B}/{batch}/events", params={"limit": 10}).json()
    assert events["total"] == 1 and events["events"][0]["to_state"] == "planned"
    assert ISO_UTC.match(events["events"][0]["occurred_at"])


def test_products_filter_and_page_with_last_run(api):
    body = api.get("/api/v1/indexlab/products", params=[("brand", "Pulsar"), ("search", "model 1"), ("limit", 3)]).json()
    assert body["total"] > 3 and len(body["products"]) == 3 and {p["brand"] for p in body["products"]} == {"Pulsar"}
    assert {p["last_status"] for p in body["products"]} <= {"never run", "completed", "stopped", "failed", "queued",
                                                            "running", "skipped"}


# --------------------------------------------------------------------------- client errors
def test_malformed_json_is_400(api):
    assert error(api.post("plan", "{not json"), 400)["code"] == "malformed_json"


def test_unknown_field_is_422_naming_it(api):
    err = error(api.post("plan", {"selection": {"all": True}, "colour": "red"}), 422)
    assert err["field"] == "colour" and err["code"] == "unknown_field"


def test_wrong_type_is_422_naming_the_field(api):
    err = error(api.post("plan", {"selection": {"all": True}, "settings": {"workers": "many"}}), 422)
    assert err["field"] == "settings.workers"


def test_empty_selection_is_422(api):
    assert error(api.post("plan", {"selection": {}}), 422)["field"] == "selection"


def test_large_plan_without_confirmation_is_409_and_writes_nothing(api):
    before = api.get(B, params={"limit": 1000}).json()["batches"]
    err = error(api.post("plan", {"selection": {"all": True}}), 409)
    assert err["code"] == "confirmation_required" and "240 items" in err["message"]
    assert api.get(B, params={"limit": 1000}).json()["batches"] == before
    assert plan(api, selection={"all": True}, confirm_large=True)["total"] == 240


def test_oversize_body_is_413(api):
    huge = json.dumps({"selection": {"product_ids": ["x" * 100] * 20_000}})
    assert error(api.post("plan", huge), 413)["code"] == "body_too_large"


def test_unknown_batch_is_404_everywhere(api):
    for response in (api.get(f"{B}/nope/status"), api.get(f"{B}/nope/items"), api.get(f"{B}/nope/events"),
                     api.post("start", {"batch_run_id": "nope"}), api.post("stop", {"batch_run_id": "nope"})):
        error(response, 404)


def test_illegal_move_is_409_and_says_the_current_state(api):
    batch = plan(api)["batch_run_id"]
    err = error(api.post("pause", {"batch_run_id": batch}), 409)
    assert "is planned" in err["message"]


def test_bad_query_is_422(api):
    batch = plan(api)["batch_run_id"]
    assert error(api.get(f"{B}/{batch}/items", params={"limit": 0}), 422)["field"] == "limit"
    assert error(api.get(f"{B}/{batch}/items", params={"state": "sleeping"}), 422)["field"] == "state"
    assert error(api.get(f"{B}/{batch}/items", params={"colour": "red"}), 422)["code"] == "unknown_field"
    assert error(api.get(f"{B}/{batch}/items", params={"offset": 10**20}), 422)["field"] == "offset"


def test_wrong_method_and_unknown_route_are_json(api):
    assert error(api.client.put(f"{B}/plan"), 405)["code"] == "http_405"
    assert error(api.get("/api/v1/indexlab/nothing"), 404)["code"] == "no_route"


# --------------------------------------------------------------------------- lifecycle
def test_full_cycle_plan_start_pause_resume_stop_resume_complete(api):
    api.gate.unlink(missing_ok=True)
    batch = plan(api, selection={"brands": ["Pulsar"]}, settings=api.gated_settings(workers=2))["batch_run_id"]
    assert api.post("start", {"batch_run_id": batch}).json()["state"] == "running"
    wait_until(lambda: api.status(batch)["counts"]["running"] == 2)
    running = api.status(batch)["running"]
    assert [r["seq"] for r in running] == [1, 2] and all(ISO_UTC.match(r["started_at"]) for r in running)
    assert api.post("pause", {"batch_run_id": batch}).json()["state"] == "paused"
    assert api.post("resume", {"batch_run_id": batch}).json()["state"] == "running"
    stopping = api.post("stop", {"batch_run_id": batch, "force": False}).json()
    assert stopping["state"] == "stopping"
    api.gate.touch()  # in-flight items finish, the rest become stopped
    wait_until(lambda: api.status(batch)["state"] == "stopped", timeout=30)
    counts = api.status(batch)["counts"]
    assert counts["completed"] == 2 and counts["stopped"] == 58
    assert api.post("resume", {"batch_run_id": batch}).json()["state"] == "running"
    wait_until(lambda: api.status(batch)["state"] == "completed", timeout=60)
    assert api.status(batch)["counts"]["completed"] == 60
    started = [line.split()[1] for line in api.started()]
    assert len(started) == len(set(started)), "no product ran twice"


def test_force_stop_answers_without_waiting_for_the_jobs_and_stops_everything(api):
    api.gate.unlink(missing_ok=True)
    batch = plan(api, selection={"brands": ["Logitech"]}, settings=api.gated_settings())["batch_run_id"]
    api.post("start", {"batch_run_id": batch})
    wait_until(lambda: api.status(batch)["counts"]["running"] == 2)
    response = api.post("stop", {"batch_run_id": batch, "force": True})
    # the gate was never made: the jobs would wait for ever, so an answer at all says force stop did not wait
    assert response.status_code == 200 and not api.gate.exists()
    assert response.json()["state"] == "stopped" and response.json()["counts"]["stopped"] == 60
    finish(api, batch)


def test_two_batches_run_at_once_through_the_api(api):
    """Was test_starting_a_second_batch_while_one_runs_is_409_naming_it: both now run, sharing the server's
    workers (max_workers 4: two each, their own cap)."""
    api.gate.unlink(missing_ok=True)
    first = plan(api, selection={"brands": ["Razer"]}, settings=api.gated_settings())["batch_run_id"]
    second = plan(api, selection={"brands": ["Pulsar"]}, settings=api.gated_settings())["batch_run_id"]
    assert api.post("start", {"batch_run_id": first}).json()["state"] == "running"
    assert api.post("start", {"batch_run_id": second}).json()["state"] == "running"
    wait_until(lambda: len(api.started()) == 4, timeout=30)
    running = {b: api.status(b)["counts"]["running"] for b in (first, second)}
    assert running == {first: 2, second: 2}, running
    health = api.get("/healthz").json()  # names every batch running, not only one of them
    assert sorted(health["running_batch_run_ids"]) == sorted([first, second])
    assert health["active_batch_run_id"] in (first, second)
    for batch in (first, second):
        assert api.post("stop", {"batch_run_id": batch, "force": True}).json()["state"] == "stopped"
    finish(api, first)


def test_retry_and_skip(api):
    api.gate.touch()
    batch = plan(api, selection={"brands": ["Zowie"]}, settings=api.gated_settings(workers=1))["batch_run_id"]
    skipped = api.post("skip", {"batch_run_id": batch, "seqs": [2, 3]})
    assert skipped.json()["count"] == 2 and skipped.json()["status"]["counts"]["skipped"] == 2
    error(api.post("skip", {"batch_run_id": batch, "seqs": [99999]}), 404)
    api.post("start", {"batch_run_id": batch})
    wait_until(lambda: api.status(batch)["state"] == "completed", timeout=60)
    retried = api.post("retry", {"batch_run_id": batch}).json()
    assert retried["count"] == 0
    error(api.post("skip", {"batch_run_id": batch, "seqs": [1]}), 409)


def test_twenty_clients_firing_conflicting_calls_get_only_legal_moves_and_no_500(api, tmp_path):
    api.gate.unlink(missing_ok=True)
    batch = plan(api, selection={"brands": ["Zowie"]}, settings=api.gated_settings())["batch_run_id"]
    actions = ["start", "pause", "resume", "stop", "start", "pause", "resume", "stop"]

    def fire(i: int) -> list[int]:
        codes = []
        with httpx.Client(base_url=api.server.url, timeout=30) as client:
            for j in range(10):
                action = actions[(i + j) % len(actions)]
                body = {"batch_run_id": batch, "force": (i + j) % 5 == 0} if action == "stop" else {"batch_run_id": batch}
                codes.append(client.post(f"{B}/{action}", json=body).status_code)
        return codes

    with ThreadPoolExecutor(20) as pool:
        codes = [c for result in pool.map(fire, range(20)) for c in result]
    assert set(codes) <= {200, 409}, codes
    assert 200 in codes and 409 in codes
    finish(api, batch)
    events = api.get(f"{B}/{batch}/events", params={"limit": 1000}).json()["events"]
    from engine.core.states import check_batch_move

    state = "planned"
    chain = [(e.get("id"), e["occurred_at"], e["from_state"], e["to_state"], e["actor"], e["reason"])
             for e in events if e["kind"] == "batch_transition"]
    for event in (e for e in events if e["kind"] == "batch_transition" and e["from_state"]):
        assert event["from_state"] == state, "\n".join(map(str, chain))
        check_batch_move(event["from_state"], event["to_state"])
        state = event["to_state"]


def test_token_guards_mutating_calls(tmp_path):
    from tests.support.catalogs import write_catalog
    from tests.support.servers import start_server, stop_server

    server = start_server(tmp_path / "t.duckdb", write_catalog(tmp_path / "c.csv", 8), log=tmp_path / "t.log",
                          env={"INDEXLAB_API_TOKEN": "s3cret"})
    try:
        body = {"selection": {"all": True}, "settings": {"runner": "noop"}}
        assert httpx.post(f"{server.url}{B}/plan", json=body).status_code == 401
        assert httpx.post(f"{server.url}{B}/plan", json=body, headers={"Authorization": "Bearer nope"}).status_code == 401
        ok = httpx.post(f"{server.url}{B}/plan", json=body, headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 201
        assert httpx.get(f"{server.url}{B}").status_code == 200
    finally:
        stop_server(server)


def test_commands_are_refused_unless_the_server_allows_them(tmp_path):
    from tests.support.catalogs import write_catalog
    from tests.support.servers import start_server, stop_server

    server = start_server(tmp_path / "c.duckdb", write_catalog(tmp_path / "c.csv", 8), log=tmp_path / "c.log")
    try:
        body = {"selection": {"all": True}, "settings": {"runner": "command", "command": ["rm", "-rf", "/tmp/x"]}}
        err = error(httpx.post(f"{server.url}{B}/plan", json=body), 403)
        assert err["field"] == "settings.command" and "INDEXLAB_API_ALLOW_COMMAND" in err["message"]
        assert httpx.get(f"{server.url}{B}").json()["batches"] == []
    finally:
        stop_server(server)


def test_panel_serve_with_the_api_plugin_serves_both(tmp_path):
    """`panel serve dashboard/views/app.py --plugins dashboard.api`: one process, one engine, both faces."""
    from pathlib import Path

    from tests.support.catalogs import write_catalog
    from tests.support.servers import panel_serve

    app = Path(__file__).resolve().parents[2] / "dashboard" / "views" / "app.py"
    env = {"INDEXLAB_DB": str(tmp_path / "p.duckdb"), "INDEXLAB_CATALOG": str(write_catalog(tmp_path / "c.csv", 12))}
    server = panel_serve(app, log=tmp_path / "panel.log", env=env, plugin=True, timeout=90)
    base = server.url
    try:
        assert httpx.get(f"{base}/healthz").json()["catalog_products"] == 12
        planned = httpx.post(f"{base}{B}/plan", json={"selection": {"all": True}, "settings": {"runner": "noop"}})
        assert planned.status_code == 201
        assert "IndexLab Batch" in httpx.get(f"{base}/app", timeout=30).text
    finally:
        server.stop(timeout=30)


# --------------------------------------------------------------------------- many batches: priority, workers, queue
def test_priority_workers_and_the_queue_through_the_api(api):
    api.gate.unlink(missing_ok=True)
    batch = plan(api, selection={"brands": ["Razer"]}, settings=api.gated_settings(workers=1))["batch_run_id"]
    api.post("start", {"batch_run_id": batch})
    for body, field in (({"priority": 11}, "priority"), ({"priority": 0}, "priority"), ({"priority": "high"}, "priority")):
        assert error(api.post("priority", {"batch_run_id": batch, **body}), 422)["field"] == field
    assert error(api.post("workers", {"batch_run_id": batch, "workers": 0}), 422)["field"] == "workers"
    assert error(api.post("priority", {"batch_run_id": "nope", "priority": 3}), 404)["field"] == "batch_run_id"
    moved = error(api.post("queue/move", {"batch_run_id": batch, "position": 1}), 409)
    assert "is running, not queued" in moved["message"]
    assert (api.status(batch)["priority"], api.status(batch)["workers"]) == (5, 1)  # the refusals changed nothing
    status = api.post("priority", {"batch_run_id": batch, "priority": 8}).json()
    assert status["priority"] == 8 and status["queue_position"] is None
    assert api.post("workers", {"batch_run_id": batch, "workers": 2}).json()["workers"] == 2
    wait_until(lambda: len(api.started()) == 2, timeout=30)  # the wider cap applies at once
    events = api.get(f"{B}/{batch}/events", params={"limit": 1000}).json()["events"]
    assert [(e["actor"], e["reason"]) for e in events if e["kind"] == "operator_action"] == [
        ("api", "priority 5 -> 8"), ("api", "workers 1 -> 2")]
    queue = api.get("/api/v1/indexlab/queue").json()
    assert queue["max_workers"] == 4 and queue["max_running_batches"] == 4 and batch in queue["running"]
    assert queue["queued"] == []
    api.post("stop", {"batch_run_id": batch, "force": True})
    finish(api, batch)

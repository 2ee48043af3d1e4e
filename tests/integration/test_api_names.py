"""Names, tags, the filtered list, archive and delete over the REST API of a real server (and `indexlab batch`)."""

from __future__ import annotations

import json

import pytest

from dashboard.cli import main
from tests.support.api import Api, error
from tests.support.polling import wait_until

B = "/api/v1/indexlab/batch"


def _plan(api: Api, **body) -> dict:
    response = api.post("plan", {"selection": {"brands": ["Razer"]}, "settings": {"runner": "noop"}, **body})
    assert response.status_code == 201, response.text
    return response.json()


def _list(api: Api, **params) -> list[str]:
    response = api.get(B, params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [b["batch_run_id"] for b in response.json()["batches"]]


def _run_to_end(api: Api, batch: str) -> None:
    assert api.post("start", {"batch_run_id": batch}).status_code == 200
    wait_until(lambda: api.status(batch)["state"] == "completed", timeout=30, message="the batch completes")


@pytest.mark.parametrize(("name", "words"), [
    ("x" * 10_000, "more than 120"), ("a\u0000b", "control character (U+0000)"), ("", "empty"),
])
def test_a_bad_name_is_a_422_naming_the_field(api, name, words):
    before = api.get(B, params={"archived": "true"}).json()["total"]
    body = error(api.post("plan", {"selection": {"all": True}, "settings": {"runner": "noop"}, "name": name,
                                   "confirm_large": True}), 422)
    assert body["field"] == "name" and words in body["message"]
    batch = _plan(api, name="kept")["batch_run_id"]
    body = error(api.client.post(f"{B}/{batch}/name", json={"name": name}), 422)
    assert body["field"] == "name" and words in body["message"]
    assert api.get(f"{B}/{batch}").json()["name"] == "kept"
    assert api.get(B, params={"archived": "true"}).json()["total"] == before + 1


def test_a_lone_surrogate_in_a_name_is_a_422_naming_the_field(api):
    batch = _plan(api, name="kept")["batch_run_id"]
    raw = '{"name": "a\\ud800b"}'  # valid JSON, not text
    response = api.client.post(f"{B}/{batch}/name", content=raw, headers={"Content-Type": "application/json"})
    assert error(response, 422)["field"] == "name"
    assert api.get(f"{B}/{batch}").json()["name"] == "kept"


def test_a_plan_gets_a_default_name_and_rename_and_tags_are_audited(api):
    plan = _plan(api, tags=["Q4", " q4 "])
    batch = plan["batch_run_id"]
    summary = api.get(f"{B}/{batch}").json()
    assert summary["name"] == "Razer mouse, 60 products" and summary["tags"] == ["q4"]
    hostile = "<img src=x onerror=alert(1)>"
    assert api.client.post(f"{B}/{batch}/name", json={"name": hostile}).json()["name"] == hostile
    tagged = api.client.post(f"{B}/{batch}/tags", json={"add": ["Re-Scan"], "remove": ["q4"]}).json()
    assert tagged["tags"] == ["re-scan"]
    events = api.get(f"{B}/{batch}/events").json()["events"]
    actions = [(e["actor"], e["reason"]) for e in events if e["kind"] == "operator_action"]
    assert actions == [("api", f"renamed from 'Razer mouse, 60 products' to {hostile!r}"),
                       ("api", "tags changed from ['q4'] to ['re-scan']")]
    assert error(api.client.post(f"{B}/{batch}/tags", json={"tags": ["a"], "add": ["b"]}), 422)["field"] is None
    assert error(api.client.post(f"{B}/{batch}/tags", json={"add": ["a,b"]}), 422)["field"] == "tags"
    assert error(api.client.post(f"{B}/no-such-batch/name", json={"name": "x"}), 404)["field"] == "batch_run_id"


def test_list_filters_server_side(api):
    mine = _plan(api, name="Filter target 7f3", tags=["filter-7f3"])["batch_run_id"]
    done = _plan(api, name="Filter done 7f3")["batch_run_id"]
    _run_to_end(api, done)
    assert _list(api, name="TARGET 7F3") == [mine]
    assert _list(api, tag="FILTER-7f3") == [mine]
    assert _list(api, tag="no-such-tag") == []
    assert _list(api, name="7f3", state="completed") == [done]
    assert _list(api, name="7f3", result="succeeded") == [done]
    assert _list(api, name="7f3", result="failed") == []
    assert _list(api, name="7f3", since="2000-01-01", until="2999-12-31") == [done, mine]
    assert _list(api, name="7f3", until="2000-01-01") == []
    page = api.get(B, params={"name": "7f3", "limit": 1, "offset": 1}).json()
    assert page["total"] == 2 and [b["batch_run_id"] for b in page["batches"]] == [mine]
    row = api.get(B, params={"name": "7f3", "state": "completed"}).json()["batches"][0]
    assert row["running_s"] is not None and set(row) >= {"name", "tags", "items_per_minute", "archived_at"}
    for sqlish in ("'; DROP TABLE batches; --", "%", "x' OR '1'='1"):
        assert _list(api, name=sqlish) == [] and _list(api, tag=sqlish) == []
    assert error(api.get(B, params={"state": "done"}), 422)["field"] == "state"
    assert error(api.get(B, params={"result": "maybe"}), 422)["field"] == "result"
    assert error(api.get(B, params={"since": "yesterday"}), 422)["field"] == "since"


def test_deleting_a_running_batch_is_refused_and_nothing_changes(api):
    batch = _plan(api, settings=api.gated_settings(), selection={"brands": ["Razer"]},
                  name="busy")["batch_run_id"]
    assert api.post("start", {"batch_run_id": batch}).status_code == 200
    wait_until(lambda: len(api.started()) >= 1, timeout=30, message="a gated item starts")
    before = api.get(f"{B}/{batch}/events").json()["total"]
    for action, body in (("delete", {"confirm": batch}), ("archive", {})):
        refused = error(api.client.post(f"{B}/{batch}/{action}", json=body), 409)
        assert "is running: only a planned, completed or stopped batch" in refused["message"]
    assert api.get(f"{B}/{batch}").json()["state"] == "running"
    assert api.get(f"{B}/{batch}/events").json()["total"] >= before
    assert api.post("stop", {"batch_run_id": batch, "force": True}).status_code == 200
    wait_until(lambda: api.status(batch)["state"] == "stopped", timeout=30, message="the batch stops")


def test_archive_hides_and_delete_removes_with_confirmation(api):
    batch = _plan(api, name="to archive 9c1")["batch_run_id"]
    archived = api.client.post(f"{B}/{batch}/archive", json={})
    assert archived.status_code == 200 and archived.json()["archived_at"]
    assert _list(api, name="9c1") == [] and _list(api, name="9c1", archived="true") == [batch]
    assert api.client.post(f"{B}/{batch}/unarchive", json={}).json()["archived_at"] is None
    assert _list(api, name="9c1") == [batch]
    assert error(api.client.post(f"{B}/{batch}/delete", json={}), 422)["field"] == "confirm"
    assert error(api.client.post(f"{B}/{batch}/delete", json={"confirm": "other"}), 422)["field"] == "confirm"
    form = api.client.post(f"{B}/{batch}/delete", data={"confirm": batch})
    assert error(form, 415)["field"] == "Content-Type"
    assert api.get(f"{B}/{batch}").status_code == 200
    deleted = api.client.post(f"{B}/{batch}/delete", json={"confirm": batch})
    assert deleted.status_code == 200, deleted.text
    assert deleted.json() == {"batch_run_id": batch, "deleted": True, "name": "to archive 9c1", "state": "planned",
                              "item_count": 60, "tags": [], "actor": "api"}
    assert error(api.get(f"{B}/{batch}"), 404)["field"] == "batch_run_id"
    assert error(api.client.post(f"{B}/{batch}/delete", json={"confirm": batch}), 404)["field"] == "batch_run_id"


def test_the_client_lists_with_filters_and_curates(api, capsys):
    url = api.server.url
    batch = _plan(api, name="client 4d2")["batch_run_id"]

    def run(*argv: str) -> tuple[int, str]:
        code = main(["batch", *argv, "--url", url])
        out, err = capsys.readouterr()
        return code, out + err

    assert run("tag", batch, "--add", "Client", "--add", "x")[0] == 0
    code, out = run("list", "--tag", "client", "--json")
    assert code == 0 and [b["batch_run_id"] for b in json.loads(out)["batches"]] == [batch]
    code, out = run("list", "--name", "4D2")
    assert code == 0 and "client 4d2" in out and batch in out and "1-1 of 1" in out
    assert run("rename", batch, "client 4d2 renamed")[0] == 0
    assert run("archive", batch)[0] == 0
    assert "0-0 of 0" in run("list", "--name", "4d2")[1]
    assert run("list", "--name", "4d2", "--archived")[0] == 0
    code, out = run("delete", batch)
    assert code == 1 and "--yes" in out and api.get(f"{B}/{batch}").status_code == 200
    code, out = run("delete", batch, "--yes")
    assert code == 0 and "deleted" in out and api.get(f"{B}/{batch}").status_code == 404

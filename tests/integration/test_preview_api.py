"""Plan Preview without the dashboard: ``POST .../batch/preview`` (and ``indexlab batch plan --dry-run`` over it)
answers what a plan would save, brands in run order, first items, estimate and settings snapshot, checked as a
plan is, and writes nothing. Everything the dashboard shows is reachable through the API too."""

from __future__ import annotations

import json

from tests.support.api import B
from tests.support.cli import run


def _total(api) -> int:
    return api.get(B, params={"limit": 1}).json()["total"]


def test_a_preview_shows_what_a_plan_would_save_and_saves_nothing(api):
    before = _total(api)
    body = {"selection": {"brands": ["Zowie", "Razer"]}, "pinned_brands": ["Zowie"],
            "settings": {"runner": "noop", "workers": 3}}
    response = api.post("preview", body)
    assert response.status_code == 200, response.text
    preview = response.json()
    assert [b["brand"] for b in preview["brands"]] == ["Zowie", "Razer"] and preview["brands"][0]["pinned"]
    assert preview["total"] == sum(b["count"] for b in preview["brands"]) > 0
    assert preview["first_items"][0]["brand"] == "Zowie" and preview["settings"]["workers"] == 3
    assert "batch_run_id" not in preview and _total(api) == before
    saved = api.post("plan", body).json()  # the plan saves what the preview showed
    assert saved["total"] == preview["total"] and saved["first_items"] == preview["first_items"]


def test_a_preview_is_refused_as_a_plan_would_be(api):
    for body, status, field in (
            ({"selection": {"brands": ["No Such Brand"]}, "settings": {"runner": "noop"}}, 422, None),
            ({"selection": {"all": True}, "settings": {"runner": "noop", "executor": "dask"}}, 422, "settings.executor"),
            ({"selection": {"all": True}, "settings": {"workers": 500}}, 422, "settings.workers"),
            ({"selection": {"all": True}, "settings": {"llm_base_url": "http://evil.example/v1"}}, 403, None)):
        response = api.post("preview", body)
        assert response.status_code == status, (body, response.text)
        if field:
            assert response.json()["error"]["field"] == field, response.text
    assert api.post("preview", "{not json").status_code == 400


def test_the_http_client_prints_a_dry_run_and_saves_nothing(api, capsys):
    before = _total(api)
    code, out, err = run(capsys, "batch", "plan", "--brand", "Zowie", "--runner", "noop", "--dry-run",
                         "--url", api.server.url)
    assert code == 0 and "Traceback" not in err, err
    assert out.startswith("preview       not saved (--dry-run)") and "Zowie" in out, out
    code, out, err = run(capsys, "batch", "plan", "--brand", "Zowie", "--runner", "noop", "--dry-run", "--json",
                         "--url", api.server.url)
    assert code == 0 and json.loads(out)["total"] > 0
    assert _total(api) == before


def test_the_local_cli_dry_run_creates_no_database(capsys, tmp_path):
    db = tmp_path / "nothing-yet.duckdb"
    code, out, err = run(capsys, "plan", "--db", db, "--brand", "Zowie", "--runner", "noop", "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["batch_run_id"] is None and doc["total"] > 0
    assert not db.exists(), "a dry run created the database file"

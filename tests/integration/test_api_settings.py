"""The server's default settings through the API: `indexlab serve --settings FILE`, GET .../settings, and plans
whose left-out settings take the server's (including its command, which clients may not replace)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import JOB, error
from tests.support.catalogs import write_catalog
from tests.support.servers import Server, start_server, stop_server

P = "/api/v1/indexlab"
SELECTION = {"selection": {"all": True}}


@pytest.fixture(scope="module")
def configured(tmp_path_factory) -> Iterator[tuple[Server, list[str]]]:
    tmp = tmp_path_factory.mktemp("settings")
    command = [sys.executable, str(JOB), str(tmp / "jobs.log"), str(tmp / "gate")]
    settings = tmp / "settings.json"
    settings.write_text(json.dumps({"runner": "command", "command": command, "workers": 3, "profile": "fast"}))
    server = start_server(tmp / "s.duckdb", write_catalog(tmp / "c.csv", 6), log=tmp / "s.log",
                          args=["--settings", str(settings)])
    yield server, command
    stop_server(server)


def plan(server: Server, body: dict) -> httpx.Response:
    return httpx.post(f"{server.url}{P}/batch/plan", json=body, timeout=30)


def test_the_settings_endpoint_shows_the_servers_defaults(configured):
    server, command = configured
    body = httpx.get(f"{server.url}{P}/settings").json()
    assert body["runner"] == "command" and body["command"] == command and body["workers"] == 3
    assert body["max_attempts"] == 3  # fields the file leaves out keep the built-in defaults


def test_a_plan_without_settings_takes_the_servers(configured):
    server, command = configured
    response = plan(server, SELECTION)
    assert response.status_code == 201, response.text
    settings = response.json()["settings"]
    assert settings["runner"] == "command" and settings["command"] == command and settings["profile"] == "fast"


def test_changed_settings_apply_over_the_servers_and_null_means_default(configured):
    server, command = configured
    settings = plan(server, {**SELECTION, "settings": {"workers": 1, "profile": None, "runner": "command"}}).json()["settings"]
    assert settings["workers"] == 1 and settings["profile"] == "fast" and settings["command"] == command


def test_a_client_cannot_replace_the_servers_command(configured):
    server, command = configured
    err = error(plan(server, {**SELECTION, "settings": {"command": ["sh", "-c", "id"]}}), 403)
    assert err["field"] == "settings.command" and "--settings" in err["message"]
    same = plan(server, {**SELECTION, "settings": {"command": command}})  # naming the server's own is fine
    assert same.status_code == 201, same.text


def test_without_a_server_command_the_command_runner_is_refused_and_bad_values_are_422(tmp_path):
    server = start_server(tmp_path / "d.duckdb", write_catalog(tmp_path / "c.csv", 4), log=tmp_path / "d.log")
    try:
        err = error(plan(server, {**SELECTION, "settings": {"runner": "command"}}), 403)
        assert err["field"] == "settings.command"
        err = error(plan(server, {**SELECTION, "settings": {"workers": 0}}), 422)
        assert err["field"] == "settings.workers"
        err = error(plan(server, {**SELECTION, "settings": {"workerz": 2}}), 422)
        assert err["field"] == "settings.workerz" and err["code"] == "unknown_field"
        assert httpx.get(f"{server.url}{P}/batch").json()["batches"] == []  # nothing saved by a refused plan
        assert httpx.get(f"{server.url}{P}/settings").json()["runner"] == "harvest"
    finally:
        stop_server(server)

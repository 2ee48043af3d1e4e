"""Issue #16 over HTTP: runner plugins on a real server. An installed plugin is the server's own offer, so API plans
may name it without INDEXLAB_API_ALLOW_COMMAND (it brings no program or path of the client's: settings.command and
settings.corpus stay gated whatever the runner); a broken plugin neither stops the server starting nor serves as a
runner, and says why as a 400, never a 500."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from engine.store import Store
from tests.support.api import error
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.plugins import EXAMPLE, require_example, write_distribution, write_sheets
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server

P = "/api/v1/indexlab"
BROKEN = "acme_broken"


@dataclass
class Setup:
    server: Server
    db: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[Setup]:
    require_example()
    tmp = tmp_path_factory.mktemp("plugins")
    rows = numbered_rows(4)
    sheets = write_sheets(tmp / "sheets", [row[0] for row in rows[:3]])  # p0003 has no sheet
    site = tmp / "site"  # a broken plugin beside the example: its import fails
    write_distribution(site, "acme-broken", {BROKEN: "acme_broken_mod:run"},
                       {"acme_broken_mod": "raise ImportError('libacme.so: cannot open shared object file')\n"})
    server = start_server(tmp / "s.duckdb", write_catalog(tmp / "c.csv", rows), log=tmp / "s.log",
                          env={"INDEXLAB_EXAMPLE_SPECS": str(sheets), "PYTHONPATH": str(site),
                               "INDEXLAB_API_ALLOW_COMMAND": ""})
    yield Setup(server, tmp / "s.duckdb")
    stop_server(server)
    assert "Traceback" not in server.output(), server.output()


def plan(setup: Setup, settings: dict) -> httpx.Response:
    return httpx.post(f"{setup.server.url}{P}/batch/plan", json={"selection": {"all": True}, "settings": settings},
                      timeout=30)


def start(setup: Setup, batch: str) -> httpx.Response:
    return httpx.post(f"{setup.server.url}{P}/batch/start", json={"batch_run_id": batch}, timeout=30)


def test_a_broken_plugin_is_listed_but_cannot_start_a_batch_and_says_why(setup):
    response = plan(setup, {"runner": BROKEN})
    assert response.status_code == 201, response.text  # a plan may name a runner; starting it here is refused
    warnings = response.json()["warnings"]
    assert any("libacme.so" in w and "acme-broken 1.0" in w for w in warnings), warnings
    err = error(start(setup, response.json()["batch_run_id"]), 400)
    assert err["code"] == "runner_unavailable" and err["field"] == "runner"
    assert "entry point acme_broken = acme_broken_mod:run of distribution acme-broken 1.0" in err["message"]
    assert "ImportError: libacme.so" in err["message"]
    listed = {r["name"]: r for r in httpx.get(f"{setup.server.url}{P}/runners").json()["runners"]}
    assert listed[BROKEN]["origin"] == "plugin" and "libacme.so" in listed[BROKEN]["problem"]


def test_a_plugin_brings_no_program_or_path_of_the_clients(setup):
    """settings.command and settings.corpus stay the server's to choose, whatever runner a plan names."""
    for settings, field in (({"runner": EXAMPLE, "command": [sys.executable, "-c", "print(1)"]}, "settings.command"),
                            ({"runner": EXAMPLE, "corpus": "/etc"}, "settings.corpus")):
        err = error(plan(setup, settings), 403)
        assert err["code"] == "forbidden_setting" and err["field"] == field


def test_the_runners_endpoint_lists_built_ins_and_plugins(setup):
    body = httpx.get(f"{setup.server.url}{P}/runners").json()
    listed = {r["name"]: r for r in body["runners"]}
    assert {"harvest", "noop", "command", EXAMPLE, BROKEN} <= set(listed)
    assert listed["noop"]["origin"] == "built-in" and listed["noop"]["distribution"] is None
    assert listed[EXAMPLE] == {"name": EXAMPLE, "origin": "plugin", "distribution": "indexlab-example-runner",
                               "version": "0.1.0", "entry_point": "indexlab_example_runner:run", "problem": None}


def test_an_api_plan_runs_an_installed_plugin_without_allow_command(setup):
    response = plan(setup, {"runner": EXAMPLE, "max_attempts": 1})
    assert response.status_code == 201, response.text
    assert response.json()["settings"]["runner"] == EXAMPLE and response.json()["warnings"] == []
    batch = response.json()["batch_run_id"]
    assert start(setup, batch).status_code == 200
    status_url = f"{setup.server.url}{P}/batch/{batch}/status"
    wait_until(lambda: httpx.get(status_url).json()["state"] == "completed", timeout=60,
               message=lambda: f"the batch did not complete: {httpx.get(status_url).json()}")
    status = httpx.get(status_url).json()
    assert status["counts"]["completed"] == 3 and status["counts"]["failed"] == 1
    items = httpx.get(f"{setup.server.url}{P}/batch/{batch}/items").json()["items"]
    assert [i["coverage"] for i in items if i["state"] == "completed"] == [1.0, 1.0, 1.0]
    failed = [i for i in items if i["state"] == "failed"]
    assert [i["product_id"] for i in failed] == ["p0003"] and "no spec sheet for p0003" in failed[0]["last_error"]


def test_the_plugins_fields_are_in_the_servers_database(setup):
    """Last: the server is stopped and its DuckDB file read directly."""
    stop_server(setup.server)
    with Store(setup.db) as store:
        fields = {f["field"]: f for f in store.latest_outcome("p0001")["fields"]}
    assert fields["polling_rate"]["value"] == 1001 and fields["polling_rate"]["unit"] == "Hz"
    assert fields["sensor"]["source_url"] == "https://maker.example/p0001/specs"

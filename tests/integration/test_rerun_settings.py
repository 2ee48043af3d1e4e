"""A re-run over the API is a plan: it may neither name nor inherit a program, path, LLM endpoint or key the
server does not offer (the same policy as POST .../plan), and a refused re-run saves nothing."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.cli import TRIAGE_JOB as JOB
from tests.support.cli import error, indexlab
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server

B = "/api/v1/indexlab/batch"
OFFERED_URL, OFFERED_KEY = "http://127.0.0.1:9/v1", "LOCAL_LLM_KEY"


@dataclass
class Setup:
    server: Server
    client: httpx.Client
    offered: list[str]  # the server's own command
    api_batch: str  # planned over the API with the server's command; all failed
    cli_batch: str  # run by the CLI on the server's machine with a command the server does not offer; all failed

    def rerun(self, batch: str, **settings) -> httpx.Response:
        return self.client.post(f"{B}/{batch}/rerun", json={"which": "failed", "settings": settings})

    def batch_count(self) -> int:
        return len(self.client.get(B).json()["batches"])


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[Setup]:
    root = tmp_path_factory.mktemp("rerun-settings")
    (root / "jobs").mkdir()
    catalog = root / "catalog.csv"
    write_catalog(catalog, numbered_rows(6, ["Zowie"], id_format="item-{}", start=1))
    db = root / "r.duckdb"
    own = subprocess.run([indexlab(), "run", "--db", str(db), "--catalog", str(catalog), "--product-id", "item-1",
                          "--product-id", "item-2", "--max-attempts", "1", "--command", f"sh {JOB} fail {root / 'jobs'}"],
                         capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert own.returncode == 4, own.stderr
    offered = ["sh", str(JOB), "fail", f"{root / 'jobs'}/"]  # not the CLI batch's argv
    settings = root / "settings.json"
    settings.write_text(json.dumps({"runner": "command", "command": offered, "max_attempts": 1,
                                    "api_allow": {"llm_endpoints": [{"base_url": OFFERED_URL, "api_key_env": OFFERED_KEY}]}}))
    server = start_server(db, catalog, log=root / "s.log", args=["--settings", str(settings)],
                          env={"INDEXLAB_API_ALLOW_COMMAND": "", "INDEXLAB_API_TOKEN": ""})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        planned = client.post(f"{B}/plan", json={"selection": {"product_ids": ["item-3", "item-4"]}})
        assert planned.status_code == 201, planned.text
        api_batch = planned.json()["batch_run_id"]
        assert client.post(f"{B}/start", json={"batch_run_id": api_batch}).status_code == 200
        wait_until(lambda: client.get(f"{B}/{api_batch}/status").json()["result"] == "failed", timeout=60)
        yield Setup(server, client, offered, api_batch, json.loads(own.stdout)["batch_run_id"])
    stop_server(server)
    assert "Traceback" not in server.output(), server.output()


@pytest.mark.parametrize(("settings", "field"), [
    ({"command": ["sh", "-c", "id > /tmp/pwned"]}, "settings.command"),
    ({"runner": "command", "command": ["python3", "-c", "print(1)"]}, "settings.command"),
    ({"corpus": "/etc/passwd"}, "settings.corpus"),
    ({"llm_base_url": "https://attacker.example/v1"}, "settings.llm_base_url"),
    ({"llm_api_key_env": "AWS_SECRET_ACCESS_KEY"}, "settings.llm_api_key_env"),
    ({"llm_base_url": OFFERED_URL}, "settings.llm_api_key_env"),  # an offered endpoint, but the default key
    ({"llm_base_url": "https://attacker.example/v1", "llm_api_key_env": OFFERED_KEY}, "settings.llm_base_url"),
])
def test_a_rerun_cannot_smuggle_a_program_path_endpoint_or_key(setup, settings, field):
    before = setup.batch_count()
    err = error(setup.rerun(setup.api_batch, **settings), 403)
    assert err["field"] == field and err["code"] == "forbidden_setting", err
    assert setup.batch_count() == before  # nothing saved


def test_a_rerun_cannot_inherit_a_command_the_server_does_not_offer(setup):
    before = setup.batch_count()
    err = error(setup.rerun(setup.cli_batch), 403)
    assert err["field"] == "settings.command" and err["message"].startswith("the batch's own settings.command")
    done = subprocess.run([indexlab(), "batch", "rerun", setup.cli_batch, "--which", "failed", "--url", setup.server.url],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                          env={k: v for k, v in os.environ.items() if k != "INDEXLAB_API_TOKEN"})
    assert done.returncode == 1 and "(HTTP 403)" in done.stderr and "settings.command" in done.stderr
    assert setup.batch_count() == before
    # naming a command the server offers instead is a re-run like any plan
    response = setup.rerun(setup.cli_batch, command=setup.offered)
    assert response.status_code == 201, response.text
    assert response.json()["settings"]["command"] == setup.offered and response.json()["total"] == 2


def test_a_rerun_may_choose_among_what_the_server_offers(setup):
    response = setup.rerun(setup.api_batch, llm_base_url=OFFERED_URL, llm_api_key_env=OFFERED_KEY, profile="fast")
    assert response.status_code == 201, response.text
    settings = response.json()["settings"]
    assert (settings["llm_base_url"], settings["llm_api_key_env"], settings["profile"]) == (OFFERED_URL, OFFERED_KEY,
                                                                                             "fast")
    assert settings["command"] == setup.offered  # the batch's own

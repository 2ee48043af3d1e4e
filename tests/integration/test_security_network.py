"""Issue #11 item 4: on a non-loopback address the server needs an API token and a dashboard login however it is
served (`indexlab serve`, `panel serve dashboard/views/app.py --plugins dashboard.api`, `pn.serve` of the app).
Real child processes bound to a non-loopback address of this machine, reached over that address."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import error
from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.servers import Server as Child
from tests.support.servers import free_port, launch
from tests.support.servers import panel_serve as serve_panel

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "views" / "app.py"
B = "/api/v1/indexlab/batch"
PLAN = {"selection": {"all": True}, "settings": {"runner": "noop"}}


def network_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (where another machine would reach it)."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=10).stdout.split()
    except OSError:
        out = []
    for candidate in out:
        if "." in candidate and not candidate.startswith("127."):
            return candidate
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: this only picks the interface of the default route
            address = probe.getsockname()[0]
    except OSError:
        return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address


IP = network_address()
pytestmark = pytest.mark.skipif(IP is None, reason="this machine has no non-loopback IPv4 interface to bind to")


@pytest.fixture
def env(tmp_path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("INDEXLAB_API_TOKEN", "INDEXLAB_BASIC_AUTH",
                                                                "INDEXLAB_API_ALLOW_COMMAND")}
    return {**clean, "INDEXLAB_DB": str(tmp_path / "n.duckdb"), "INDEXLAB_CATALOG": str(write_catalog(tmp_path / "c.csv", 6)),
            "PYTHONPATH": str(ROOT)}


@pytest.fixture
def children() -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:
        child.stop(timeout=30)


def panel_serve(children: list[Child], env: dict[str, str], log: Path, port: int, *args: str) -> Child:
    child = serve_panel(APP, log=log, env=env, inherit_env=False, port=port, address=None, plugin=True, args=args,
                        ready=None)
    children.append(child)
    return child


def assert_refused_to_start(child: Child, url: str, missing: str = "an API token (INDEXLAB_API_TOKEN) and a dashboard login",
                            clean: bool = True) -> None:
    """It exits with the reason (``clean``: as a message, without a traceback) and never answers the network."""
    wait_until(lambda: child.exited_or_answers(url), timeout=90, message=child.output)
    if child.process.poll() is None:  # the defect: it serves the network with no token and no login
        planned = httpx.post(f"{url}{B}/plan", json=PLAN, timeout=30)
        raise AssertionError(f"it serves the network without auth; a POST from the network got {planned.status_code}")
    out = child.output()
    assert child.process.returncode != 0 and (not clean or "Traceback" not in out), out[-3000:]
    assert "refusing to serve on" in out and f"missing: {missing}" in out, out[-3000:]


@pytest.mark.parametrize("address", ["IP", "0.0.0.0", None], ids=["machine-ip", "all-ipv4", "panel-default"])
def test_panel_serve_with_the_api_on_a_network_address_without_auth_refuses_to_start(tmp_path, env, children, address):
    port = free_port()
    args = ["--address", IP if address == "IP" else address] if address else []
    child = panel_serve(children, env, tmp_path / "panel.log", port, *args)
    assert_refused_to_start(child, f"http://{IP}:{port}")


def test_panel_serve_with_only_a_token_or_only_a_login_still_refuses(tmp_path, env, children):
    port = free_port()
    child = panel_serve(children, {**env, "INDEXLAB_API_TOKEN": "t0ken"}, tmp_path / "a.log", port, "--address", IP)
    assert_refused_to_start(child, f"http://{IP}:{port}", "a dashboard login")
    port = free_port()
    child = panel_serve(children, env, tmp_path / "b.log", port, "--address", IP, "--basic-auth", "pa55word-long",
                        "--cookie-secret", "c" * 32)
    assert_refused_to_start(child, f"http://{IP}:{port}", "an API token (INDEXLAB_API_TOKEN).")


def test_pn_serve_of_the_app_on_a_network_address_refuses_to_start(tmp_path, env, children):
    port = free_port()
    script = ("import panel as pn\nfrom dashboard.views.app import create_app\n"
              f"pn.serve({{'/': create_app}}, address={IP!r}, port={port}, show=False)\n")
    child = launch([sys.executable, "-c", script], url=f"http://{IP}:{port}", log=tmp_path / "pn.log", env=env,
                   inherit_env=False, cwd=ROOT, ready=None)
    children.append(child)
    assert_refused_to_start(child, f"http://{IP}:{port}", clean=False)  # pn.serve raises to its caller


def test_with_a_token_and_a_login_the_network_gets_both_checked(tmp_path, env, children):
    port = free_port()
    child = panel_serve(children, {**env, "INDEXLAB_API_TOKEN": "t0ken"}, tmp_path / "ok.log", port,
                        "--address", IP, "--basic-auth", "pa55word-long", "--cookie-secret", "c" * 32)
    url = f"http://{IP}:{port}"
    wait_until(lambda: child.exited_or_answers(url + "/healthz"), timeout=90, message=child.output)
    assert child.process.poll() is None, child.output()
    assert error(httpx.post(f"{url}{B}/plan", json=PLAN), 401)["code"] == "unauthorized"
    assert httpx.post(f"{url}{B}/plan", json=PLAN, headers={"Authorization": "Bearer t0ken"}).status_code == 201
    cross = httpx.post(f"{url}{B}/plan", json=PLAN, headers={"Authorization": "Bearer t0ken", "Origin": "https://evil.example"})
    assert error(cross, 403)["code"] == "forbidden_origin"  # the plugin's routes check as indexlab serve's do
    assert error(httpx.get(f"{url}{B}", headers={"Host": f"evil.example:{port}"}), 403)["code"] == "forbidden_host"
    page = httpx.get(f"{url}/app", follow_redirects=False)
    assert page.status_code in (302, 401, 403) or "login" in page.text.lower(), page.status_code


def test_panel_serve_of_the_app_alone_on_a_network_address_shows_no_dashboard(tmp_path, env, children):
    """Without --plugins nothing of ours runs before the first page: the page itself refuses."""
    port = free_port()
    child = serve_panel(APP, log=tmp_path / "alone.log", env=env, inherit_env=False, port=port, address=IP, ready=None)
    children.append(child)
    url = f"http://{IP}:{port}/app"
    wait_until(lambda: child.exited_or_answers(url), timeout=90, message=child.output)
    assert child.process.poll() is None, child.output()
    import panel.models  # noqa: F401  (registers the model types the document is made of)
    from bokeh.client import pull_session

    with pull_session(url=url) as session:  # what the page's script receives over the websocket
        texts = [str(getattr(model, "text", "")) for model in session.document.models]
        names = [str(getattr(model, "title", "")) for model in session.document.models]
    assert "Batch Run Builder" not in names, names
    assert any(f"refusing to serve {IP} over the network" in t and "missing: an API token" in t for t in texts), texts


def test_an_api_route_reached_over_the_network_without_auth_is_403_on_any_server(monkeypatch):
    """The handlers check too: API routes mounted in a server whose sockets skipped the start-up check."""
    from tornado.httpserver import HTTPServer
    from tornado.tcpserver import TCPServer
    from tornado.web import Application

    from dashboard.api import handlers as api

    monkeypatch.delenv("INDEXLAB_API_TOKEN", raising=False)

    async def main() -> None:
        sock = socket.socket()
        sock.bind((IP, 0))
        sock.listen(8)
        sock.setblocking(False)
        server = HTTPServer(Application(api.routes(lambda: None)))
        TCPServer.add_sockets(server, [sock])  # as a server we do not control would
        url = f"http://{IP}:{sock.getsockname()[1]}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                for response in (await client.post(f"{B}/plan", json=PLAN), await client.get(f"{B}/x/status")):
                    err = error(response, 403)
                    assert err["code"] == "network_refused" and "INDEXLAB_API_TOKEN" in err["message"]
        finally:
            server.stop()

    asyncio.run(main())

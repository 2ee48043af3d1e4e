"""Issue #11 items 3 and 5 against a real server: cross-site requests (Origin, Host, Content-Type) and
request size (refused on Content-Length before the body is read; deep JSON is a 400, not a 500)."""

from __future__ import annotations

import http.client
import json
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

from tests.support.api import error
from tests.support.catalogs import write_catalog
from tests.support.servers import Server, start_server, stop_server

B = "/api/v1/indexlab/batch"
PLAN = {"selection": {"all": True}, "settings": {"runner": "noop"}}
PROXY_ORIGIN = "https://batch.example.com"  # a deployment behind a proxy lists its public origin
MB = 1_000_000


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    tmp = tmp_path_factory.mktemp("requests")
    srv = start_server(tmp / "r.duckdb", write_catalog(tmp / "c.csv", 8), log=tmp / "r.log",
                       env={"INDEXLAB_ALLOWED_ORIGINS": PROXY_ORIGIN})
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.output(), srv.output()


def batches(server: Server) -> list[dict]:
    return httpx.get(f"{server.url}{B}", params={"limit": 1000}).json()["batches"]


def post(server: Server, body: str | bytes, headers: dict[str, str], path: str = f"{B}/plan") -> httpx.Response:
    return httpx.post(server.url + path, content=body, headers=headers, timeout=30)


# --------------------------------------------------------------------------- item 3: cross-site requests
def test_a_form_on_another_site_cannot_create_a_batch(server):
    """What a <form enctype=text/plain> on a public page sends: a JSON-looking text/plain body from its origin."""
    before = batches(server)
    response = post(server, json.dumps(PLAN), {"Content-Type": "text/plain", "Origin": "https://evil.example",
                                               "Sec-Fetch-Site": "cross-site"})
    err = error(response, 403)
    assert err["code"] == "forbidden_origin" and err["field"] == "Origin" and "evil.example" in err["message"]
    assert batches(server) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", ""])
def test_a_body_that_is_not_json_is_415(server, content_type):
    before = batches(server)
    err = error(post(server, json.dumps(PLAN), {"Content-Type": content_type} if content_type else {}), 415)
    assert err["code"] == "unsupported_media_type" and err["field"] == "Content-Type"
    assert batches(server) == before


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_a_json_post_from_another_origin_is_403(server, origin):
    before = batches(server)
    err = error(httpx.post(f"{server.url}{B}/plan", json=PLAN, headers={"Origin": origin}), 403)
    assert err["code"] == "forbidden_origin"
    assert batches(server) == before


def test_a_host_header_that_is_not_the_server_is_403_even_for_reads(server):
    """DNS rebinding: a page on evil.example whose name now resolves to 127.0.0.1 reads and writes same-origin."""
    port = urlsplit(server.url).port
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.2:{port}"):
        err = error(httpx.get(f"{server.url}{B}", headers={"Host": host}), 403)
        assert err["code"] == "forbidden_host" and err["field"] == "Host"
        err = error(httpx.post(f"{server.url}{B}/plan", json=PLAN,
                               headers={"Host": host, "Origin": f"http://{host}"}), 403)
        assert err["field"] == "Host"


def test_the_servers_own_origins_curl_and_a_listed_proxy_origin_work(server):
    port = urlsplit(server.url).port
    for headers in ({}, {"Origin": server.url}, {"Origin": f"http://localhost:{port}", "Host": f"localhost:{port}"},
                    {"Origin": PROXY_ORIGIN, "Host": "batch.example.com"},
                    {"Content-Type": "application/json; charset=utf-8"}):
        response = post(server, json.dumps(PLAN), {"Content-Type": "application/json", **headers})
        assert response.status_code == 201, (headers, response.text)


def _websocket_status(server: Server, origin: str) -> int:
    """Open the dashboard's websocket as the page's script would (its session token), from ``origin``."""
    token = re.search(r'"token":\s*"([^"]+)"', httpx.get(f"{server.url}/", timeout=60).text).group(1)

    async def connect() -> int:
        request = HTTPRequest(server.url.replace("http://", "ws://") + "/ws", headers={"Origin": origin})
        try:
            conn = await websocket_connect(request, subprotocols=["bokeh", token])
        except HTTPClientError as exc:
            return exc.code
        conn.close()
        return 101

    return IOLoop.current().run_sync(connect, timeout=30)


def test_the_dashboards_websocket_refuses_other_origins_and_accepts_the_listed_one(server):
    assert _websocket_status(server, "https://evil.example") == 403
    assert _websocket_status(server, PROXY_ORIGIN) == 101
    assert _websocket_status(server, server.url) == 101


def test_the_openapi_document_lists_403_and_415(server):
    plan = httpx.get(f"{server.url}/api/v1/openapi.json").json()["paths"][f"{B}/plan"]["post"]
    assert {"403", "413", "415"} <= set(plan["responses"])


# --------------------------------------------------------------------------- item 5: request size
def _answer_to_headers_only(server: Server, path: str, length: int, content_type: str = "application/json"
                            ) -> http.client.HTTPResponse:
    """Send only a request's head announcing ``length`` bytes, and read the answer: it must not wait for the body."""
    url = urlsplit(server.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=15)
    sock.sendall(f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: {content_type}\r\n"
                 f"Content-Length: {length}\r\n\r\n".encode())
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
    except TimeoutError:
        raise AssertionError(f"no answer to a {length}-byte Content-Length within 15 s: the server waits for the body") from None
    response.body = response.read()  # type: ignore[attr-defined]
    sock.close()
    return response


def test_a_body_over_the_limit_is_refused_on_its_content_length_before_it_is_read(server):
    response = _answer_to_headers_only(server, f"{B}/plan", 90 * MB)
    assert response.status == 413
    assert json.loads(response.body)["error"]["code"] == "body_too_large"  # type: ignore[attr-defined]


def test_other_routes_do_not_buffer_a_huge_body_either(server):
    """Panel's and Bokeh's own handlers read bodies whole: the server's max_body_size refuses before reading."""
    assert _answer_to_headers_only(server, "/", 90 * MB, "text/plain").status in (400, 413)


def test_a_chunked_body_over_the_limit_is_a_json_413(server):
    def chunks() -> Iterator[bytes]:
        for _ in range(3):
            yield b" " * MB

    response = httpx.post(f"{server.url}{B}/plan", content=chunks(), headers={"Content-Type": "application/json"})
    assert error(response, 413)["code"] == "body_too_large"


def _rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _upload(server: Server, size: int) -> None:
    """Send a ``size``-byte body as fast as the server takes it; stop when it closes the connection."""
    url = urlsplit(server.url)
    block = b"[" + b" " * (MB - 1)
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(f"POST {B}/plan HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {size}\r\n\r\n".encode())
        try:
            for _ in range(size // MB):
                sock.sendall(block)
            sock.recv(65536)
        except OSError:  # reset or broken pipe: the server refused and closed, as it should
            pass


@pytest.mark.slow
def test_eight_90_mb_requests_do_not_grow_the_server(server):
    pid = server.process.pid
    before = _rss_kb(pid, "VmHWM")
    threads = [threading.Thread(target=_upload, args=(server, 90 * MB)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    grown_mb = (_rss_kb(pid, "VmHWM") - before) / 1000
    print(f"server peak RSS grew {grown_mb:.1f} MB over eight 90 MB requests (VmRSS now {_rss_kb(pid, 'VmRSS') / 1000:.0f} MB)")
    assert grown_mb < 50, f"the server's peak RSS grew {grown_mb:.0f} MB"


# --------------------------------------------------------------------------- item 5: what json.loads cannot take
@pytest.mark.parametrize("body", ["[" * 100_000, '{"selection": ' + "[" * 5_000 + "]" * 5_000 + "}",
                                  '{"batch_run_id": "x", "seqs": [' + "1" * 5_000 + "]}"],
                         ids=["100000-brackets", "5000-deep-valid", "5000-digit-int"])
def test_json_the_parser_cannot_take_is_400_not_500(server, body):
    for path in (f"{B}/plan", f"{B}/skip"):
        err = error(post(server, body, {"Content-Type": "application/json"}, path), 400)
        assert err["code"] == "malformed_json"

"""Real HTTP servers on 127.0.0.1 for harvest tests: product pages per domain (with throttling) and an
OpenAI-compatible chat-completions stub. Both record what they saw, with timestamps."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SIMULATED_LATENCY_S = 0.03  # each page takes this long to serve, so overlapping requests would overlap


class _Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self) -> _Server:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


class _SiteHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep pytest output clean
        pass

    def do_GET(self) -> None:  # noqa: N802
        site: SiteServer = self.server.owner  # type: ignore[attr-defined]
        parts = self.path.lstrip("/").split("/", 1)
        domain = parts[0]
        started = time.monotonic()
        with site.lock:
            site.active[domain] += 1
            site.max_active[domain] = max(site.max_active[domain], site.active[domain])
            n = site.count[domain] = site.count[domain] + 1
        try:
            time.sleep(SIMULATED_LATENCY_S)
            throttled = site.throttle.get(domain, [])
            if n <= len(throttled):
                status, body = throttled[n - 1], b"slow down"
            elif self.path in site.pages:
                status, body = 200, site.pages[self.path].encode()
            else:
                status, body = 404, b"not found"
            self.send_response(status)
            if status in (429, 503):
                self.send_header("Retry-After", str(site.retry_after))
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        finally:
            with site.lock:
                site.active[domain] -= 1
                site.log.append({"domain": domain, "path": self.path, "status": status, "started": started,
                                 "ended": time.monotonic()})


class SiteServer(_Server):
    """Serves ``pages`` (path -> html) under ``/<domain>/...``; the first requests to a domain in
    ``throttle`` get the listed statuses (429/503 with ``Retry-After``) instead of the page."""

    def __init__(self, pages: dict[str, str], throttle: dict[str, list[int]], retry_after: int = 1) -> None:
        super().__init__(_SiteHandler)
        self.pages, self.throttle, self.retry_after = pages, throttle, retry_after
        self.active: dict[str, int] = defaultdict(int)
        self.max_active: dict[str, int] = defaultdict(int)
        self.count: dict[str, int] = defaultdict(int)
        self.log: list[dict[str, Any]] = []

    def url(self, domain: str, page: str) -> str:
        return f"http://127.0.0.1:{self.port}/{domain}/{page}"

    def requests_to(self, domain: str) -> list[dict[str, Any]]:
        with self.lock:
            return sorted((r for r in self.log if r["domain"] == domain), key=lambda r: r["started"])


class _ChatHandler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802
        stub: ChatStub = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        with stub.lock:
            n = len(stub.requests) + 1
            stub.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body,
                                  "at": time.monotonic()})
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": "not found"}})
        if n <= stub.rate_limited_first:
            return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "1"})
        completion = {"id": f"chatcmpl-{n}", "object": "chat.completion", "model": body.get("model"),
                      "choices": [{"index": 0, "finish_reason": "stop",
                                   "message": {"role": "assistant", "content": json.dumps(stub.answer)}}]}
        self._send(200, completion)

    def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class ChatStub(_Server):
    """``POST /v1/chat/completions`` answering ``answer`` as the message's JSON content; the first
    ``rate_limited_first`` requests get 429 with ``Retry-After: 1``."""

    def __init__(self, answer: dict[str, Any], rate_limited_first: int = 1) -> None:
        super().__init__(_ChatHandler)
        self.answer, self.rate_limited_first = answer, rate_limited_first
        self.requests: list[dict[str, Any]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

"""The status endpoint's shared cache: pollers of a batch share one refresh, and a lifecycle call invalidates it."""

from __future__ import annotations

import asyncio
import socket
import threading
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from tornado.httpserver import HTTPServer
from tornado.web import Application

from dashboard.api import endpoints, handlers
from engine.core.errors import NotFound
from engine.service import BatchStatus
from tests.support.polling import wait_until_async

BATCH = "b-1"
URL = f"/api/v1/indexlab/batch/{BATCH}/status"


class SlowService:
    """status() blocks until released, so requests pile up behind one refresh; it counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.missing = False
        self.version = 0  # what status_version answers: another face's change of the batch bumps it

    def status(self, batch_run_id: str) -> dict[str, Any]:
        self.calls += 1
        self.release.wait(10)
        if self.missing:
            raise NotFound(f"no batch {batch_run_id!r}", field="batch_run_id")
        now = datetime.now(UTC)
        return {"batch_run_id": batch_run_id, "state": "running", "total": 1,
                "counts": {"queued": 1, "running": 0, "completed": self.calls, "failed": 0, "skipped": 0, "stopped": 0},
                "done": 0, "progress": 0.0,
                "throughput": {"recent_per_hour": None, "overall_per_hour": None, "window_seconds": 120.0},
                "eta": None, "running": [], "current": None, "recent_failures": [], "recent_events": [],
                "created_at": now, "started_at": now, "finished_at": None, "updated_at": now, "halted": None,
                "result": None, "outcomes": {"succeeded": self.calls, "needs_review": 0, "failed": 0, "skipped": 0,
                                             "stopped": 0, "unfinished": 1},
                "result_text": f"{self.calls} succeeded, 1 not run yet", "reason": "started"}

    def status_version(self, batch_run_id: str) -> int:
        return self.version

    def batch_status(self, batch_run_id: str) -> BatchStatus:  # the typed read the API serves
        return BatchStatus.model_validate(self.status(batch_run_id))


@pytest.fixture(autouse=True)
def empty_cache():
    endpoints._status_cache.clear()
    endpoints._status_pending.clear()
    yield
    endpoints._status_cache.clear()
    endpoints._status_pending.clear()


async def _serve(service: SlowService) -> tuple[HTTPServer, str]:
    context = SimpleNamespace(service=service)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    server = HTTPServer(Application(handlers.routes(lambda: context)))
    server.add_sockets([sock])
    return server, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _run(scenario, *, missing: bool = False) -> None:
    """Serve the status route over a SlowService and run ``scenario(service, client)`` against it."""
    async def main() -> None:
        service = SlowService()
        service.missing = missing
        server, url = await _serve(service)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as client:
                await scenario(service, client)
        finally:
            server.stop()

    asyncio.run(main())


def test_concurrent_pollers_share_one_refresh(monkeypatch):
    monkeypatch.setattr(endpoints, "STATUS_TTL_S", 3600.0)  # a slow machine's requests may be 0.2 s apart
    async def scenario(service: SlowService, client: httpx.AsyncClient) -> None:
        polls = [asyncio.ensure_future(client.get(URL)) for _ in range(10)]
        await wait_until_async(lambda: service.calls == 1 and not any(p.done() for p in polls) and len(endpoints._status_pending) == 1)
        service.release.set()
        answers = await asyncio.gather(*polls)
        assert {a.status_code for a in answers} == {200}
        assert len({a.text for a in answers}) == 1
        assert service.calls == 1

    _run(scenario)


def test_a_refresh_begun_before_a_lifecycle_call_is_not_cached(monkeypatch):
    monkeypatch.setattr(endpoints, "STATUS_TTL_S", 3600.0)  # a slow machine's requests may be 0.2 s apart
    async def scenario(service: SlowService, client: httpx.AsyncClient) -> None:
        poll = asyncio.ensure_future(client.get(URL))
        await wait_until_async(lambda: service.calls == 1)
        endpoints._forget_status(BATCH)  # what start, pause, stop, retry and skip do once they are committed
        service.release.set()
        assert (await poll).json()["counts"]["completed"] == 1
        assert (await client.get(URL)).json()["counts"]["completed"] == 2  # read again, not the stale body
        assert (await client.get(URL)).json()["counts"]["completed"] == 2  # that one is cached
        assert service.calls == 2

    _run(scenario)


def test_every_waiting_poller_gets_the_refresh_error():
    async def scenario(service: SlowService, client: httpx.AsyncClient) -> None:
        polls = [asyncio.ensure_future(client.get(URL)) for _ in range(5)]
        await wait_until_async(lambda: service.calls == 1 and len(endpoints._status_pending) == 1)
        service.release.set()
        answers = await asyncio.gather(*polls)
        assert [a.status_code for a in answers] == [404] * 5
        assert {a.json()["error"]["code"] for a in answers} == {"not_found"}
        assert not endpoints._status_pending and not endpoints._status_cache

    _run(scenario, missing=True)


def test_a_state_changed_by_another_face_is_never_served_from_the_cache(monkeypatch):
    """The dashboard (or the engine) pauses a batch without going through the API: the next API poll, however soon,
    reads the engine again (it once served 'running' for 0.2 s after the dashboard showed 'paused')."""
    monkeypatch.setattr(endpoints, "STATUS_TTL_S", 3600.0)  # a cached copy would otherwise still be fresh

    async def scenario(service: SlowService, client: httpx.AsyncClient) -> None:
        service.release.set()
        assert (await client.get(URL)).json()["counts"]["completed"] == 1
        assert (await client.get(URL)).json()["counts"]["completed"] == 1  # cached: same version
        service.version += 1  # e.g. the dashboard paused the batch
        assert (await client.get(URL)).json()["counts"]["completed"] == 2
        assert (await client.get(URL)).json()["counts"]["completed"] == 2
        assert service.calls == 2

    _run(scenario)

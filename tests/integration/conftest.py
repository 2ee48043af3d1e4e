"""Integration tests: a real `indexlab serve` on 127.0.0.1 with a small catalog, real HTTP calls."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.servers import Server, start_server, stop_server

JOB = Path(__file__).parent / "jobs" / "gated_job.py"
BRANDS = ["Logitech", "Razer", "Zowie", "Pulsar"]


def write_catalog(path: Path, n: int) -> Path:
    rows = [f"p{i:04d},mouse,{BRANDS[i % 4]},Model {i},{'Black' if i % 3 == 0 else ''}" for i in range(n)]
    path.write_text("product_id,category,brand,model,variant\n" + "\n".join(rows) + "\n")
    return path


@dataclass
class Api:
    server: Server
    client: httpx.Client
    job_log: Path
    gate: Path

    def post(self, action: str, body: dict | str, **kw) -> httpx.Response:
        """A dict is sent as JSON; a string as a JSON-typed body as it is (malformed or oversized on purpose)."""
        if isinstance(body, str):
            kw["headers"] = {"Content-Type": "application/json", **kw.get("headers", {})}
            return self.client.post(f"/api/v1/indexlab/batch/{action}", content=body, **kw)
        return self.client.post(f"/api/v1/indexlab/batch/{action}", json=body, **kw)

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def status(self, batch: str) -> dict:
        response = self.get(f"/api/v1/indexlab/batch/{batch}/status")
        assert response.status_code == 200, response.text
        return response.json()

    def gated_settings(self, **extra) -> dict:
        return {"runner": "command", "command": [sys.executable, str(JOB), str(self.job_log), str(self.gate)],
                "workers": 2, **extra}

    def started(self) -> list[str]:
        return self.job_log.read_text().split("\n")[:-1] if self.job_log.exists() else []


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("api")
    catalog = write_catalog(tmp / "catalog.csv", 240)
    server = start_server(tmp / "api.duckdb", catalog, log=tmp / "server.log", env={"INDEXLAB_API_ALLOW_COMMAND": "1"})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Api(server, client, tmp / "jobs.log", tmp / "gate")
    stop_server(server)
    (tmp / "gate").touch()  # release any job still waiting
    assert "Traceback" not in server.output(), server.output()

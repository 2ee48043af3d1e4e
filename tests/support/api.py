"""A client bound to one running server, with the gated command job (tests/integration/jobs/gated_job.py)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.servers import Server

JOB = Path(__file__).resolve().parents[1] / "integration" / "jobs" / "gated_job.py"
B = "/api/v1/indexlab/batch"


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
            return self.client.post(f"{B}/{action}", content=body, **kw)
        return self.client.post(f"{B}/{action}", json=body, **kw)

    def get(self, path: str, **kw) -> httpx.Response:
        return self.client.get(path, **kw)

    def status(self, batch: str) -> dict:
        response = self.get(f"{B}/{batch}/status")
        assert response.status_code == 200, response.text
        return response.json()

    def gated_settings(self, **extra) -> dict:
        """The gated job: each item notes its start in ``job_log``, then waits until ``gate`` exists."""
        return {"runner": "command", "command": [sys.executable, str(JOB), str(self.job_log), str(self.gate)],
                "workers": 2, **extra}

    def started(self) -> list[str]:
        return self.job_log.read_text().split("\n")[:-1] if self.job_log.exists() else []


def error(response: httpx.Response, status: int) -> dict:
    """The error body of ``response``, which must have ``status`` and the API's one error shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    return body["error"]

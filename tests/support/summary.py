"""The Batch Run Summary test server (``panel serve`` of tests/browser/apps/summary_app.py with the API plugin, the
gated command job) and the page readers the browser tests share: a pane's text, a state's count, the badge."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.browser import PageWithConsole
from tests.support.servers import Server, free_port, panel_serve

TESTS = Path(__file__).resolve().parents[1]
APP = TESTS / "browser" / "apps" / "summary_app.py"
JOB = TESTS / "integration" / "jobs" / "gated_job.py"
B = "/api/v1/indexlab/batch"


@dataclass
class SummaryServer:
    url: str
    db: Path
    catalog: Path
    log: Path
    gate: Path
    job_log: Path
    process: subprocess.Popen | None = None
    env: dict[str, str] = field(default_factory=dict)  # more INDEXLAB_* settings (e.g. the worker budget)
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def page_url(self) -> str:
        return self.url + "/summary_app"

    def start(self) -> None:
        env = {"INDEXLAB_DB": str(self.db), "INDEXLAB_CATALOG": str(self.catalog), "INDEXLAB_API_ALLOW_COMMAND": "1",
               **self.env}
        self.process = panel_serve(APP, log=self.log, env=env, port=urlsplit(self.url).port, plugin=True).process

    def stop(self) -> None:
        if self.process is None:
            return
        Server(self.url, self.process, self.log).stop()
        self.process = None

    def halt(self) -> None:
        """Force-stop every batch the server works on: under ``panel serve`` nothing closes the engine before the
        interpreter exits."""
        self.gate.touch()  # release any job still waiting
        if self.process is None:
            return
        for state in ("running", "paused", "stopping", "queued"):
            for batch in self.client.get(f"{B}", params={"state": state, "limit": 100}).json().get("batches", []):
                self.client.post(f"{B}/stop", json={"batch_run_id": batch["batch_run_id"], "force": True})

    # ------------------------------------------------------------------ REST
    def post(self, action: str, body: dict) -> dict:
        response = self.client.post(f"{B}/{action}", json=body)
        assert response.status_code in (200, 201), response.text
        return response.json()

    def plan_gated(self, workers: int = 2) -> str:
        settings = {"runner": "command", "command": [sys.executable, str(JOB), str(self.job_log), str(self.gate)],
                    "workers": workers, "max_run_seconds": 120}
        return self.post("plan", {"selection": {"all": True}, "settings": settings})["batch_run_id"]

    def status(self, batch: str) -> dict:
        return self.client.get(f"{B}/{batch}/status").json()


def server_errors(log: Path) -> list[str]:
    """Tracebacks in the server log (a page closing while the server writes to it logs none: dashboard.views.sessions)."""
    return log.read_text(errors="replace").replace("\x00", "").split("Traceback (most recent call last):")[1:]


def serve_summary(tmp_path: Path, catalog: Path, db_name: str = "summary.duckdb",
                  env: dict[str, str] | None = None) -> Iterator[SummaryServer]:
    """A started SummaryServer on a free loopback port; stopped after, and its log must hold no error."""
    srv = SummaryServer(url=f"http://127.0.0.1:{free_port()}", db=tmp_path / db_name, catalog=catalog,
                        log=tmp_path / "server.log", gate=tmp_path / "gate", job_log=tmp_path / "jobs.log",
                        env=env or {})
    srv.start()
    yield srv
    srv.halt()
    srv.stop()
    srv.client.close()
    assert server_errors(srv.log) == [], srv.log.read_text(errors="replace")


def text(page, css_class: str) -> str:
    """The text a Panel pane shows: its content sits in the shadow root under the element with ``css_class``."""
    inner = page.locator(f".{css_class} div")
    return inner.first.inner_text() if inner.count() else ""


def count(page, state: str) -> int | None:
    text_ = text(page, f"summary-count-{state}").split()
    digits = [t.replace(",", "") for t in text_ if t.replace(",", "").isdigit()]
    return int(digits[-1]) if digits else None


def badge(page) -> str:
    badges = page.locator(".summary-header .badge")
    return badges.first.inner_text().strip().lower() if badges.count() else ""


def assert_clean(*sessions: PageWithConsole) -> None:
    for s in sessions:
        assert s.errors == [], s.errors
        assert s.outside_requests == [], s.outside_requests

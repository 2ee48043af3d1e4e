"""`indexlab serve` restarted on a running batch recovers and resumes it before it imports the dashboard (Panel):
the restart's first dispatch does not wait for the UI's imports. Real server processes, SIGKILL, real job processes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx

from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.servers import kill_server, start_server, stop_server

B = "/api/v1/indexlab/batch"
JOBS = Path(__file__).parent / "jobs"


def _imported(line: str, module: str) -> bool:
    """A line of ``-X importtime`` that says ``module`` was imported ("import time: self | cumulative |   name")."""
    return line.startswith("import time:") and line.rsplit("|", 1)[-1].strip() == module


def _starts(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def test_a_restarted_server_resumes_the_running_batch_before_it_imports_panel(tmp_path):
    db, jobs, gate = tmp_path / "indexlab.duckdb", tmp_path / "jobs.log", tmp_path / "gate"
    catalog = write_catalog(tmp_path / "catalog.csv", 6)
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"runner": "command", "workers": 1,
                                    "command": [sys.executable, str(JOBS / "gated_job.py"), str(jobs), str(gate)]}))
    args = ["--settings", str(settings)]
    server = start_server(db, catalog, log=tmp_path / "first.log", args=args)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            batch = client.post(f"{B}/plan", json={"selection": {"all": True}}).json()["batch_run_id"]
            assert client.post(f"{B}/start", json={"batch_run_id": batch}).status_code == 200
        wait_until(lambda: len(_starts(jobs)) == 1, message="the first job did not start")
    finally:
        kill_server(server)  # the batch stays running in the store, its one item with it

    log = tmp_path / "restart.log"  # every import the restarted server makes, in order, with its own lines
    server = start_server(db, catalog, log=log, args=args, env={"PYTHONPROFILEIMPORTTIME": "1"})
    try:
        wait_until(lambda: len(_starts(jobs)) == 2, message="the restart did not dispatch the interrupted item")
        lines = log.read_text().splitlines()
        opened = next(i for i, line in enumerate(lines) if line.startswith("IndexLab Batch: engine open"))
        assert f"batch {batch} loaded" in lines[opened]
        panel = next(i for i, line in enumerate(lines) if _imported(line, "panel"))
        assert opened < panel, "the engine was opened after Panel was imported"
        assert not any(_imported(line, "engine.runners.harvest") for line in lines[:opened]), \
            "a command batch's restart waited for the harvest runner's import"
        with httpx.Client(base_url=server.url, timeout=30) as client:
            status = client.get(f"{B}/{batch}/status").json()
        assert status["state"] == "running" and status["counts"]["running"] == 1
        gate.touch()
        wait_until(lambda: httpx.get(f"{server.url}{B}/{batch}/status").json()["state"] == "completed",
                   timeout=60, message="the resumed batch did not complete")
    finally:
        gate.touch()
        stop_server(server)
    assert "Traceback" not in server.output()

"""Issue #11 items 8 and 9: a product that kills the server is failed after max_crashes, and no job process
outlives the server that started it. Real `indexlab serve` processes, killed with SIGKILL, real job processes.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import httpx

from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.servers import Server, kill_server, start_server, stop_server

B = "/api/v1/indexlab/batch"
JOBS = Path(__file__).parent / "jobs"


def _settings(path: Path, command: list[str], **extra) -> list[str]:
    path.write_text(json.dumps({"runner": "command", "command": [sys.executable, *command], "workers": 1, **extra}))
    return ["--settings", str(path)]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")  # a zombie has ended; only its parent's reaping is left


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_a_product_that_kills_the_server_fails_after_three_crashes_and_the_batch_goes_on(tmp_path):
    db, log, server_log = tmp_path / "indexlab.duckdb", tmp_path / "jobs.log", tmp_path / "server.log"
    catalog = write_catalog(tmp_path / "catalog.csv", 8)
    args = _settings(tmp_path / "settings.json", [str(JOBS / "crash_job.py"), str(log), "p0004"], max_crashes=3)
    server: Server = start_server(db, catalog, log=server_log, args=args)
    port = int(server.url.rsplit(":", 1)[1])
    deaths = 0
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            planned = client.post(f"{B}/plan", json={"selection": {"brands": ["Logitech", "Zowie"]}})
            batch = planned.json()["batch_run_id"]
            assert [i["product_id"] for i in planned.json()["first_items"]] == ["p0000", "p0004", "p0002", "p0006"]
            assert client.post(f"{B}/start", json={"batch_run_id": batch}).status_code == 200

        def finished() -> bool:
            nonlocal server, deaths
            if server.process.poll() is not None:  # the crasher killed it: a supervisor would start it again
                deaths += 1
                assert deaths <= 5, f"the server was killed {deaths} times: the crashing product keeps being dispatched"
                server = start_server(db, catalog, log=server_log, args=args, port=port, wait=False)
                return False
            try:
                return httpx.get(f"{server.url}{B}/{batch}/status", timeout=5).json()["state"] == "completed"
            except httpx.HTTPError:
                return False

        wait_until(finished, timeout=120, message=lambda: f"{deaths} deaths; jobs: {log.read_text()}")
        assert deaths == 3
        wait_until(lambda: server.process.poll() is None and httpx.get(f"{server.url}/healthz").status_code == 200)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            items = {i["product_id"]: i for i in client.get(f"{B}/{batch}/items").json()["items"]}
        assert items["p0004"]["state"] == "failed" and items["p0004"]["last_error"] == "crashed the worker 3 times"
        assert items["p0004"]["crashes"] == 3
        assert {pid: items[pid]["state"] for pid in ("p0000", "p0002", "p0006")} == dict.fromkeys(
            ("p0000", "p0002", "p0006"), "completed")
        starts = [line.split() for line in log.read_text().splitlines()]
        # every run of the crasher is on record with its own attempt number; the others ran once each
        assert [attempt for _, pid, attempt, _ in starts if pid == "p0004"] == ["1", "2", "3"]
        assert Counter(pid for _, pid, _, _ in starts if pid != "p0004") == {"p0000": 1, "p0002": 1, "p0006": 1}
    finally:
        stop_server(server)


def test_job_processes_die_with_a_killed_server_and_leftovers_are_swept_at_restart(tmp_path):
    db, log, server_log = tmp_path / "indexlab.duckdb", tmp_path / "jobs.log", tmp_path / "server.log"
    catalog = write_catalog(tmp_path / "catalog.csv", 4)
    args = _settings(tmp_path / "settings.json", [str(JOBS / "orphan_job.py"), str(log)])
    server = start_server(db, catalog, log=server_log, args=args)
    port = int(server.url.rsplit(":", 1)[1])
    job = grandchild = None

    def noted(word: str) -> int | None:
        lines = [line.split() for line in log.read_text().splitlines()] if log.exists() else []
        return next((int(parts[-1]) for parts in lines if parts[0] == word), None)

    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            batch = client.post(f"{B}/plan", json={"selection": {"brands": ["Zowie"]}}).json()["batch_run_id"]
            assert client.post(f"{B}/start", json={"batch_run_id": batch}).status_code == 200
        grandchild = wait_until(lambda: noted("grandchild"), timeout=30)
        job = noted("start")
        kill_server(server)
        # the job itself dies with the server (its parent-death signal); what it spawned lives on
        wait_until(lambda: not _alive(job), timeout=10, message=f"job {job} outlived the SIGKILLed server")
        assert _alive(grandchild)

        server = start_server(db, catalog, log=server_log, args=args, port=port)
        wait_until(lambda: not _alive(grandchild), timeout=10,
                   message=f"the grandchild {grandchild} of the killed server's job survived the restart")
        wait_until(lambda: httpx.get(f"{server.url}{B}/{batch}/status").json()["state"] == "completed", timeout=60)
        lines = log.read_text().splitlines()
        assert not [line for line in lines if line.startswith("overlap")], lines  # never two runs at once
        assert [line.split()[2] for line in lines if line.startswith("start")] == ["1", "2"]
        events = httpx.get(f"{server.url}{B}/{batch}/events", params={"limit": 1000}).json()["events"]
        assert any(e["kind"] == "orphan_sweep" and "killed" in e["reason"] for e in events)
    finally:
        for pid in (job, grandchild):
            if pid is not None:
                _kill(pid)
        stop_server(server)

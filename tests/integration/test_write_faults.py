"""Issue #11 item 7: a failed write answers 503 with its cause, changes nothing, and the server recovers by itself.

Real faults only: a read-only database directory (the server runs without the capabilities that let root
ignore file permissions) and a full filesystem (a small tmpfs filled by the test). A real `indexlab serve`
on 127.0.0.1, real DuckDB files, real jobs through the command runner.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server
from tests.support.unprivileged import unprivileged

B = "/api/v1/indexlab/batch"
PACED_JOB = Path(__file__).parents[1] / "browser" / "jobs" / "paced_job.py"
def _settings_file(path: Path, job_log: Path, seconds: float, **extra) -> Path:
    path.write_text(json.dumps({"runner": "command", "workers": 2, "max_attempts": 1, "fail_fast_failures": 0,
                                "command": [sys.executable, str(PACED_JOB), str(job_log), str(seconds)], **extra}))
    return path


def _plan(client: httpx.Client, brands: list[str]) -> httpx.Response:
    return client.post(f"{B}/plan", json={"selection": {"brands": brands}, "confirm_large": True})


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def _starts(job_log: Path) -> Counter:
    lines = job_log.read_text().splitlines() if job_log.exists() else []
    return Counter(line.split()[2] for line in lines if line.startswith("start "))


def _stored_counts(client: httpx.Client, batch: str) -> dict[str, int]:
    items = client.get(f"{B}/{batch}/items", params={"limit": 1000}).json()["items"]
    return dict(Counter(item["state"] for item in items))


def test_a_directory_made_read_only_under_the_server_answers_503_changes_nothing_and_recovers(tmp_path):
    """The server keeps its WAL open, so a read-only directory bites when DuckDB must create or remove the WAL
    (at a checkpoint). A 1 KB checkpoint threshold makes that every few writes instead of every 16 MB: then a
    write either fails cleanly, or commits and leaves the database invalid until it can be reopened."""
    prefix = unprivileged([])  # the server cannot bypass file permissions, even as root
    data = tmp_path / "data"
    data.mkdir()
    db, catalog, job_log = data / "indexlab.duckdb", write_catalog(tmp_path / "catalog.csv", 12), tmp_path / "jobs.log"
    settings = _settings_file(tmp_path / "settings.json", job_log, 0.05)
    server = start_server(db, catalog, log=tmp_path / "server.log", args=["--settings", str(settings)], prefix=prefix,
                          env={"INDEXLAB_CHECKPOINT_THRESHOLD": "1KB"})
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            planned = _plan(client, ["Zowie"]).json()["batch_run_id"]
            data.chmod(0o555)
            wait_until(lambda: client.get("/healthz").status_code == 503, timeout=30)
            health = client.get("/healthz").json()
            assert health["status"] == "degraded" and "Permission denied" in health["cause"]

            error = _error(_plan(client, ["Razer"]), 503)
            assert error["code"] == "store_write_failed" and "Permission denied" in error["message"]
            assert str(data) not in error["message"]  # the cause, not the server's paths
            for _ in range(2):  # refused, and refused the same way again: memory did not move on
                error = _error(client.post(f"{B}/start", json={"batch_run_id": planned}), 503)
                assert "Permission denied" in error["message"]
                assert client.get(f"{B}/{planned}/status").json()["state"] == "planned"

            data.chmod(0o755)  # the cause goes away: no restart needed
            wait_until(lambda: client.get("/healthz").status_code == 200, timeout=30)
            assert [b["batch_run_id"] for b in client.get(B).json()["batches"]] == [planned]  # the refused plan is not there
            started = client.post(f"{B}/start", json={"batch_run_id": planned})
            assert started.status_code == 200, started.text
            wait_until(lambda: client.get(f"{B}/{planned}/status").json()["state"] == "completed", timeout=60)
            status = client.get(f"{B}/{planned}/status").json()
            assert status["counts"]["completed"] == 3 == _stored_counts(client, planned)["completed"]
            assert _plan(client, ["Razer"]).status_code == 201
    finally:
        data.chmod(0o755)
        stop_server(server)
    assert "Traceback" not in server.output()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 48 MB tmpfs the test can fill: a real full filesystem (needs root and mount; skipped otherwise)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("a full filesystem needs root to mount a small tmpfs")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"this machine does not allow mounting a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    with filler.open("wb") as f:
        try:
            while True:
                f.write(b"\0" * (1 << 16))
                f.flush()
        except OSError:
            pass
    return filler


def test_a_full_disk_holds_the_batch_back_and_it_finishes_once_space_returns(tmp_path, small_disk):
    db, job_log = small_disk / "indexlab.duckdb", tmp_path / "jobs.log"
    catalog = write_catalog(tmp_path / "catalog.csv", 40)
    settings = _settings_file(tmp_path / "settings.json", job_log, 0.3)
    server: Server = start_server(db, catalog, log=tmp_path / "server.log", args=["--settings", str(settings)])
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            batch = _plan(client, ["Logitech", "Razer"]).json()["batch_run_id"]
            assert client.post(f"{B}/start", json={"batch_run_id": batch}).status_code == 200
            wait_until(lambda: client.get(f"{B}/{batch}/status").json()["counts"]["completed"] >= 3, timeout=60)

            filler = _fill(small_disk)
            wait_until(lambda: client.get("/healthz").status_code == 503, timeout=30)
            assert "No space left on device" in client.get("/healthz").json()["cause"]
            wait_until(lambda: client.get(f"{B}/{batch}/status").json()["halted"], timeout=30)
            status = client.get(f"{B}/{batch}/status").json()
            assert "cannot write" in status["halted"] and status["state"] == "running"
            error = _error(client.post(f"{B}/pause", json={"batch_run_id": batch}), 503)
            assert "No space left on device" in error["message"]
            assert client.get(f"{B}/{batch}/status").json()["state"] == "running"  # the refused pause changed nothing
            assert _error(_plan(client, ["Zowie"]), 503)["code"] == "store_write_failed"

            filler.unlink()
            wait_until(lambda: client.get("/healthz").status_code == 200, timeout=30)
            wait_until(lambda: client.get(f"{B}/{batch}/status").json()["state"] == "completed", timeout=120,
                       message=lambda: str(client.get(f"{B}/{batch}/status").json()))
            status = client.get(f"{B}/{batch}/status").json()
            assert status["halted"] is None and status["counts"]["completed"] == 20
            assert _stored_counts(client, batch) == {"completed": 20}  # memory and store agree
            assert set(_starts(job_log).values()) == {1} and len(_starts(job_log)) == 20  # each product ran once
            assert client.get("/healthz").json()["held_changes"] == 0
    finally:
        stop_server(server)
    assert "Traceback" not in server.output()

"""`indexlab batch ...` against a real `indexlab serve`: round trips, --json, errors, the API token."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from dashboard.cli import main
from tests.support.catalogs import CLI_ROWS, write_catalog
from tests.support.polling import wait_until
from tests.support.servers import Server, free_port, start_server, stop_server

API = "/api/v1/indexlab/batch"
JOB = "import json, sys, time\ntime.sleep(float(sys.argv[1]))\nprint(json.dumps({'fields': {}}))\n"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli-client")
    write_catalog(root / "catalog.csv", CLI_ROWS)
    (root / "job.py").write_text(JOB)
    return root


@pytest.fixture(scope="module")
def server(files):
    srv = start_server(files / "open.duckdb", files / "catalog.csv", log=files / "open.log",
                       env={"INDEXLAB_API_TOKEN": "", "INDEXLAB_API_ALLOW_COMMAND": "1"})
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.output(), srv.output()


@pytest.fixture(scope="module")
def token_server(files):
    srv = start_server(files / "token.duckdb", files / "catalog.csv", log=files / "token.log",
                       env={"INDEXLAB_API_TOKEN": "secret", "INDEXLAB_API_ALLOW_COMMAND": ""})
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.output(), srv.output()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("INDEXLAB_API_TOKEN", raising=False)
    monkeypatch.delenv("INDEXLAB_URL", raising=False)


@pytest.fixture
def url(server: Server):
    """The open server's URL; afterwards no batch is left running or paused there."""
    yield server.url
    active = httpx.get(server.url + "/healthz").json()["active_batch_run_id"]
    if active and status(server.url, active)["state"] in ("running", "paused", "stopping"):
        httpx.post(f"{server.url}{API}/stop", json={"batch_run_id": active, "force": True})
        wait_state(server.url, active, "stopped", "completed", timeout=15)


def batch(capsys, url: str, *argv: object) -> tuple[int, str, str]:
    code = main(["batch", *map(str, argv), "--url", url])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def batch_json(capsys, url: str, *argv: object) -> dict:
    code, out, err = batch(capsys, url, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def slow_job(files: Path, seconds: float) -> str:
    return shlex.join([sys.executable, str(files / "job.py"), str(seconds)])


def plan_slow(capsys, url: str, files: Path, seconds: float) -> str:
    """All 9 products, one at a time, each taking ``seconds``."""
    argv = ("plan", "--all", "--workers", "1", "--command", slow_job(files, seconds))
    return batch_json(capsys, url, *argv)["batch_run_id"]


def status(url: str, batch_run_id: str) -> dict:
    return httpx.get(f"{url}{API}/{batch_run_id}/status").json()


def wait_state(url: str, batch_run_id: str, *states: str, timeout: float = 30) -> dict:
    return wait_until(lambda: (s := status(url, batch_run_id))["state"] in states and s, timeout=timeout,
                      message=f"batch {batch_run_id} never reached {states}")


def run_noop_batch(capsys, url: str, *selection: str) -> str:
    batch_run_id = batch_json(capsys, url, "plan", *(selection or ("--all",)), "--runner", "noop")["batch_run_id"]
    batch_json(capsys, url, "start", batch_run_id)
    wait_state(url, batch_run_id, "completed")
    return batch_run_id


# --------------------------------------------------------------------------- round trips
def test_plan_prints_the_plan_and_json_is_the_api_document(capsys, url):
    code, out, err = batch(capsys, url, "plan", "--all", "--brand-order", "Zowie,Razer", "--runner", "noop")
    assert code == 0 and err == ""
    assert "items         9 across 3 brands" in out and "runner noop" in out and "indexlab batch start " in out
    assert out.index("1. Zowie") < out.index("2. Razer") < out.index("3. Logitech")
    doc = batch_json(capsys, url, "plan", "--brand", "Razer", "--pin", "Razer", "--workers", "3", "--runner", "noop")
    assert doc["state"] == "planned" and doc["total"] == 3 and doc["created_at"].endswith("Z")
    assert doc["settings"]["workers"] == 3 and doc["settings"]["runner"] == "noop"
    assert [b["brand"] for b in doc["brands"]] == ["Razer"] and doc["brands"][0]["pinned"] is True


def test_start_status_items_events_and_list(capsys, url):
    batch_run_id = batch_json(capsys, url, "plan", "--all", "--runner", "noop")["batch_run_id"]
    started = batch_json(capsys, url, "start", batch_run_id)
    assert started["batch_run_id"] == batch_run_id and started["state"] in ("running", "completed")
    wait_state(url, batch_run_id, "completed")

    code, out, _ = batch(capsys, url, "status", batch_run_id)
    assert code == 0 and "state         completed" in out and "9/9 completed ok 9 failed 0" in out
    assert batch_json(capsys, url, "status", batch_run_id) == status(url, batch_run_id)  # exactly the API's document

    items = batch_json(capsys, url, "items", batch_run_id, "--brand", "Razer", "--state", "completed")
    assert items["total"] == 3 and {i["brand"] for i in items["items"]} == {"Razer"}
    page = batch_json(capsys, url, "items", batch_run_id, "--offset", "1", "--limit", "2")
    assert [i["seq"] for i in page["items"]] == [2, 3] and page["total"] == 9
    code, out, _ = batch(capsys, url, "items", batch_run_id, "--limit", "3")
    assert code == 0 and "seq" in out.splitlines()[0] and "items 1-3 of 9" in out

    events = batch_json(capsys, url, "events", batch_run_id, "--limit", "1000")
    moves = [(e["kind"], e["to_state"]) for e in events["events"]]
    assert ("batch_transition", "completed") in moves and moves.count(("item_transition", "completed")) == 9
    assert events["total"] == len(events["events"])
    page = batch_json(capsys, url, "events", batch_run_id, "--offset", "2", "--limit", "3")
    assert [e["event_id"] for e in page["events"]] == [e["event_id"] for e in events["events"][2:5]]
    code, out, _ = batch(capsys, url, "events", batch_run_id)
    assert code == 0 and "running -> completed" in out

    listed = batch_json(capsys, url, "list")
    assert listed == httpx.get(url + API).json() and listed["batches"][0]["batch_run_id"] == batch_run_id
    code, out, _ = batch(capsys, url, "list", "--limit", "1")
    assert code == 0 and batch_run_id in out and "completed" in out and "batches 1-1" in out


def test_pause_and_resume(capsys, url, files):
    batch_run_id = plan_slow(capsys, url, files, 0.5)  # 4.5 s of work: the call lands before it ends
    batch_json(capsys, url, "start", batch_run_id)
    code, out, _ = batch(capsys, url, "pause", batch_run_id)
    assert code == 0 and "state         paused" in out
    paused = wait_until(lambda: (s := status(url, batch_run_id))["counts"]["running"] == 0 and s, timeout=15)
    assert paused["state"] == "paused" and paused["counts"]["queued"] > 0
    assert batch_json(capsys, url, "resume", batch_run_id)["state"] in ("running", "completed")
    done = wait_state(url, batch_run_id, "completed")
    assert done["counts"]["completed"] == 9


def test_graceful_stop_then_resume(capsys, url, files):
    batch_run_id = plan_slow(capsys, url, files, 0.5)  # 4.5 s of work: the call lands before it ends
    batch_json(capsys, url, "start", batch_run_id)
    assert batch_json(capsys, url, "stop", batch_run_id)["state"] in ("stopping", "stopped")
    stopped = wait_state(url, batch_run_id, "stopped")
    assert stopped["counts"]["stopped"] > 0 and stopped["counts"]["running"] == 0
    code, out, _ = batch(capsys, url, "resume", batch_run_id)
    assert code == 0 and "batch_run_id  " + batch_run_id in out
    assert wait_state(url, batch_run_id, "completed")["counts"]["completed"] == 9


def test_force_stop_cancels_a_running_item(capsys, url, files):
    batch_run_id = plan_slow(capsys, url, files, 60)
    batch_json(capsys, url, "start", batch_run_id)
    wait_until(lambda: status(url, batch_run_id)["counts"]["running"] == 1, timeout=15)
    began = time.monotonic()
    doc = batch_json(capsys, url, "stop", batch_run_id, "--force")
    assert time.monotonic() - began < 30 and doc["state"] == "stopped"  # the job runs 60 s: it did not wait for it
    assert doc["counts"]["running"] == 0 and doc["counts"]["stopped"] == 9


def test_retry_failed_items_all_or_by_seq(capsys, url, files):
    failing = shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"])
    argv = ("plan", "--brand", "Zowie", "--command", failing, "--max-attempts", "1")
    batch_run_id = batch_json(capsys, url, *argv)["batch_run_id"]
    batch_json(capsys, url, "start", batch_run_id)
    assert wait_state(url, batch_run_id, "completed")["counts"]["failed"] == 3
    code, out, _ = batch(capsys, url, "retry", batch_run_id)
    assert code == 0 and out.startswith("re-queued 3 items")
    assert wait_state(url, batch_run_id, "completed")["counts"]["failed"] == 3
    doc = batch_json(capsys, url, "retry", batch_run_id, "--seq", "1", "3")
    assert doc["count"] == 2 and doc["batch_run_id"] == batch_run_id and "counts" in doc["status"]
    wait_state(url, batch_run_id, "completed")


def test_skip_queued_items(capsys, url):
    batch_run_id = batch_json(capsys, url, "plan", "--all", "--runner", "noop")["batch_run_id"]
    code, out, _ = batch(capsys, url, "skip", batch_run_id, "--seq", "2", "3")
    assert code == 0 and out.startswith("skipped 2 items") and "skipped 2" in out
    batch_json(capsys, url, "start", batch_run_id)
    done = wait_state(url, batch_run_id, "completed")
    assert done["counts"]["completed"] == 7 and done["counts"]["skipped"] == 2


def test_url_comes_from_the_environment(capsys, url, monkeypatch):
    monkeypatch.setenv("INDEXLAB_URL", url + "/")
    code = main(["batch", "list", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0 and "batches" in json.loads(out)


# --------------------------------------------------------------------------- errors
def test_unknown_batch_is_a_clear_404(capsys, url):
    code, out, err = batch(capsys, url, "status", "no-such-batch")
    assert code == 1 and out == ""
    assert err.startswith("indexlab: error: ") and "no-such-batch" in err and err.rstrip().endswith("(HTTP 404)")
    code, _, err = batch(capsys, url, "start", "no-such-batch", "--json")
    assert code == 1 and "(HTTP 404)" in err


def test_api_validation_and_lifecycle_errors(capsys, url):
    code, _, err = batch(capsys, url, "plan", "--runner", "noop")  # empty selection
    assert code == 1 and "(HTTP 422)" in err and err.count("\n") == 1
    batch_run_id = run_noop_batch(capsys, url, "--brand", "Zowie")
    code, _, err = batch(capsys, url, "pause", batch_run_id)
    assert code == 1 and "completed" in err and "(HTTP 409)" in err
    code, _, err = batch(capsys, url, "items", batch_run_id, "--limit", "5000")
    assert code == 1 and "limit" in err and "(HTTP 422)" in err


def test_unreachable_server_names_the_url(capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    code, out, err = batch(capsys, dead, "list")
    assert code == 1 and out == ""
    assert err.startswith(f"indexlab: error: cannot reach the IndexLab server at {dead}") and "INDEXLAB_URL" in err
    code, _, err = batch(capsys, "localhost:5006", "list")
    assert code == 1 and err.startswith("indexlab: error: invalid server URL 'localhost:5006'")


def test_a_url_that_is_not_the_api_is_a_clear_error(capsys, url):
    code, _, err = batch(capsys, url + "/nothing-here", "list")
    assert code == 1 and err.startswith("indexlab: error: unexpected answer from ") and "HTTP 404" in err


def test_console_script_prints_no_traceback(url):
    exe = Path(sys.executable).parent / "indexlab"
    proc = subprocess.run([str(exe), "batch", "status", "nope", "--url", url], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("indexlab: error: ") and "(HTTP 404)" in proc.stderr and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- token
def test_token_is_required_for_mutating_calls_and_sent_when_set(capsys, token_server, monkeypatch):
    url = token_server.url
    code, _, err = batch(capsys, url, "plan", "--all", "--runner", "noop")
    assert code == 1 and "Bearer" in err and "(HTTP 401)" in err
    assert batch_json(capsys, url, "list")["batches"] == []  # nothing was written; reads need no token

    monkeypatch.setenv("INDEXLAB_API_TOKEN", "wrong")
    code, _, err = batch(capsys, url, "plan", "--all", "--runner", "noop")
    assert code == 1 and "(HTTP 401)" in err

    monkeypatch.setenv("INDEXLAB_API_TOKEN", "secret")
    code, _, err = batch(capsys, url, "plan", "--all", "--command", "true")  # this server runs no programs
    assert code == 1 and "INDEXLAB_API_ALLOW_COMMAND" in err and "(HTTP 403)" in err
    batch_run_id = batch_json(capsys, url, "plan", "--all", "--runner", "noop")["batch_run_id"]
    batch_json(capsys, url, "start", batch_run_id)
    assert wait_state(url, batch_run_id, "completed")["counts"]["completed"] == 9
    monkeypatch.delenv("INDEXLAB_API_TOKEN")
    code, _, err = batch(capsys, url, "retry", batch_run_id)
    assert code == 1 and "(HTTP 401)" in err


# --------------------------------------------------------------------------- many batches: priority, workers, queue
def test_priority_workers_and_the_queue_over_the_api(capsys, url, files):
    batch_run_id = plan_slow(capsys, url, files, 0.5)  # 4.5 s of work: the call lands before it ends  # planned: not started
    code, _, err = batch(capsys, url, "priority", batch_run_id, "11")
    assert code == 1 and "priority" in err and "less than or equal to 10" in err
    code, _, err = batch(capsys, url, "queue", "--move", batch_run_id, "1")
    assert code == 1 and f"batch {batch_run_id} is planned, not queued" in err
    code, out, _ = batch(capsys, url, "priority", batch_run_id, "7")
    assert code == 0 and f"batch {batch_run_id}: planned, priority 7, workers 1" in out
    assert batch_json(capsys, url, "workers", batch_run_id, "3")["workers"] == 3
    code, out, _ = batch(capsys, url, "queue")
    assert code == 0 and "budget    4 workers, 4 batches at once" in out and "queued    none" in out
    events = httpx.get(f"{url}{API}/{batch_run_id}/events").json()["events"]
    assert [e["reason"] for e in events if e["kind"] == "operator_action"] == ["priority 5 -> 7", "workers 1 -> 3"]

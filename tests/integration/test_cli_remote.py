"""The batch commands through a real `indexlab serve` (--url / INDEXLAB_URL): lifecycle, watch, export, snapshot;
the API's items.csv | items.parquet and snapshot; and the database held by that server, from the CLI's side."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import httpx
import pyarrow.parquet as pq
import pytest

from dashboard.cli import main
from tests.support.catalogs import CLI_ROWS, write_catalog
from tests.support.cli import indexlab
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server

API = "/api/v1/indexlab/batch"
HOSTILE = "\x1b]0;pwned\x07\x1b[2J<b>\u202eexe.gnp"
ROWS = [*CLI_ROWS, ("h-1", "mouse", "Evil" + HOSTILE, "=Model" + HOSTILE, "")]
# Waits for the gate file the test opens (so a batch stays running while the test acts on it), then succeeds. The
# job's own loop polls its gate with a deadline (the job's behaviour, in its own process); the test never sleeps.
JOB = ("import json, os, sys, time\np = json.load(sys.stdin)\nend = time.time() + 60\n"
       "while not os.path.exists(sys.argv[1]) and time.time() < end:\n    time.sleep(0.02)\n"
       "print(json.dumps({'coverage': 1.0, 'missing': [], 'fields': [{'field': 'dpi', 'value': 1}]}))\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-remote")
    write_catalog(root / "catalog.csv", ROWS)
    (root / "job.py").write_text(JOB)
    srv = start_server(root / "served.duckdb", root / "catalog.csv", log=root / "server.log",
                       env={"INDEXLAB_API_TOKEN": "", "INDEXLAB_API_ALLOW_COMMAND": "1"})
    srv.root = root
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.output(), srv.output()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv("INDEXLAB_API_TOKEN", raising=False)
    monkeypatch.delenv("INDEXLAB_URL", raising=False)


@pytest.fixture
def gate(tmp_path):
    path = tmp_path / "gate"
    yield path
    path.touch()  # release any job still waiting


def cli(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return code, out, err


def plan(capsys, server: Server, gate: Path, *selection: str) -> str:
    job = shlex.join([sys.executable, str(server.root / "job.py"), str(gate)])
    code, out, err = cli(capsys, "batch", "plan", *(selection or ("--all",)), "--workers", "1", "--command", job,
                         "--url", server.url, "--json")
    assert code == 0, err
    return json.loads(out)["batch_run_id"]


def state(server: Server, batch: str) -> str:
    return httpx.get(f"{server.url}{API}/{batch}/status").json()["state"]


def test_start_pause_resume_through_the_server_exit_by_the_result(capsys, server, gate):
    batch = plan(capsys, server, gate, "--brand", "Razer")
    code, out, err = cli(capsys, "start", batch, "--url", server.url, "--detach")
    assert code == 6 and "state         running" in out, err  # the server runs it: not finished
    code, out, _ = cli(capsys, "pause", batch, "--url", server.url)
    assert code == 6 and "state         paused" in out
    code, _, err = cli(capsys, "pause", batch, "--url", server.url)
    assert code == 1 and f"batch {batch} is paused; it cannot become paused" in err and "(HTTP 409)" in err
    gate.touch()
    code, out, err = cli(capsys, "resume", batch, "--url", server.url, "--interval", "0.1")
    doc = json.loads(out)  # followed to the end: the summary, as `indexlab run` prints it
    assert code == 0 and doc["state"] == "completed" and doc["counts"]["completed"] == 3, err
    assert "following batch" in err and "3/3 completed" in err


def test_an_unknown_batch_through_the_server_is_exit_2(capsys, server, tmp_path):
    for argv in (["stop", "nope", "--force"], ["skip", "nope", "--seq", "1"], ["status", "nope", "--watch"],
                 ["export", "nope", "-o", tmp_path / "x.csv"]):
        code, out, err = cli(capsys, *argv, "--url", server.url)
        assert (code, out) == (2 if argv[0] != "status" else 1, ""), (argv, err)
        assert "no batch 'nope'" in err and "(HTTP 404)" in err


def test_indexlab_url_in_the_environment_and_a_watch_without_a_terminal(capsys, server, gate):
    batch = plan(capsys, server, gate, "--brand", "Zowie")
    env = {**os.environ, "INDEXLAB_URL": server.url}
    assert subprocess.run([indexlab(), "start", batch, "--detach"], env=env, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60).returncode == 6
    watcher = subprocess.Popen([indexlab(), "status", batch, "--watch", "--interval", "0.1"], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    first = watcher.stdout.readline()  # shown while the first job waits at the gate
    assert "0/3 running" in first, first
    gate.touch()
    out, err = watcher.communicate(timeout=60)
    lines = [first.rstrip("\n"), *out.splitlines()]
    assert watcher.returncode == 0 and "3/3 completed" in lines[-1], err  # ends when the batch does
    assert len(lines) == len(set(lines)), lines  # a line per change, none repeated


def test_the_server_holds_its_database_and_the_cli_says_to_use_its_url(capsys, server):
    code, out, err = cli(capsys, "pause", "any-batch", "--db", server.root / "served.duckdb")
    assert code == 1 and out == ""
    assert f"a server holds {server.root / 'served.duckdb'}" in err and f"use --url {server.url}" in err
    code, _, err = cli(capsys, "snapshot", server.root / "copy.duckdb", "--db", server.root / "served.duckdb")
    assert code == 1 and "a server holds" in err and not (server.root / "copy.duckdb").exists()


def test_items_as_csv_and_parquet_from_the_api_and_the_cli(capsys, server, gate, tmp_path):
    gate.touch()
    batch = plan(capsys, server, gate, "--product-id", "h-1", "--product-id", "p1")
    assert cli(capsys, "start", batch, "--url", server.url, "--interval", "0.1")[0] == 0
    csv_answer = httpx.get(f"{server.url}{API}/{batch}/items.csv")
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_answer.headers["content-disposition"] == f'attachment; filename="indexlab-items-{batch}.csv"'
    text = csv_answer.content.decode("utf-8-sig")
    assert "'=Model" in text and "Evil\x1b]0;pwned" in text  # a formula defused; the text kept as it is (a file)
    parquet_answer = httpx.get(f"{server.url}{API}/{batch}/items.parquet")
    assert parquet_answer.headers["content-type"] == "application/vnd.apache.parquet"
    table = pq.read_table(io.BytesIO(parquet_answer.content))
    items = httpx.get(f"{server.url}{API}/{batch}/items").json()["items"]
    for column in ("seq", "product_id", "brand", "model", "state", "attempts", "coverage", "gate"):
        assert table.column(column).to_pylist() == [i[column] for i in items], column
    assert table.column("fields_found").to_pylist() == [1, 1]
    code, _, err = cli(capsys, "export", batch, "--format", "parquet", "-o", tmp_path / "cli.parquet", "--url", server.url)
    assert code == 0 and (tmp_path / "cli.parquet").read_bytes() == parquet_answer.content, err
    missing = httpx.get(f"{server.url}{API}/nope/items.csv")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "batch_run_id"


def test_a_snapshot_through_the_server_is_streamed_and_not_kept(capsys, server, tmp_path):
    dest = tmp_path / "snap.duckdb"
    code, _, err = cli(capsys, "snapshot", dest, "--url", server.url)
    assert code == 0 and "the server's snapshot served-" in err, err
    listed = {b["batch_run_id"] for b in httpx.get(f"{server.url}{API}", params={"limit": 1000}).json()["batches"]}
    with duckdb.connect(str(dest), read_only=True) as copy:
        assert {r for (r,) in copy.execute("SELECT batch_run_id FROM batches").fetchall()} == listed
    assert list((server.root / "snapshots").iterdir()) == []  # streamed, then removed: nothing piles up
    code, _, err = cli(capsys, "snapshot", dest, "--url", server.url)
    assert code == 1 and f"{dest} exists" in err
    refused = httpx.post(f"{server.url}/api/v1/indexlab/snapshot", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403


def test_watch_in_a_terminal_redraws_in_place_and_keeps_batch_text_plain(capsys, server, gate):
    batch = plan(capsys, server, gate, "--product-id", "h-1")
    assert cli(capsys, "start", batch, "--url", server.url, "--detach")[0] == 6
    wait_until(lambda: httpx.get(f"{server.url}{API}/{batch}/status").json()["running"], timeout=30)
    leader, follower = pty.openpty()
    proc = subprocess.Popen([indexlab(), "batch", "status", batch, "--watch", "--interval", "0.1", "--url",
                             server.url], stdout=follower, stderr=follower, stdin=subprocess.DEVNULL)
    os.close(follower)
    seen = bytearray()

    def pump() -> None:  # until the child is gone (EIO) and everything it wrote is read
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                return
            if not data:
                return
            seen.extend(data)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    wait_until(lambda: b"\x1b[J" in seen, timeout=30, message=lambda: f"no redraw: {bytes(seen)!r}")
    gate.touch()
    code = proc.wait(timeout=60)
    reader.join(timeout=10)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert code == 0, text
    assert "\\x1b]0;pwned\\x07" in text and "\\u202e" in text and "1/1 completed" in text
    assert "\x1b" not in re.sub(r"\x1b\[\d+F\x1b\[J", "", text), text  # no escape but the view's own


def test_status_with_a_url_reads_the_servers_batch_not_a_local_file(capsys, server, gate, tmp_path, monkeypatch):
    gate.touch()
    batch = plan(capsys, server, gate, "--product-id", "p2")
    assert cli(capsys, "start", batch, "--url", server.url, "--interval", "0.1")[0] == 0
    monkeypatch.chdir(tmp_path)  # no var/indexlab.duckdb here: a local read would not know the batch
    code, out, err = cli(capsys, "status", batch, "--url", server.url, "--json")
    assert code == 0 and json.loads(out) == httpx.get(f"{server.url}{API}/{batch}/status").json(), err
    code, out, _ = cli(capsys, "status", batch, "--url", server.url)
    assert code == 0 and "state         completed" in out and not (tmp_path / "var").exists()

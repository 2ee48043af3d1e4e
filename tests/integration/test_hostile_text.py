"""Hostile input over a real server: `indexlab batch ...` shows product and job text escaped on the
terminal, and the API's 404 says what was not found without revealing the server's file paths."""

from __future__ import annotations

import csv
import json
import shlex
import sys
import unicodedata

import httpx
import pytest

from dashboard.cli import main
from tests.support.polling import wait_until
from tests.support.servers import start_server, stop_server

API = "/api/v1/indexlab/batch"
JOB = ("import json, sys\np = json.load(sys.stdin)\n"
       "if p['product_id'] == 'p2':\n    sys.stderr.write('boom\\x1b[2J\\x07'); sys.exit(3)\n"
       "print(json.dumps({'fields': {}}))\n")


def raw_controls(text: str) -> list[str]:
    return [c for c in text if not (c.isprintable() or c == "\n" or unicodedata.category(c) == "Zs")]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    with open(root / "catalog.csv", "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("product_id", "category", "brand", "model", "variant"),
                                  ("p1", "mice", "Evil\x1b]0;pwned\x07", "M\x1b[2J", "\u202eabc"),
                                  ("p2", "mi\x9bce", "Good", "two\rlines", "")])
    (root / "job.py").write_text(JOB)
    srv = start_server(root / "hostile.duckdb", root / "catalog.csv", log=root / "server.log",
                       env={"INDEXLAB_API_TOKEN": "", "INDEXLAB_API_ALLOW_COMMAND": "1"})
    srv.root = root
    yield srv
    stop_server(srv)
    assert "Traceback" not in srv.output(), srv.output()


def batch(capsys, url: str, *argv: object) -> tuple[int, str, str]:
    code = main(["batch", *map(str, argv), "--url", url])
    out, err = capsys.readouterr()
    assert raw_controls(out) == [] and raw_controls(err) == [], (out, err)
    return code, out, err


def test_unknown_batch_404_does_not_reveal_the_database_path(server):
    response = httpx.get(f"{server.url}{API}/no-such-batch/status")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no batch 'no-such-batch'"
    assert str(server.root) not in response.text and "duckdb" not in response.text


def test_batch_client_text_output_shows_control_characters_escaped(capsys, server, monkeypatch):
    monkeypatch.delenv("INDEXLAB_API_TOKEN", raising=False)
    job = shlex.join([sys.executable, str(server.root / "job.py")])
    code, out, _ = batch(capsys, server.url, "plan", "--all", "--command", job, "--max-attempts", "1")
    assert code == 0 and "Evil\\x1b]0;pwned\\x07 M\\x1b[2J [\\u202eabc]  (p1)" in out
    batch_run_id = out.split()[1]
    code, out, _ = batch(capsys, server.url, "start", batch_run_id)
    assert code == 0
    wait_until(lambda: httpx.get(f"{server.url}{API}/{batch_run_id}/status").json()["state"] == "completed",
               timeout=60, message="the batch did not complete")
    code, out, _ = batch(capsys, server.url, "status", batch_run_id)
    assert code == 5 and "exit 3: boom\\x1b[2J\\x07" in out  # partial: one of the two failed
    code, out, _ = batch(capsys, server.url, "failures", batch_run_id)  # the reason group, escaped too
    assert code == 0 and "exit 3: boom\\x1b[" in out and "\x1b" not in out
    code, out, _ = batch(capsys, server.url, "items", batch_run_id)
    assert code == 0 and "two\\rlines" in out and "Evil\\x1b]0;pwned\\x07" in out
    for command in (["events", batch_run_id], ["list"]):
        assert batch(capsys, server.url, *command)[0] == 0
    code, out, _ = batch(capsys, server.url, "items", batch_run_id, "--json")
    assert code == 0 and out.isascii()
    assert [i["brand"] for i in json.loads(out)["items"]] == ["Evil\x1b]0;pwned\x07", "Good"]

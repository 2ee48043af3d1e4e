"""`indexlab start | pause | resume | stop | retry | skip BATCH_ID` here (--db), and `run --resume [BATCH_ID]`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from engine.store import BatchMove, EventRow, Store, utcnow
from tests.support.cli import TRIAGE_JOB, indexlab, run, selection
from tests.support.polling import wait_until

ACTIONS = (["start"], ["pause"], ["resume"], ["stop"], ["stop", "--force"], ["retry"], ["skip", "--seq", "1"])


def plan(capsys, db, catalog, *argv: str) -> str:
    code, out, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--json", *(argv or ("--all",)))
    assert code == 0, err
    return json.loads(out)["batch_run_id"]


def test_start_runs_a_batch_saved_by_plan_in_the_foreground(capsys, catalog, db):
    batch = plan(capsys, db, catalog, "--all", "--runner", "noop")
    code, out, err = run(capsys, "start", batch, "--db", db)
    doc = json.loads(out)
    assert code == 0 and doc["batch_run_id"] == batch and doc["state"] == "completed", err
    assert doc["counts"]["completed"] == 9 and "9/9 completed" in err


@pytest.mark.parametrize("action", ACTIONS, ids=" ".join)
def test_an_unknown_batch_is_exit_2_with_a_clear_message(capsys, db, action):
    code, out, err = run(capsys, *action[:1], "no-such-batch", *action[1:], "--db", db)
    assert code == 2 and out == "" and "indexlab: error: no batch 'no-such-batch'" in err


def test_an_illegal_move_is_refused_with_the_state_table_and_changes_nothing(capsys, catalog, db):
    batch = plan(capsys, db, catalog, "--all", "--runner", "noop")
    code, _, err = run(capsys, "pause", batch, "--db", db)
    assert code == 1 and f"batch {batch} is planned; it cannot become paused (from planned it can become: queued, "\
                          "running)" in err
    code, _, err = run(capsys, "stop", batch, "--db", db)
    assert code == 1 and "is planned; it cannot become stopping" in err
    with Store(db) as store:
        assert store.get_batch(batch)["state"] == "planned"
        assert store.count_events(batch) == 1  # only its plan: nothing was written


def test_detach_here_is_refused_and_says_why(capsys, catalog, db):
    batch = plan(capsys, db, catalog)
    code, out, err = run(capsys, "start", batch, "--db", db, "--detach")
    assert code == 2 and out == "" and "--detach needs a server (--url or INDEXLAB_URL)" in err
    with Store(db) as store:
        assert store.get_batch(batch)["state"] == "planned"


def test_skip_start_retry_here_exit_by_the_result(capsys, items, db, tmp_path):
    job = f"sh {TRIAGE_JOB} mixed {tmp_path}"  # item-4 and item-8 fail, item-1 and item-5 need review
    batch = plan(capsys, db, items, *selection(*range(1, 9)), "--max-attempts", "1", "--command", job)
    code, out, _ = run(capsys, "skip", batch, "--seq", "2", "3", "--db", db)
    assert code == 6 and "skipped 2 items" in out  # planned: not finished
    code, out, err = run(capsys, "start", batch, "--db", db)
    first = json.loads(out)
    assert code == 5 and first["counts"] == {**first["counts"], "skipped": 2, "failed": 2, "completed": 4}, err
    code, out, err = run(capsys, "retry", batch, "--db", db)
    again = json.loads(out)
    assert code == 5 and "re-queued 2 items" in err and again["counts"]["failed"] == 2
    assert (tmp_path / "started").read_text().split().count("item-4") == 2  # it ran again, here
    code, _, err = run(capsys, "stop", batch, "--db", db)
    assert code == 1 and f"batch {batch} is completed; it cannot become stopping" in err


def _job(tmp_path, seconds: str):
    """A command job that takes ``seconds`` (its work, the behaviour a Ctrl-C must land in): the job sleeps, the
    test never does."""
    started, job = tmp_path / "started", tmp_path / "job.py"
    job.write_text("import json, os, sys, time\np = json.load(sys.stdin)\n"
                   f"open({str(started)!r}, 'a').write(p['product_id'] + '\\n')\n"
                   f"time.sleep({seconds})\nprint(json.dumps({{'product_id': p['product_id']}}))\n")
    return started, job


def test_ctrl_c_on_start_stops_gracefully_and_resume_finishes_without_stdin(capsys, catalog, db, tmp_path):
    """No terminal, no stdin at all (fd 0 closed, as some CI runners start jobs): the job still gets its product."""
    started, job = _job(tmp_path, "float(os.environ.get('JOB_SECONDS', '1.0'))")
    batch = plan(capsys, db, catalog, "--all", "--workers", "1", "--command", f"{sys.executable} {job}")
    # fd 0 is closed by a launcher that then execs the CLI: no preexec_fn, so no Python runs between fork and exec
    # (in a process with DuckDB's threads that can hang the child: see engine/runners/orphans.py)
    no_stdin = [sys.executable, "-c", "import os, sys; os.close(0); os.execv(sys.argv[1], sys.argv[1:])"]
    proc = subprocess.Popen([*no_stdin, indexlab(), "start", batch, "--db", str(db)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    wait_until(lambda: started.exists() and started.read_text().count("\n") >= 1, timeout=60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    doc = json.loads(out)
    assert doc["state"] == "stopped" and proc.returncode == 5, err  # some succeeded, the rest stopped: partial
    resumed = subprocess.run([indexlab(), "resume", batch, "--db", str(db)], capture_output=True, text=True,
                             timeout=120, stdin=subprocess.DEVNULL, env={**os.environ, "JOB_SECONDS": "0"})
    final = json.loads(resumed.stdout)
    assert resumed.returncode == 0 and final["state"] == "completed" and final["counts"]["completed"] == 9
    runs = started.read_text().split()
    assert len(runs) == len(set(runs)) == 9, "no product ran twice"


# --------------------------------------------------------------------------- run --resume [BATCH_ID]
def _left_running(db, batch: str, state: str = "running") -> None:
    """The batch as a process that died while running it left it (or, ``stopped``, as Ctrl-C left it)."""
    with Store(db) as store:
        now = utcnow()
        event = EventRow(batch, None, now, "batch_transition", "planned", state, actor="test")
        store.commit([BatchMove(batch, state, now, event, started=True)])


def test_run_resume_without_an_id_refuses_when_two_batches_could_be_meant_and_lists_them(capsys, catalog, db):
    """The issue's case: Ctrl-C stopped the newer batch; `run --resume` ran an older, broken one instead."""
    older = plan(capsys, db, catalog, "--product-id", "p1", "--runner", "noop")
    _left_running(db, older)  # broken: its process died
    newer = plan(capsys, db, catalog, "--product-id", "p2", "--runner", "noop")
    _left_running(db, newer, "stopped")
    code, out, err = run(capsys, "run", "--resume", "--db", db, "--catalog", catalog)
    assert code == 1 and out == "" and "2 batches could be resumed; name one" in err
    assert older in err and newer in err and "stopped" in err and "created" in err
    with Store(db) as store:
        assert store.count_items(older, state="completed") == store.count_items(newer, state="completed") == 0


def test_run_resume_with_an_id_resumes_that_batch_only(capsys, catalog, db):
    older = plan(capsys, db, catalog, "--product-id", "p1", "--runner", "noop")
    _left_running(db, older)
    newer = plan(capsys, db, catalog, "--product-id", "p2", "--runner", "noop")
    _left_running(db, newer)
    code, out, err = run(capsys, "run", "--resume", newer, "--db", db, "--catalog", catalog)
    assert code == 0 and json.loads(out)["batch_run_id"] == newer, err
    with Store(db) as store:
        assert store.get_batch(newer)["state"] == "completed"
        assert store.count_items(older, state="completed") == 0  # the other one did not run


def test_run_resume_of_the_only_candidate_needs_no_id(capsys, catalog, db):
    batch = plan(capsys, db, catalog, "--product-id", "p1", "--runner", "noop")
    _left_running(db, batch)
    code, out, err = run(capsys, "run", "--resume", "--db", db, "--catalog", catalog)
    assert code == 0 and json.loads(out)["batch_run_id"] == batch, err


def test_db_wins_over_indexlab_url_and_db_with_url_is_refused(capsys, catalog, db, monkeypatch):
    batch = plan(capsys, db, catalog, "--all", "--runner", "noop")
    monkeypatch.setenv("INDEXLAB_URL", "http://127.0.0.1:9")  # nothing listens there
    code, _, err = run(capsys, "start", batch, "--db", db, "--url", "http://127.0.0.1:9")
    assert code == 1 and "give --db or --url, not both" in err
    code, out, err = run(capsys, "start", batch, "--db", db)  # --db: this database, whatever INDEXLAB_URL says
    assert code == 0 and json.loads(out)["state"] == "completed", err

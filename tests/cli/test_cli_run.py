"""`indexlab run` and `indexlab status`: plan, start, follow; summary JSON on stdout; exit codes."""

import json
import sys
from pathlib import Path

from engine.store import Store
from tests.support.cli import run


def test_run_plans_starts_and_completes_with_a_summary(capsys, catalog, db):
    code, out, err = run(capsys, "run", "--db", db, "--catalog", catalog, "--all", "--runner", "noop")
    doc = json.loads(out)
    assert code == 0 and doc["state"] == "completed" and doc["counts"]["completed"] == 9
    assert doc["started_at"].endswith("Z") and doc["finished_at"].endswith("Z")
    assert "9/9 completed" in err


def test_run_with_failing_command_exits_4_and_records_the_error(capsys, catalog, db):
    argv = f"{sys.executable} -c \"import sys; sys.stderr.write('sensor table missing\\n'); sys.exit(3)\""
    code, out, _ = run(capsys, "run", "--db", db, "--catalog", catalog, "--brand", "Zowie", "--command", argv,
                       "--max-attempts", "1")
    doc = json.loads(out)
    assert code == 4 and doc["counts"]["failed"] == 3
    with Store(db) as store:
        errors = set(store.items(doc["batch_run_id"])["last_error"])
    assert errors == {"exit 3: sensor table missing"}


def test_run_resume_without_anything_to_resume_says_so(capsys, db, catalog):
    code, _, err = run(capsys, "run", "--resume", "--db", db, "--catalog", catalog)
    assert code == 1 and "nothing to resume" in err


def test_run_resume_ignores_a_batch_that_was_only_planned(capsys, catalog, db):
    code, out, _ = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--json")
    batch = json.loads(out)["batch_run_id"]
    code, out, err = run(capsys, "run", "--resume", "--db", db, "--catalog", catalog)
    # the planned batch is not resumable: only running, paused or stopped ones are
    assert code == 1 and "nothing to resume" in err
    assert batch


def test_status_of_the_latest_batch(capsys, catalog, db):
    run(capsys, "run", "--db", db, "--catalog", catalog, "--all", "--runner", "noop")
    code, out, _ = run(capsys, "status", "--db", db, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["state"] == "completed" and doc["counts"]["completed"] == 9 and doc["progress"] == 1.0


def test_status_without_batches_is_an_error(capsys, db):
    code, _, err = run(capsys, "status", "--db", db)
    assert code == 1 and "no batches" in err


def test_run_with_unknown_runner_is_refused_before_anything_runs(capsys, catalog, db):
    code, _, err = run(capsys, "run", "--db", db, "--catalog", catalog, "--all", "--runner", "teleport")
    assert code == 1 and "unknown runner 'teleport'" in err and "noop" in err


def _indexlab():
    import shutil
    from pathlib import Path

    return shutil.which("indexlab", path=str(Path(sys.executable).parent))


def _write_job(tmp_path, seconds: str):
    """A job that notes each product it starts in ``started``, sleeps ``seconds`` (an expression), then succeeds."""
    started, job = tmp_path / "started", tmp_path / "job.py"
    job.write_text(
        "import json, os, sys, time\n"
        "p = json.load(sys.stdin)\n"
        f"open({str(started)!r}, 'a').write(p['product_id'] + '\\n')\n"
        f"time.sleep({seconds})\n"
        "print(json.dumps({'product_id': p['product_id']}))\n"
    )
    return started, job


def test_ctrl_c_once_stops_gracefully_and_resume_finishes(catalog, db, tmp_path):
    import os
    import signal
    import subprocess

    from tests.support.polling import wait_until

    started, job = _write_job(tmp_path, "float(os.environ.get('JOB_SECONDS', '1.0'))")
    argv = [_indexlab(), "run", "--db", str(db), "--catalog", str(catalog), "--all", "--workers", "1",
            "--command", f"{sys.executable} {job}"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    wait_until(lambda: started.exists() and started.read_text().count("\n") >= 1, timeout=60)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert out.strip(), f"no summary on stdout (exit {proc.returncode}): {err}"
    doc = json.loads(out)
    assert doc["state"] == "stopped", err
    assert doc["counts"]["completed"] >= 1 and doc["counts"]["stopped"] == 9 - doc["counts"]["completed"]
    assert proc.returncode == 5 and doc["result"] == "partial", err  # some succeeded, the rest stopped
    before = set(started.read_text().split())
    resumed = subprocess.run([_indexlab(), "run", "--resume", "--db", str(db), "--catalog", str(catalog)],
                             capture_output=True, text=True, timeout=120, env={**os.environ, "JOB_SECONDS": "0"})
    assert resumed.stdout.strip(), f"no summary (exit {resumed.returncode}): {resumed.stderr}"
    final = json.loads(resumed.stdout)
    assert resumed.returncode == 0 and final["state"] == "completed" and final["counts"]["completed"] == 9
    runs = started.read_text().split()
    assert len(runs) == len(set(runs)) == 9, "no product ran twice"
    assert before <= set(runs)


def test_resume_of_a_batch_that_finishes_during_recovery_exits_0(capsys, catalog, db):
    """A crash after the last item's commit but before the batch's: recovery completes it, resume succeeds."""
    from engine.store import BatchMove, EventRow, ItemRow, utcnow

    code, out, _ = run(capsys, "plan", "--db", db, "--catalog", catalog, "--brand", "Zowie", "--runner", "noop",
                         "--json")
    batch = json.loads(out)["batch_run_id"]
    with Store(db) as store:
        now = utcnow()
        event = EventRow(batch, None, now, "batch_transition", "planned", "running", actor="test")
        store.commit([BatchMove(batch, "running", now, event, started=True)] + [
            ItemRow(batch, seq, "completed", 1, 0, None, None, now, now, 0.1, "{}") for seq in (1, 2, 3)])
    code, out, err = run(capsys, "run", "--resume", "--db", db, "--catalog", catalog)
    assert code == 0 and json.loads(out)["state"] == "completed", err


def test_ctrl_c_twice_force_stops_a_job_that_would_run_for_minutes(catalog, db, tmp_path):
    import signal
    import subprocess

    from tests.support.polling import wait_until

    started, job = _write_job(tmp_path, "300")
    argv = [_indexlab(), "run", "--db", str(db), "--catalog", str(catalog), "--all", "--workers", "2",
            "--command", f"{sys.executable} {job}"]
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as err_file:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err_file, text=True, stdin=subprocess.DEVNULL)
    wait_until(lambda: started.exists() and started.read_text().count("\n") >= 2, timeout=60)
    proc.send_signal(signal.SIGINT)
    wait_until(lambda: "stopping gracefully" in errors.read_text(), timeout=30)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    err = errors.read_text()
    assert proc.returncode == 4, err  # none succeeded: failed
    doc = json.loads(out)
    assert doc["state"] == "stopped" and doc["counts"]["stopped"] == 9 and "force stop" in err
    assert doc["result"] == "failed" and doc["reason"]


def test_outcome_shows_fields_with_evidence(capsys, catalog, db, tmp_path):
    job = tmp_path / "fielded.py"
    job.write_text(
        "import json, sys\n"
        "p = json.load(sys.stdin)\n"
        "print(json.dumps({'coverage': 1.0, 'confidence': 0.9, 'conflicts': 0, 'missing': [], 'fields': [\n"
        "  {'field': 'max_dpi', 'value': 26000, 'unit': 'dpi', 'confidence': 0.9, 'tier': 'manufacturer',\n"
        "   'source_url': 'https://example.com/' + p['product_id'], 'snippet_id': 's1', 'conflict': False}]}))\n"
    )
    code, out, _ = run(capsys, "run", "--db", db, "--catalog", catalog, "--product-id", "p1",
                       "--command", f"{sys.executable} {job}")
    assert code == 0
    code, out, _ = run(capsys, "outcome", "p1", "--db", db)
    assert code == 0 and "max_dpi" in out and "26000 dpi" in out and "https://example.com/p1" in out
    code, out, _ = run(capsys, "outcome", "p1", "--db", db, "--json")
    assert json.loads(out)["fields"][0]["value"] == 26000
    code, _, err = run(capsys, "outcome", "p2", "--db", db)
    assert code == 1 and "no recorded outcome for product 'p2'" in err


def test_outcome_shows_each_fields_snippet_as_plain_text(capsys, catalog, db):
    job = Path(__file__).resolve().parents[1] / "integration" / "jobs" / "snippet_job.py"
    code, _, _ = run(capsys, "run", "--db", db, "--catalog", catalog, "--product-id", "p1",
                     "--command", f"{sys.executable} {job} cli")
    assert code == 0
    code, out, _ = run(capsys, "outcome", "p1", "--db", db)
    assert code == 0 and all(c.isprintable() or c in " \n" for c in out)  # nothing a terminal would act on
    lines = out.splitlines()
    weight = lines.index(next(line for line in lines if line.strip().startswith("weight")))
    assert "https://maker.example/p1/specs  snippet s-weight" in lines[weight + 1]
    assert lines[weight + 2].strip() == "“Weight: <b>58 g</b> without cable (cli)”"  # markup is text
    assert "“The sensor is the \\u202eFocus Pro 30K\\u202c caf\ufffd \\x00 made in-house”" in out  # escaped
    buttons = lines.index(next(line for line in lines if line.strip().startswith("buttons")))
    assert "snippet s-buttons" in lines[buttons + 1] and lines[buttons + 2].strip().startswith("coating")

"""The headless CLI says a batch's result: `run` and `status` exit codes, the result in words and why,
failure groups (`indexlab failures`), and re-runs (`indexlab rerun`, then `indexlab run --batch`)."""

from __future__ import annotations

import json
import subprocess

from tests.support.cli import indexlab, run, run_job, selection


def test_unknown_batches_and_nothing_to_rerun_exit_1_with_one_line(capsys, db, items, tmp_path):
    for argv in (["status", "nope"], ["failures", "nope"], ["rerun", "nope", "--which", "failed"],
                 ["run", "--batch", "nope", "--catalog", items]):
        code, out, err = run(capsys, *argv, "--db", db)
        assert code == 1 and out == "" and err.strip() == "indexlab: error: no batch 'nope'", argv
    code, out, _ = run_job(capsys, db, items, "ok", tmp_path, *selection(1, 2))
    batch = json.loads(out)["batch_run_id"]
    code, _, err = run(capsys, "rerun", batch, "--which", "failed", "--db", db, "--catalog", items)
    assert code == 1 and f"batch {batch} has no failed items to re-run" in err
    done = subprocess.run([indexlab(), "rerun", batch, "--which", "everything", "--db", str(db)], capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2 and "invalid choice: 'everything'" in done.stderr


def test_all_failing_run_exits_4_and_status_says_failed_why_and_in_which_group(capsys, db, items, tmp_path):
    code, out, err = run_job(capsys, db, items, "fail", tmp_path, *selection(1, 2, 3))
    summary = json.loads(out)
    assert code == 4 and summary["result"] == "failed" and summary["outcomes"]["failed"] == 3
    assert "indexlab: Failed: 0 succeeded, 3 failed (every item finished" in err
    code, out, _ = run(capsys, "status", "--db", db)
    assert code == 4
    assert "result        Failed: 0 succeeded, 3 failed\n" in out
    assert "reason        every item finished: Failed: 0 succeeded, 3 failed\n" in out
    assert "failures      3 failed in 1 reason group\n" in out and "      3  exit 3: sensor table missing\n" in out
    code, out, _ = run(capsys, "status", "--db", db, "--json")
    doc = json.loads(out)
    assert code == 4 and doc["result"] == "failed" and doc["reason"].startswith("every item finished")
    code, out, _ = run(capsys, "failures", "--db", db, "--json")
    groups = json.loads(out)
    assert code == 0 and groups["failed"] == 3 and [(g["reason"], g["count"]) for g in groups["groups"]] == [
        ("exit 3: sensor table missing", 3)]
    assert [e["product_id"] for e in groups["groups"][0]["examples"]] == ["item-1", "item-2", "item-3"]


def test_a_run_paused_by_fail_fast_is_not_finished_exits_6_and_status_says_why(capsys, db, items, tmp_path):
    code, out, err = run_job(capsys, db, items, "fail", tmp_path, "--all", "--workers", "1")  # 20 in a row: pause
    summary = json.loads(out)
    assert code == 6 and summary["state"] == "paused" and summary["result"] is None, err
    code, out, _ = run(capsys, "status", "--db", db)
    assert code == 6 and "result        not finished: 0 succeeded, 20 failed, 10 not run yet" in out
    assert "reason        fail-fast: 20 failures in a row (reason group: exit 3: sensor table missing)" in out
    assert "failure       #20 item-20: exit 3: sensor table missing" in out


def test_mixed_run_exits_5_and_its_needs_review_items_rerun_as_a_new_batch(capsys, db, items, tmp_path):
    code, out, _ = run_job(capsys, db, items, "mixed", tmp_path, *selection(*range(1, 9)))
    batch = json.loads(out)["batch_run_id"]
    assert code == 5 and json.loads(out)["result_text"] == "Partial: 4 succeeded, 2 need review, 2 failed"
    code, out, _ = run(capsys, "status", batch, "--db", db)
    assert code == 5 and "result        Partial: 4 succeeded, 2 need review, 2 failed" in out
    code, out, _ = run(capsys, "items", batch, "--db", db, "--gate", "needs_review")
    assert code == 0 and "item-1" in out and "item-5" in out and "2 of 2 items" in out
    code, out, _ = run(capsys, "rerun", batch, "--which", "needs_review", "--profile", "fast", "--db", db,
                       "--catalog", items, "--json")
    rerun = json.loads(out)
    assert code == 0 and rerun["state"] == "planned" and rerun["total"] == 2 and rerun["settings"]["profile"] == "fast"
    code, out, _ = run(capsys, "status", rerun["batch_run_id"], "--db", db)
    assert code == 6  # planned: not finished
    started = (tmp_path / "started").read_text().split()
    # the real console script: run the re-run's batch by its id
    done = subprocess.run([indexlab(), "run", "--batch", rerun["batch_run_id"], "--db", str(db), "--catalog", str(items)],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 4, done.stderr  # both still lack their weight: none succeeded
    assert sorted((tmp_path / "started").read_text().split()[len(started):]) == ["item-1", "item-5"]


def test_a_clean_run_exits_0_and_status_too(capsys, db, items, tmp_path):
    code, out, _ = run_job(capsys, db, items, "ok", tmp_path, *selection(1, 2))
    assert code == 0 and json.loads(out)["result"] == "succeeded"
    done = subprocess.run([indexlab(), "status", "--db", str(db)], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "result        Succeeded: 2 succeeded" in done.stdout


def test_bad_rerun_settings_and_limits_are_one_line_never_a_traceback(capsys, db, items, tmp_path):
    code, out, _ = run_job(capsys, db, items, "fail", tmp_path, *selection(1, 2))
    batch = json.loads(out)["batch_run_id"]
    code, out, err = run(capsys, "rerun", batch, "--which", "failed", "--workers", "0", "--db", db, "--catalog", items)
    assert code == 1 and out == "" and err.startswith("indexlab: error: invalid workers: ") and err.count("\n") == 1
    for argv in (["failures", batch, "--limit", "-1"], ["batch", "failures", batch, "--limit", "0"]):
        done = subprocess.run([indexlab(), *argv, "--db" if argv[0] == "failures" else "--url",
                               str(db) if argv[0] == "failures" else "http://127.0.0.1:9"],
                              capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 2 and "Traceback" not in done.stderr and "--limit" in done.stderr, done.stderr

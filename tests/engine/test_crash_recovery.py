"""Crash test with real processes (DESIGN.md §3 Restart, §4 Durability).

A child ``indexlab run`` works through a batch with the ``command`` runner (tests/engine/jobs/slow_job.py,
which logs ``start <product_id> <pid>`` before its work). The test SIGKILLs the child at random instants
at least ``KILLS`` times, resuming it with ``indexlab run --resume`` after each kill, and lets the last
resume finish. Then: every item is completed and none is running or queued, the batch is completed,
no product completed at a kill was started again after it (nor had its outcome replaced), and the
crash left "interrupted" attempts behind.

The kill instants come from a seeded ``random.Random``: the seed is printed, and setting
CRASH_TEST_SEED=<seed> replays the same delays.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.store import Store
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                                                   reason="finds the job processes through /proc (Linux)")]

JOB = Path(__file__).resolve().parent / "jobs" / "slow_job.py"
PRODUCTS = 150  # ~17 s of work at 2 workers: far more than 10 kill cycles can get through
BRANDS = ("Logitech", "Razer", "Zowie", "ASUS")
JOB_SECONDS = "0.15"
WORKERS = 2
KILLS = 10
KILL_DELAY_S = (0.2, 1.0)  # extra random wait once the child has started working
START_TIMEOUT_S = 60.0  # for a (re)started child to dispatch its first job
FINISH_TIMEOUT_S = 180.0  # for the last resume to run the batch to its end


def _indexlab() -> str:
    exe = shutil.which("indexlab", path=str(Path(sys.executable).parent)) or shutil.which("indexlab")
    assert exe, "the indexlab console script is installed with the package"
    return exe


def _start_lines(log: Path) -> list[tuple[str, int]]:
    """(product_id, pid) per complete ``start`` line, in log order (a line still being written is left out)."""
    if not log.exists():
        return []
    lines = []
    for raw in log.read_text().split("\n")[:-1]:
        kind, product_id, pid = raw.split()
        assert kind == "start", raw
        lines.append((product_id, int(pid)))
    return lines


def _job_processes(log: Path) -> list[int]:
    """Live (not zombie) slow_job.py processes of this test: their environment names our log file.

    Covers the orphans of a killed child even before they logged their pid."""
    marker = f"SLOW_JOB_LOG={log}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if JOB.name.encode() not in (entry / "cmdline").read_bytes():
                continue
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        found.append(int(entry.name))
    return found


def _kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _snapshot(db: Path) -> tuple[dict, dict[str, str], dict[str, str]]:
    """(batch, state per product_id, outcome per completed product_id); the store is closed again on return."""
    with Store(db) as store:
        batch = store.latest_batch()
        assert batch is not None, "the first run was killed before it saved its plan"
        items = store.items(batch["batch_run_id"])
    states = dict(zip(items["product_id"], items["state"]))
    outcomes = {p: o for p, s, o in zip(items["product_id"], items["state"], items["outcome"]) if s == "completed"}
    return batch, states, outcomes


def test_sigkill_at_random_instants_then_resume_loses_and_reruns_nothing(tmp_path):
    seed = int(os.environ.get("CRASH_TEST_SEED") or random.SystemRandom().randrange(2**32))
    print(f"crash test seed: {seed} (replay with CRASH_TEST_SEED={seed})")
    rng = random.Random(seed)
    catalog, db, log = tmp_path / "catalog.csv", tmp_path / "indexlab.duckdb", tmp_path / "starts.log"
    write_catalog(catalog, numbered_rows(PRODUCTS, BRANDS))
    env = {**os.environ, "SLOW_JOB_LOG": str(log), "SLOW_JOB_SECONDS": JOB_SECONDS}
    env.pop("INDEXLAB_DB", None)
    exe = _indexlab()
    first_argv = [exe, "run", "--db", str(db), "--catalog", str(catalog), "--all", "--confirm-large",
                  "--workers", str(WORKERS), "--command", f"{sys.executable} {JOB}", "--max-attempts", "5"]
    resume_argv = [exe, "run", "--resume", "--db", str(db), "--catalog", str(catalog)]

    runs: list[tuple[subprocess.Popen, Path, Path]] = []

    def launch(argv: list[str]) -> subprocess.Popen:
        n = len(runs)
        out, err = tmp_path / f"run{n}.out", tmp_path / f"run{n}.err"
        with out.open("wb") as fo, err.open("wb") as fe:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe, env=env, cwd=tmp_path)
        runs.append((proc, out, err))
        return proc

    def explain(what: str) -> str:
        proc, out, err = runs[-1]
        return (f"{what} (seed {seed}, run {len(runs) - 1}, exit {proc.returncode})\n"
                f"stdout:\n{_tail(out)}\nstderr:\n{_tail(err)}")

    # Per kill: lines in the start log once the killed child's orphans were gone, and the completed outcomes.
    kills: list[tuple[int, dict[str, str]]] = []
    try:
        proc = launch(first_argv)
        lines_before = 0
        while len(kills) < KILLS:
            # Kill only a child that is working: it has started a job since it was (re)started.
            wait_until(lambda: proc.poll() is not None or len(_start_lines(log)) > lines_before,  # noqa: B023
                       timeout=START_TIMEOUT_S, interval=0.01,
                       message=f"run {len(runs) - 1} started no job within {START_TIMEOUT_S}s (seed {seed})")
            assert proc.poll() is None, explain(
                f"the child exited by itself after {len(kills)} kills, before the test could kill it "
                f"{KILLS} times: make the batch longer (PRODUCTS / JOB_SECONDS)")
            delay = rng.uniform(*KILL_DELAY_S)
            time.sleep(delay)  # the behaviour under test: a crash at a random instant of the child's work
            os.kill(proc.pid, signal.SIGKILL)  # a child that already exited is a zombie: no error here
            proc.wait(timeout=30)
            assert proc.returncode == -signal.SIGKILL, explain(
                f"the child exited by itself before kill {len(kills) + 1} of {KILLS} "
                "(if it completed the batch: make the batch longer, PRODUCTS / JOB_SECONDS)")
            # Jobs the dead child started run on as orphans (own session) until their stdout pipe breaks;
            # wait for them so every start line after this kill's position comes from a later child.
            wait_until(lambda: not _job_processes(log), timeout=30, interval=0.02,
                       message=f"orphaned jobs of run {len(runs) - 1} did not exit (seed {seed})")
            batch, states, outcomes = _snapshot(db)
            assert batch["state"] != "completed", explain(
                f"the batch completed before kill {len(kills) + 1} of {KILLS}: make it longer")
            lines_before = len(_start_lines(log))
            kills.append((lines_before, outcomes))
            print(f"kill {len(kills)}: after {delay:.2f}s, {len(outcomes)} completed, {lines_before} starts logged")
            proc = launch(resume_argv)

        # After the last kill, the resumed child runs the batch to its end.
        wait_until(lambda: proc.poll() is not None, timeout=FINISH_TIMEOUT_S, interval=0.1,
                   message=f"the last resume did not finish within {FINISH_TIMEOUT_S}s (seed {seed})")
        assert proc.returncode == 0, explain("the last resume failed")
        summary = json.loads(runs[-1][1].read_text())
        assert summary["state"] == "completed", explain("the last resume did not complete the batch")
        assert summary["counts"]["completed"] == PRODUCTS, explain("not every item completed")
    finally:
        for child, _, _ in runs:
            if child.poll() is None:
                child.kill()
                child.wait(timeout=30)
        _kill_pids(_job_processes(log))

    # Nothing of ours is left running: every logged job is gone (pids checked against /proc, so a
    # recycled pid of someone else's process is never signalled).
    wait_until(lambda: not _job_processes(log), timeout=30, message="job processes outlived the test")

    batch, states, final_outcomes = _snapshot(db)
    with Store(db) as store:
        events = store.events(batch["batch_run_id"], limit=store.count_events(batch["batch_run_id"]))
        counts = store.counts_by_state(batch["batch_run_id"])
    assert batch["state"] == "completed", f"batch is {batch['state']} (seed {seed})"
    assert counts == {"completed": PRODUCTS}, f"final item states {counts} (seed {seed})"
    assert len(states) == PRODUCTS and set(states.values()) == {"completed"}

    starts = _start_lines(log)
    started = {product_id for product_id, _ in starts}
    assert started == set(states), f"products never started: {sorted(set(states) - started)[:10]} (seed {seed})"
    for k, (position, completed_then) in enumerate(kills, start=1):
        rerun = sorted({p for p, _ in starts[position:] if p in completed_then})
        assert not rerun, (f"completed before kill {k} but started again after it: {rerun[:10]} "
                           f"(seed {seed})")
        lost = sorted(p for p, outcome in completed_then.items() if final_outcomes.get(p) != outcome)
        assert not lost, f"completed before kill {k} but its outcome changed or vanished: {lost[:10]} (seed {seed})"
    for (_, earlier), (_, later) in zip(kills, kills[1:]):
        assert set(earlier) <= set(later), f"completed items went back after a restart (seed {seed})"

    interrupted = [e for e in events if e["kind"] == "item_transition" and (e["reason"] or "").startswith("interrupted")]
    assert interrupted, f"no item carries an 'interrupted' event after {KILLS} kills (seed {seed})"
    assert all(e["from_state"] == "running" and e["to_state"] == "queued" for e in interrupted), interrupted[:3]

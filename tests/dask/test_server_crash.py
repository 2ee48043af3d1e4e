"""The control plane SIGKILLed mid-batch on the Dask executor recovers as it does locally.

A child ``indexlab run --executor dask`` (a LocalCluster of two worker processes of its own) works through command
jobs (tests/dask/jobs/worker_job.py); the test kills it with SIGKILL once jobs have started, checks that its workers
and their jobs die with it, then ``indexlab run --resume --executor dask`` finishes the batch: every item completed
once, nothing completed before the kill was started again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from engine.store import Store
from tests.dask.test_executor import JOB, starts
from tests.engine.test_crash_recovery import _indexlab, _tail
from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.polling import wait_until

PRODUCTS = 24
TIMEOUT_S = 120.0


def _ours(tmp_path: Path) -> list[int]:
    """Live processes whose command line names this test's directory: the child, its Dask workers (their
    ``--multiprocessing-fork`` argv does not, so they are found by their parent), and the jobs."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if state[0] != "Z" and str(tmp_path).encode() in cmdline:
            found.append(int(entry.name))
    return found


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def test_control_plane_sigkilled_mid_batch_resumes_on_the_cluster(tmp_path):
    catalog, db, log = tmp_path / "catalog.csv", tmp_path / "indexlab.duckdb", tmp_path / "starts.log"
    write_catalog(catalog, numbered_rows(PRODUCTS, ("Logitech", "Razer")))
    env = {k: v for k, v in os.environ.items() if not k.startswith("INDEXLAB_")}
    exe = _indexlab()
    command = f"{sys.executable} {JOB} {log} 0.5 {{product_id}}"
    first = [exe, "run", "--db", str(db), "--catalog", str(catalog), "--all", "--confirm-large", "--workers", "4",
             "--command", command, "--executor", "dask", "--dask-workers", "2"]
    with (tmp_path / "run0.err").open("wb") as err:
        proc = subprocess.Popen(first, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env,
                                cwd=tmp_path)
    try:
        wait_until(lambda: proc.poll() is not None or len(starts(log)) >= 6, timeout=TIMEOUT_S,
                   message=lambda: f"no jobs started: {_tail(tmp_path / 'run0.err')}")
        assert proc.poll() is None, f"the child ended by itself: {_tail(tmp_path / 'run0.err')}"
        cluster = _children(proc.pid)  # its resource tracker and the LocalCluster's worker processes
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        gone = [pid for pid in cluster if Path(f"/proc/{pid}").exists()]
        wait_until(lambda: not [p for p in gone if Path(f"/proc/{p}").exists()] and not _ours(tmp_path),
                   timeout=TIMEOUT_S, message=lambda: f"still alive after the kill: workers "
                   f"{[p for p in gone if Path(f'/proc/{p}').exists()]}, jobs {_ours(tmp_path)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    with Store(db) as store:
        batch = store.latest_batch()
        items = store.items(batch["batch_run_id"])
    done_before = set(items["product_id"][items["state"] == "completed"])
    lines_before = len(starts(log))
    assert len(done_before) < PRODUCTS, "the batch finished before the kill: make it longer"

    resume = [exe, "run", "--resume", "--db", str(db), "--catalog", str(catalog), "--executor", "dask",
              "--dask-workers", "2"]
    out = subprocess.run(resume, stdin=subprocess.DEVNULL, capture_output=True, env=env, cwd=tmp_path,
                         timeout=TIMEOUT_S * 2)
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-3000:]
    summary = json.loads(out.stdout)
    assert summary["state"] == "completed" and summary["counts"]["completed"] == PRODUCTS, summary
    assert b"Traceback" not in out.stderr, out.stderr.decode(errors="replace")[-3000:]

    rerun = {p for p, _, _ in starts(log)[lines_before:]} & done_before
    assert not rerun, f"completed before the kill, started again after it: {sorted(rerun)}"
    with Store(db) as store:
        events = store.events(batch["batch_run_id"], limit=store.count_events(batch["batch_run_id"]))
    completed = Counter(e["seq"] for e in events if e["kind"] == "item_transition" and e["to_state"] == "completed")
    assert len(completed) == PRODUCTS and set(completed.values()) == {1}, completed
    wait_until(lambda: not _ours(tmp_path), timeout=TIMEOUT_S, message="processes outlived the resumed run")

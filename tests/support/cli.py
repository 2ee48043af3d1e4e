"""Running the CLIs from a test: in-process (``run``), as the installed console script (``indexlab``), with the
triage job the command runner runs per product (``TRIAGE_JOB``, ``run_job``), and reading an API error body."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import httpx

from dashboard.cli import main

# jobs/triage_job.sh MODE DIR: all failing, mixed, clean, or failing in five reasons by product number
TRIAGE_JOB = Path(__file__).resolve().parents[1] / "integration" / "jobs" / "triage_job.sh"


def run(capsys, *argv):
    """``indexlab ARGV`` in this process: (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def indexlab() -> str:
    """The installed console script beside this interpreter."""
    return shutil.which("indexlab", path=str(Path(sys.executable).parent))


def run_job(capsys, db, catalog, mode: str, tmp_path, *extra: str):
    """``indexlab run`` of the triage job in ``mode``, one attempt per item."""
    return run(capsys, "run", "--db", db, "--catalog", catalog, "--max-attempts", "1",
               "--command", f"sh {TRIAGE_JOB} {mode} {tmp_path}", *extra)


def selection(*numbers: int) -> list[str]:
    """``--product-id item-N`` for each number."""
    return [arg for n in numbers for arg in ("--product-id", f"item-{n}")]


def error(response: httpx.Response, status: int) -> dict:
    """The error body of an API answer that must have ``status``."""
    assert response.status_code == status, response.text
    return response.json()["error"]

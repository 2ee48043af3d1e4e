"""Job processes must not outlive the engine that started them (DESIGN §3 Restart).

Two guards, because either alone leaves a gap:

- **At spawn**, an external program gets a parent-death signal (Linux ``PR_SET_PDEATHSIG``): when the
  engine process dies, even by SIGKILL, the kernel kills the program. The signal is not inherited by
  the program's own children, and it is not available everywhere.
- **At start-up**, the engine sweeps what a dead predecessor left. Every job process carries
  ``INDEXLAB_JOB_ID=<batch>/<seq>/<attempt>`` in its environment, which its children inherit; that
  attempt is on record in the store (the dispatch is committed before the program starts). Before
  the items the store holds as ``running`` are re-queued, every process whose environment names one
  of their attempts has its whole process group killed, so a product never runs twice at once.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable, Collection
from pathlib import Path

JOB_ENV = "INDEXLAB_JOB_ID"
PR_SET_PDEATHSIG = 1
_PROC = Path("/proc")
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def job_id(batch_run_id: str, seq: int, attempt: int) -> str:
    """The identity of one attempt of one item, as its job processes carry it."""
    return f"{batch_run_id}/{seq}/{attempt}"


def die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks the kernel to SIGKILL the child when this process dies (Linux), else None.

    It runs in the forked child before exec: only a prctl call and a parent check, nothing that takes a
    lock. If this process died between fork and prctl, the child is already orphaned and kills itself.
    """
    if _libc is None:
        return None
    parent = os.getpid()
    prctl = _libc.prctl

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)

    return preexec


def sweep_orphans(job_ids: Collection[str]) -> list[tuple[str, int, str]]:
    """Kill the process groups of every process that carries one of ``job_ids``.

    Returns (job id, process group, what was done) for each group found. Never touches this process's
    own group. A no-op where there is no ``/proc``.
    """
    wanted = {f"{JOB_ENV}={j}".encode() for j in job_ids}
    if not wanted or not _PROC.is_dir():
        return []
    own_group = os.getpgid(0)
    groups: dict[int, str] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # gone, or not ours to read
            continue
        match = next((var for var in environ.split(b"\0") if var in wanted), None)
        if match is None:
            continue
        try:
            pgid = os.getpgid(int(entry.name))
        except ProcessLookupError:
            continue
        if pgid != own_group and pgid > 1:
            groups[pgid] = match.decode().split("=", 1)[1]
    swept = []
    for pgid, job in groups.items():
        try:
            os.killpg(pgid, signal.SIGKILL)
            swept.append((job, pgid, "killed (SIGKILL): it outlived the process that started it"))
        except ProcessLookupError:
            pass
        except PermissionError as exc:
            swept.append((job, pgid, f"could not be killed: {exc.strerror}"))
    return swept

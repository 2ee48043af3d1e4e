"""Job processes must not outlive the engine that started them (DESIGN §3 Restart).

Two guards, because either alone leaves a gap:

- **At spawn**, an external program gets a parent-death signal (Linux ``PR_SET_PDEATHSIG``): when the
  engine process dies, even by SIGKILL, the kernel kills the program. The signal is not inherited by
  the program's own children, and it is not available everywhere.

  No Python runs between fork and exec (no ``preexec_fn``): in a process with native threads (DuckDB's),
  CPython's after-fork code in the child can wait forever on a lock another thread held at the fork
  (CPython gh-112275), and then ``Popen`` never returns and the worker slot is lost for good. Instead,
  :func:`start_process` execs a small launcher, a fresh interpreter with no threads, which sets the
  signal, checks that its parent is still alive, and execs the program in the same process. An exec
  that fails is reported back over a close-on-exec pipe, as ``Popen`` itself does, so a missing program
  is still an ``OSError`` from the start call.
- **At start-up**, the engine sweeps what a dead predecessor left. Every job process carries
  ``INDEXLAB_JOB_ID=<batch>/<seq>/<attempt>`` in its environment, which its children inherit; that
  attempt is on record in the store (the dispatch is committed before the program starts). Before
  the items the store holds as ``running`` are re-queued, every process whose environment names one
  of their attempts has its whole process group killed, so a product never runs twice at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

JOB_ENV = "INDEXLAB_JOB_ID"
PR_SET_PDEATHSIG = 1
_PROC = Path("/proc")
_LINUX = sys.platform.startswith("linux")  # PR_SET_PDEATHSIG is Linux only


def job_id(batch_run_id: str, seq: int, attempt: int) -> str:
    """The identity of one attempt of one item, as its job processes carry it."""
    return f"{batch_run_id}/{seq}/{attempt}"


# Run as ``python -I -S -c _LAUNCHER PARENT_PID ERROR_FD PROGRAM ARGS...``: no site, no user env, no threads.
_LAUNCHER = f"""\
import ctypes, os, sys
parent, error_fd, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
ctypes.CDLL(None, use_errno=True).prctl({PR_SET_PDEATHSIG}, {int(signal.SIGKILL)}, 0, 0, 0)
if os.getppid() != parent:
    os._exit(137)
os.set_inheritable(error_fd, False)
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    os.write(error_fd, f"{{exc.errno}}:{{exc.strerror}}".encode())
    os._exit(127)
"""


def _launcher_argv(argv: Sequence[str], error_fd: int) -> list[str]:
    """The argv that runs ``argv`` with a parent-death SIGKILL (Linux), reporting a failed exec on ``error_fd``.

    If this process died between the launcher's start and its prctl call, the launcher is already
    orphaned and exits (137) without running the program.
    """
    return [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(os.getpid()), str(error_fd), *argv]


def start_process(argv: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **popen)``, with the program killed by the kernel when this process dies.

    Raises ``OSError`` (errno and strerror of the failed exec, filename ``argv[0]``) when the program
    cannot be started, like ``Popen`` does. Without ``PR_SET_PDEATHSIG`` (not Linux) it is plain Popen.
    """
    if not _LINUX:
        return subprocess.Popen(list(argv), **popen)
    read_end, write_end = os.pipe()
    try:
        proc = subprocess.Popen(_launcher_argv(argv, write_end), pass_fds=(write_end,), **popen)
    finally:
        os.close(write_end)
    try:
        report = b""
        while chunk := os.read(read_end, 512):  # EOF once the program is exec'd (or the launcher ended)
            report += chunk
    finally:
        os.close(read_end)
    if report:
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
        number, _, reason = report.decode(errors="replace").partition(":")
        raise OSError(int(number) if number.isdigit() else 0, reason or "cannot start", argv[0])
    return proc


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

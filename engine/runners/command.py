"""``command``: run the operator's own program once per product (DESIGN §6).

The program's side of the contract:

- argv is ``settings.command`` (no shell). Items may hold ``{product_id}``, ``{brand}``, ``{model}``,
  ``{variant}``, ``{category}``; write literal braces as ``{{`` and ``}}``.
- The product arrives as one JSON object on stdin (then closed) and in the environment:
  ``INDEXLAB_PRODUCT_ID``, ``INDEXLAB_PRODUCT_JSON``, ``INDEXLAB_BATCH_RUN_ID``, ``INDEXLAB_ATTEMPT``.
- Exit 0 with ONE JSON object on stdout: that object is the outcome. Anything else on stdout fails
  the item (not retried: the same program would print the same thing); more than 10 MB is refused.
  Its ``fields`` (a list of ``{"field", "value", "unit", "confidence", "tier", "source_url", "snippet_id",
  "snippet", "conflict"}``) are stored as the product's evidence: ``snippet`` is the source's words, kept as plain
  text of at most 1,000 characters (engine/run/active.py ``MAX_SNIPPET_CHARS``).
- stderr is the item's log: the first 50 lines per attempt land in its events, the rest are counted;
  the last 200 are kept so a failure can name its last line. ``INDEXLAB_PHASE <name>`` on stderr moves
  the phase cursor instead.

Exit-code policy: non-zero exits, and deaths by a signal, are retryable (the operator's pipeline
usually fails for a passing reason), except 2 (usage, by shell and argparse convention) and 64
(``EX_USAGE``), which mean the argv itself is wrong. A program that cannot be started is not retried.

The program runs in its own session, so its process group holds it and everything it spawns. It dies
with the engine (a parent-death signal), and its environment carries ``INDEXLAB_JOB_ID`` so that an
engine starting after a crash finds and kills whatever it left (engine/runners/orphans.py). On
cancel (force stop) or past the deadline the group gets SIGTERM, ``KILL_GRACE_SECONDS`` to exit, then
SIGKILL: programs that ignore SIGTERM and their grandchildren die too. When the program exits by
itself, whatever it left running in its group is killed: no stray process outlives its item.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from typing import IO, Any

from engine.core.limits import Cancelled, DeadlineExceeded
from engine.core.settings import BatchSettings
from engine.core.text import repaired
from engine.runners.base import Outcome, RunContext, RunnerError
from engine.runners.orphans import JOB_ENV, job_id, start_process
from engine.runners.registry import register

KILL_GRACE_SECONDS = 1.0  # between SIGTERM and SIGKILL: time to flush, short enough for force stop's 2 s
POLL_SECONDS = 0.05  # longest wait between exit / cancel / deadline checks
STDOUT_CAP_BYTES = 10 * 1024 * 1024  # an outcome larger than this is refused, not parsed
STDERR_TAIL_LINES = 200  # kept for the error message
STDERR_TAIL_EVENT_LINES = 20  # of a failed attempt, as one event: the triage view's "stderr tail"
STDERR_FORWARD_LINES = 50  # per attempt into the item's events; the events table is not a log store
LINE_CAP_BYTES = 64 * 1024  # a "line" without a newline is cut here
READER_JOIN_SECONDS = 1.0  # once the group is dead only an escaped process can hold the pipes open
PLACEHOLDERS = ("product_id", "brand", "model", "variant", "category")
NON_RETRYABLE_EXITS = frozenset({2, 64})  # usage errors: the same argv fails the same way
PHASE_LINE = re.compile(r"INDEXLAB_PHASE\s+(\S{1,64})\s*")


class _Placeholders(dict[str, str]):
    """Product values for ``str.format_map``; an unknown name is a clear error, not a KeyError."""

    def __missing__(self, key: str) -> str:
        raise RunnerError(f"unknown placeholder {{{key}}} in the command; known: "
                          + ", ".join(f"{{{name}}}" for name in PLACEHOLDERS), retryable=False)


def build_argv(command: list[str], product: dict[str, Any]) -> list[str]:
    """Substitute product placeholders in each argv item (checked before anything is started)."""
    values = _Placeholders({name: str(product.get(name) or "") for name in PLACEHOLDERS})
    argv = []
    for item in command:
        try:
            argv.append(item.format_map(values))
        except (ValueError, IndexError, AttributeError) as exc:
            raise RunnerError(f"command argument {item!r} is not a valid template ({exc}); "
                              "write literal braces as {{ and }}", retryable=False) from None
    return argv


class _Output:
    """What the reader threads collect. Each field has one writer; the runner reads after joining."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self.stdout = bytearray()
        self.stdout_overflow = False
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self.stderr_lines = 0  # not counting phase lines

    def read_stdout(self, stream: IO[bytes]) -> None:
        # Keep draining past the cap so the program never blocks on a full pipe.
        while chunk := stream.read1(65536):  # type: ignore[attr-defined]
            if len(self.stdout) + len(chunk) <= STDOUT_CAP_BYTES:
                self.stdout += chunk
            else:
                self.stdout_overflow = True

    def read_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(lambda: stream.readline(LINE_CAP_BYTES), b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            phase = PHASE_LINE.fullmatch(line)
            if phase:
                self._call(self.ctx.on_phase, phase.group(1))
                continue
            self.stderr_lines += 1
            self.stderr_tail.append(line[:2000])
            if self.stderr_lines <= STDERR_FORWARD_LINES:
                self._call(self.ctx.log, line, "stderr")

    def _call(self, fn: Any, *args: Any) -> None:
        """A failing callback must not kill the reader: the pipe would fill and the program hang."""
        try:
            fn(*args)
        except Exception:  # noqa: BLE001
            self.ctx.logger.exception("command runner: %s callback failed", getattr(fn, "__name__", fn))

    def last_stderr_line(self) -> str:
        return next((line.strip() for line in reversed(self.stderr_tail) if line.strip()), "")


def _exited(pid: int) -> bool:
    """Has the program exited? Leaves it unreaped, so its pid (= process group id) stays reserved
    until the group is killed and cannot be recycled for someone else's group."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped
        return True


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):  # group already gone (macOS says EPERM for zombies)
        pass


def _wait(proc: subprocess.Popen[bytes], ctx: RunContext, fallback_deadline: float) -> str | None:
    """Block until the program exits (None) or must be stopped ("cancel" or "deadline")."""
    interval = 0.001  # start short so a fast program is not held up, back off to POLL_SECONDS
    while not _exited(proc.pid):
        if ctx.cancel.is_set():
            return "cancel"
        left = ctx.cancel.remaining()
        left = min(left if left is not None else float("inf"), fallback_deadline - time.monotonic())
        if left <= 0:
            return "deadline"
        ctx.cancel.wait(min(interval, left))
        interval = min(interval * 2, POLL_SECONDS)
    return None


def _end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM a running program's group and give it the grace; then SIGKILL whatever is left of
    the group (grandchildren included) and reap the program."""
    if not _exited(proc.pid):
        _signal_group(proc.pid, signal.SIGTERM)
        end = time.monotonic() + KILL_GRACE_SECONDS
        while not _exited(proc.pid) and time.monotonic() < end:
            time.sleep(0.01)
    _signal_group(proc.pid, signal.SIGKILL)
    try:
        proc.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:  # stuck in the kernel: reap it later rather than block the worker
        threading.Thread(target=proc.wait, name="command-reaper", daemon=True).start()


def _write_stdin(stream: IO[bytes], payload: bytes) -> None:
    """In a thread: a program that never reads stdin must not block the runner on a full pipe."""
    try:
        stream.write(payload)
        stream.close()
    except (BrokenPipeError, OSError, ValueError):  # it exited or closed stdin without reading
        pass


def _failure(code: int, out: _Output) -> RunnerError:
    """Exit code and the program's own last word: enough for the dashboard's failure list."""
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        what = f"killed by signal {name}"
    else:
        what = f"exit {code}"
    line = out.last_stderr_line()
    message = f"{what}: {line}" if line else f"{what} (nothing on stderr)"
    return RunnerError(message[:2000], retryable=code not in NON_RETRYABLE_EXITS)


def _outcome(out: _Output) -> Outcome:
    if out.stdout_overflow:
        raise RunnerError(f"command printed more than {STDOUT_CAP_BYTES:,} bytes on stdout; "
                          "print only the outcome JSON there and logs on stderr", retryable=False)
    text = out.stdout.decode("utf-8", errors="replace").strip()
    try:
        outcome = json.loads(text)
    except ValueError:
        outcome = None
    if not isinstance(outcome, dict):
        raise RunnerError(f"command printed no JSON outcome: {text[:200]!r}", retryable=False)
    outcome.setdefault("runner", "command")
    outcome.setdefault("exit_code", 0)
    return outcome


def _check_encodable(product: dict[str, Any]) -> None:
    """The product reaches the job as UTF-8 (stdin, env, argv): a lone surrogate cannot, so the item fails here, with
    the field named, before anything starts (the catalog refuses such text; a plugin or a script may still pass it)."""
    for field, value in product.items():
        if isinstance(value, str) and repaired(value)[1]:
            raise RunnerError(f"the product's {field} holds an unpaired surrogate (text that is not valid Unicode); "
                              "fix it in the catalog", retryable=False)


@register("command")
def run_command(product: dict[str, Any], settings: BatchSettings, ctx: RunContext) -> Outcome:
    """Run ``settings.command`` for one product and return the JSON object it prints."""
    if not settings.command:
        raise RunnerError("runner 'command' needs settings.command (an argv list)", retryable=False)
    _check_encodable(product)
    argv = build_argv(settings.command, product)
    ctx.cancel.raise_if_cancelled()
    product_json = json.dumps(product, ensure_ascii=False, default=str)
    env = {**os.environ, "INDEXLAB_PRODUCT_ID": str(product.get("product_id", "")),
           "INDEXLAB_PRODUCT_JSON": product_json, "INDEXLAB_BATCH_RUN_ID": str(ctx.batch_run_id),
           "INDEXLAB_ATTEMPT": str(ctx.attempt), JOB_ENV: job_id(ctx.batch_run_id, ctx.seq, ctx.attempt)}
    started = time.monotonic()
    try:
        proc = start_process(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=env, start_new_session=True)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise RunnerError(f"cannot start command {argv[0]!r}: {reason}; check settings.command "
                          "(the program must exist and be executable)", retryable=False) from None
    out = _Output(ctx)
    assert proc.stdin and proc.stdout and proc.stderr
    threads = [threading.Thread(target=target, args=args, name=f"command-{name}", daemon=True)
               for name, target, args in (("stdin", _write_stdin, (proc.stdin, product_json.encode() + b"\n")),
                                          ("stdout", out.read_stdout, (proc.stdout,)),
                                          ("stderr", out.read_stderr, (proc.stderr,)))]
    for thread in threads:
        thread.start()
    stop: str | None = None
    try:
        stop = _wait(proc, ctx, started + settings.max_run_seconds)
    finally:
        _end_group(proc)
        for thread in threads:
            thread.join(READER_JOIN_SECONDS)
        if any(thread.is_alive() for thread in threads):  # a process that left the group holds a pipe
            ctx.logger.warning("command runner: %s left a process holding its output open", argv[0])
        else:
            proc.stdout.close()
            proc.stderr.close()
    if out.stderr_lines > STDERR_FORWARD_LINES:
        ctx.log(f"... {out.stderr_lines - STDERR_FORWARD_LINES} more stderr lines not shown "
                f"(the last {STDERR_TAIL_LINES} are kept for the error)", "stderr")
    if stop == "cancel":
        raise Cancelled(f"command cancelled ({ctx.cancel.reason}) and killed; the item can be re-queued")
    if stop == "deadline":
        raise DeadlineExceeded(f"command ran past its deadline after {time.monotonic() - started:.1f}s and was "
                               "killed; raise max_run_seconds if the product needs longer")
    if proc.returncode != 0:
        tail = list(out.stderr_tail)[-STDERR_TAIL_EVENT_LINES:]
        if tail:  # the job's own last words, next to its failure in the item's events
            ctx.log(f"stderr tail ({len(tail)} of {out.stderr_lines} lines):\n" + "\n".join(line[:190] for line in tail),
                    "stderr_tail")
        raise _failure(proc.returncode, out)
    return _outcome(out)

"""The ``command`` runner against real child processes (tests/engine/jobs/fake_job.py)."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from engine.core.limits import Cancelled, CancelToken, DeadlineExceeded, Limits
from engine.core.settings import BatchSettings
from engine.runners import command as command_runner
from engine.runners import get_runner, orphans
from engine.runners.base import RunContext, RunnerError
from engine.runners.command import run_command
from tests.support.polling import wait_until

JOB = str(Path(__file__).parent / "jobs" / "fake_job.py")
PRODUCT = {"product_id": "m-log-g502x", "category": "mouse", "brand": "Logitech", "model": "G502 X",
           "variant": "", "notes": "grüße"}


class Recorder:
    """Collects what the runner reports through the context, from any thread."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.logs: list[tuple[str, str]] = []

    def context(self, cancel: CancelToken | None = None) -> RunContext:
        return RunContext(batch_run_id="b-0001", seq=1, attempt=2, cancel=cancel or CancelToken(),
                          limits=Limits(), on_phase=self.phases.append,
                          on_log=lambda level, message: self.logs.append((level, message)))


def _run(*args: str, cancel: CancelToken | None = None, recorder: Recorder | None = None, product=PRODUCT):
    settings = BatchSettings(runner="command", command=[sys.executable, JOB, *args])
    return run_command(product, settings, (recorder or Recorder()).context(cancel))


def _literal(text: str) -> str:
    """``text`` as an argv item that placeholder substitution leaves alone."""
    return text.replace("{", "{{").replace("}", "}}")


def _gone(pid: int) -> bool:
    """No such process, or only a zombie waiting for init to reap it (it can do nothing more)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _cancel_when(path: Path, cancel: CancelToken) -> dict[str, float]:
    """Set ``cancel`` from another thread once the child has written ``path``; returns when it did."""
    when: dict[str, float] = {}

    def watch() -> None:
        wait_until(path.exists, timeout=60, message=f"child never wrote {path}")
        when["set"] = time.monotonic()
        cancel.set("force stop")
    threading.Thread(target=watch, daemon=True).start()
    return when


def test_command_is_the_registered_command_runner():
    assert get_runner("command") is run_command


def test_success_returns_the_printed_json_object():
    outcome = _run("print", _literal('  {"fields": {"dpi": 25600}, "coverage": 0.5}\n'))
    assert outcome == {"fields": {"dpi": 25600}, "coverage": 0.5, "runner": "command", "exit_code": 0}


def test_product_arrives_on_stdin_and_in_env():
    outcome = _run("echo")
    assert outcome["stdin"] == PRODUCT
    env = outcome["env"]
    assert env["INDEXLAB_PRODUCT_ID"] == "m-log-g502x"
    assert env["INDEXLAB_BATCH_RUN_ID"] == "b-0001"
    assert env["INDEXLAB_ATTEMPT"] == "2"
    assert json.loads(env["INDEXLAB_PRODUCT_JSON"]) == PRODUCT


def test_placeholders_in_argv_take_the_products_values():
    outcome = _run("echo", "{product_id}", "--brand={brand}", "{model}", "[{variant}]", "{category}", "{{literal}}")
    assert outcome["argv"] == ["m-log-g502x", "--brand=Logitech", "G502 X", "[]", "mouse", "{literal}"]


def test_unknown_placeholder_is_a_clear_non_retryable_error():
    with pytest.raises(RunnerError, match=r"unknown placeholder \{sku\}.*\{product_id\}") as err:
        _run("echo", "{sku}")
    assert err.value.retryable is False


def test_malformed_template_is_a_clear_non_retryable_error():
    with pytest.raises(RunnerError, match="not a valid template") as err:
        _run("echo", "{brand")
    assert err.value.retryable is False


def test_non_zero_exit_is_retryable_and_names_the_last_stderr_line():
    with pytest.raises(RunnerError) as err:
        _run("fail", "3", "reading sensor table", "ValueError: bad sensor", "")
    assert str(err.value) == "exit 3: ValueError: bad sensor"
    assert err.value.retryable is True


def test_non_zero_exit_without_stderr_names_the_exit_code():
    with pytest.raises(RunnerError, match=r"^exit 1 \(nothing on stderr\)$"):
        _run("fail", "1")


@pytest.mark.parametrize("code", [2, 64])
def test_usage_exit_codes_are_not_retried(code):
    with pytest.raises(RunnerError, match=f"^exit {code}: usage") as err:
        _run("fail", str(code), "usage: job [--flag]")
    assert err.value.retryable is False


@pytest.mark.parametrize("stdout", ["progress 50%\n{}", "[1, 2]", ""])
def test_stdout_that_is_not_one_json_object_is_not_retried(stdout):
    with pytest.raises(RunnerError, match="command printed no JSON outcome") as err:
        _run("print", _literal(stdout))
    assert err.value.retryable is False


def test_death_by_signal_is_retryable_and_names_the_signal():
    with pytest.raises(RunnerError, match=r"^killed by signal SIGKILL: about to die$") as err:
        _run("die", "about to die")
    assert err.value.retryable is True


def test_stdout_over_the_cap_is_refused_not_parsed(monkeypatch):
    monkeypatch.setattr(command_runner, "STDOUT_CAP_BYTES", 1024)
    with pytest.raises(RunnerError, match="more than .* on stdout") as err:
        _run("chatty", "4096")
    assert err.value.retryable is False


def test_missing_executable_is_not_retried():
    settings = BatchSettings(runner="command", command=["/nonexistent/indexlab-job", "{product_id}"])
    with pytest.raises(RunnerError, match="cannot start command '/nonexistent/indexlab-job'") as err:
        run_command(PRODUCT, settings, Recorder().context())
    assert err.value.retryable is False


def test_file_that_is_not_executable_is_not_retried(tmp_path):
    script = tmp_path / "job.sh"
    script.write_text("echo {}\n")
    script.chmod(0o644)
    settings = BatchSettings(runner="command", command=[str(script)])
    with pytest.raises(RunnerError, match="cannot start command") as err:
        run_command(PRODUCT, settings, Recorder().context())
    assert err.value.retryable is False


def test_phase_lines_move_the_phase_cursor_and_are_not_logged():
    recorder = Recorder()
    _run("phases", "discover", "fetch", "finalize", recorder=recorder)
    assert recorder.phases == ["discover", "fetch", "finalize"]
    assert recorder.logs == []


def test_stderr_lines_reach_the_log_bounded_with_a_summary():
    recorder = Recorder()
    _run("stderr", "120", recorder=recorder)
    limit = command_runner.STDERR_FORWARD_LINES
    assert recorder.logs[:limit] == [("stderr", f"line {i}") for i in range(limit)]
    assert len(recorder.logs) == limit + 1
    assert "70 more stderr lines" in recorder.logs[-1][1]


def test_chatty_child_writing_megabytes_to_both_pipes_does_not_deadlock():
    recorder = Recorder()
    outcome = _run("chatty", str(5 * 2**20), recorder=recorder)
    assert len(outcome["blob"]) == 5 * 2**20
    assert len(recorder.logs) == command_runner.STDERR_FORWARD_LINES + 1


def test_cancel_from_another_thread_kills_a_sleeping_child_promptly(tmp_path):
    cancel = CancelToken()
    marker = tmp_path / "started"
    when = _cancel_when(marker, cancel)
    with pytest.raises(Cancelled, match="force stop") as err:
        _run("sleep", str(marker), cancel=cancel)
    assert not isinstance(err.value, DeadlineExceeded)
    assert time.monotonic() - when["set"] < 5  # generous; the kill path itself is about 1 s at most


def test_cancel_kills_the_whole_group_even_when_sigterm_is_ignored(tmp_path):
    """A child that ignores SIGTERM and its grandchild both die: SIGKILL goes to the process group."""
    cancel = CancelToken()
    when = _cancel_when(tmp_path / "grandchild.pid", cancel)
    with pytest.raises(Cancelled):
        _run("stubborn", str(tmp_path), cancel=cancel)
    assert time.monotonic() - when["set"] < 5  # generous; SIGKILL follows SIGTERM after a 1 s grace
    pids = [int((tmp_path / name).read_text()) for name in ("child.pid", "grandchild.pid")]
    wait_until(lambda: all(_gone(pid) for pid in pids), timeout=30, message=f"processes {pids} survived")


def test_cancel_set_before_start_starts_nothing(tmp_path):
    cancel = CancelToken()
    cancel.set("force stop")
    with pytest.raises(Cancelled):
        _run("sleep", str(tmp_path / "started"), cancel=cancel)
    assert not (tmp_path / "started").exists()


def test_deadline_kills_the_child_and_raises_deadline_exceeded(tmp_path):
    cancel = CancelToken(deadline=time.monotonic() + 0.3)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="max_run_seconds"):
        _run("sleep", str(tmp_path / "started"), cancel=cancel)
    assert time.monotonic() - started < 5


def test_max_run_seconds_applies_when_the_token_has_no_deadline(tmp_path):
    settings = BatchSettings(runner="command", command=[sys.executable, JOB, "sleep", str(tmp_path / "s")],
                             max_run_seconds=0.3)
    with pytest.raises(DeadlineExceeded):
        run_command(PRODUCT, settings, Recorder().context())


def test_leftover_processes_in_the_group_are_killed_when_the_command_exits(tmp_path):
    """A background grandchild that outlives its parent would hold the pipes and leak; it is killed."""
    outcome = _run("background", str(tmp_path))
    assert outcome["background"] is True
    pid = int((tmp_path / "grandchild.pid").read_text())
    wait_until(lambda: _gone(pid), timeout=30, message=f"grandchild {pid} survived")


_AT_FORK: dict[str, Any] = {}


def _after_fork_in_child() -> None:
    """Python that CPython runs in a forked child before exec, when Popen has a ``preexec_fn``: armed, it
    waits on a lock another thread held at the fork, as CPython's own after-fork code can (gh-112275)."""
    if _AT_FORK:
        with _AT_FORK["record"].open("a") as out:
            out.write(f"{os.getpid()}\n")
        _AT_FORK["lock"].acquire()  # held in the parent at the fork: the child's copy never opens


os.register_at_fork(after_in_child=_after_fork_in_child)


def test_the_program_starts_while_another_thread_holds_a_lock_a_forked_childs_python_would_wait_on(tmp_path):
    """No Python runs between fork and exec. With ``preexec_fn`` it did, and a child could hang forever on a
    lock a DuckDB thread held at the fork: Popen never returned and the item held its worker slot for good."""
    held, stuck = threading.Lock(), tmp_path / "stuck-children"
    result: dict[str, object] = {}

    def run() -> None:
        try:
            result["outcome"] = _run("echo")
        except Exception as exc:  # reported by the assertion below
            result["error"] = exc

    held.acquire()
    _AT_FORK.update(lock=held, record=stuck)
    try:
        runner = threading.Thread(target=run, daemon=True)
        runner.start()
        wait_until(lambda: result, timeout=30, message="the command never started: Popen hangs in the forked child")
    finally:
        _AT_FORK.clear()
        for pid in stuck.read_text().split() if stuck.exists() else ():
            os.kill(int(pid), signal.SIGKILL)  # lets a hung Popen return
        held.release()
    assert "outcome" in result, result
    assert not stuck.exists()


def test_a_missing_program_is_reported_from_the_launcher_with_its_errno(tmp_path):
    """The launcher's failed exec comes back as the OSError Popen would raise, and nothing is left running."""
    with pytest.raises(OSError) as err:
        orphans.start_process([str(tmp_path / "no-such-program")], stdout=subprocess.PIPE)
    assert err.value.errno == errno.ENOENT and err.value.filename == str(tmp_path / "no-such-program")


_PRINT_PID_AND_PDEATHSIG = (
    "import ctypes, os\n"
    "sig = ctypes.c_int(-1)\n"
    "ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(sig), 0, 0, 0)\n"  # PR_GET_PDEATHSIG
    "print(os.getpid(), sig.value)\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_the_program_runs_in_the_process_popen_returned_with_the_parent_death_signal():
    """The launcher execs in place: the pid Popen holds is the program's, and it carries SIGKILL on parent death."""
    proc = orphans.start_process([sys.executable, "-c", _PRINT_PID_AND_PDEATHSIG], stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    pid, sig = (int(x) for x in out.split())
    assert (pid, sig, proc.returncode) == (proc.pid, signal.SIGKILL, 0)


@pytest.mark.parametrize("bad", ["bad\ud800surrogate", "escaped\udce9byte"])
def test_a_product_text_with_a_lone_surrogate_fails_its_item_clearly_and_starts_nothing(bad, tmp_path):
    """No UTF-8 can carry it to the job (stdin, env, argv): before, one blamed the program ("cannot start command") and
    the other (a surrogateescape byte, which the env accepts) started the job, then raised UnicodeEncodeError."""
    started, job = tmp_path / "started", tmp_path / "job.py"
    job.write_text("import sys\nopen(sys.argv[1], 'w').close()\n")
    settings = BatchSettings(runner="command", command=[sys.executable, str(job), str(started)])
    with pytest.raises(RunnerError, match="the product's model holds an unpaired surrogate") as err:
        run_command({**PRODUCT, "model": bad}, settings, Recorder().context())
    assert err.value.retryable is False and not started.exists()

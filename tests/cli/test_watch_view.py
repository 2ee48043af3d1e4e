"""The live view of `status --watch`: hostile batch text stays plain, a terminal is redrawn in place, anything else
gets one line per change."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

from engine.cli.watch import View, frame, watch

NOW = datetime(2026, 12, 6, tzinfo=UTC)
HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\u202egnp.exe\r\x1b[1A"
OUR_REDRAW = re.compile(r"\x1b\[\d+F\x1b\[J")


def status(state: str = "running", *, completed: int = 1, failures: int = 1, phase: str = "fetch") -> dict:
    counts = {"queued": 3 - completed, "running": 1, "completed": completed, "failed": failures, "skipped": 0,
              "stopped": 0}
    return {
        "batch_run_id": "b-1", "state": state, "total": 5, "counts": counts, "done": completed + failures,
        "progress": (completed + failures) / 5,
        "throughput": {"recent_per_hour": 1200.0, "overall_per_hour": 900.0, "window_seconds": 60},
        "eta": {"seconds": 125, "low_seconds": 100, "high_seconds": 150},
        "running": [{"seq": 4, "product_id": "p4", "brand": HOSTILE, "model": "M" + HOSTILE, "attempt": 1,
                     "phase": phase + HOSTILE}],
        "current": None,
        "recent_failures": [{"seq": 9 + i, "product_id": f"p{9 + i}", "brand": "B", "model": HOSTILE, "attempt": 1,
                             "error": "exit 1: " + HOSTILE, "final": True, "at": NOW} for i in range(failures)],
        "recent_events": [], "created_at": NOW, "started_at": NOW, "finished_at": None, "updated_at": NOW,
        "halted": None, "result": "partial" if state == "completed" else None,
        "outcomes": {"succeeded": completed, "needs_review": 0, "failed": failures, "skipped": 0, "stopped": 0,
                     "unfinished": 4 - completed},
        "result_text": "Partial" if state == "completed" else "1 succeeded so far", "reason": HOSTILE,
    }


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_frame_shows_counts_rate_eta_running_and_failures_as_plain_text():
    lines = frame(status(), width=400)
    text = "\n".join(lines)
    assert "\x1b" not in text and "\x07" not in text and "\r" not in text and "\u202e" not in text
    assert "\\x1b]0;pwned\\x07" in text and "\\u202e" in text  # shown, escaped
    assert "1,200/h recent" in text and "ETA 2m05s" in text and "completed 1" in text
    assert any(line.startswith("running") and "#4" in line and "[fetch" in line for line in lines)
    assert any(line.startswith("failures") and "#9" in line for line in lines)


def test_every_frame_line_fits_the_width():
    assert all(len(line) <= 50 for line in frame(status(), width=50))


def test_a_terminal_is_redrawn_in_place_with_no_escape_but_the_views_own():
    out = Terminal()
    view = View(out)
    view.show(status(completed=1))
    first = out.getvalue()
    view.show(status(completed=2))
    written = out.getvalue()
    assert OUR_REDRAW.search(written[len(first):]).start() == 0  # back up over the last frame, then redraw
    assert "\x1b" not in OUR_REDRAW.sub("", written) and "\x07" not in written


def test_without_a_terminal_one_line_per_change_and_each_failure_once():
    out = io.StringIO()
    view = View(out)
    view.show(status(completed=1))
    view.show(status(completed=1))  # nothing changed: nothing printed
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and lines[0].startswith("[") and lines[1].startswith("failure   #9")
    view.show(status(completed=2, failures=2))  # a count moved and a new failure
    new = out.getvalue().splitlines()[2:]
    assert len(new) == 2 and "4/5" in new[0] and new[1].startswith("failure   #10")
    view.show(status(completed=2, failures=2, phase="extract"))  # a running product moved to another phase
    assert len(out.getvalue().splitlines()) == 5
    assert "\x1b" not in out.getvalue() and "\r" not in out.getvalue()


def test_watch_ends_when_the_batch_finishes_and_returns_its_last_status():
    reads = iter([status(completed=1), status(completed=2), status("completed", completed=3)])
    out = io.StringIO()
    final = watch(lambda: next(reads), out, interval=0)
    assert final.state.value == "completed" and final.result == "partial"


def test_ctrl_c_ends_watching_with_the_last_status_read():
    def read():
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return status()

    calls: list[int] = []
    final = watch(read, io.StringIO(), interval=0)
    assert final.state.value == "running"

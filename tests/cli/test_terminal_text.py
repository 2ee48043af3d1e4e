"""Product, catalog, outcome and job text is plain text on the terminal: control characters in it are
shown escaped (``\\x1b``), never sent raw; ``--json`` output stays JSON and carries the text exactly."""

from __future__ import annotations

import csv
import json
import sys
import unicodedata

import pytest

from engine.cli.commands import plain
from tests.support.cli import run

EVIL_BRAND = "Evil\x1b]0;pwned\x07"  # retitles the terminal window
EVIL_MODEL = "M\x1b[2J"  # clears the screen
EVIL_VARIANT = "\u202eabc"  # right-to-left override: shows "cba"
EVIL_CATEGORY = "mi\x9bce"  # a C1 control (CSI)
ROWS = [
    ("p1", "mice", EVIL_BRAND, EVIL_MODEL, EVIL_VARIANT),
    ("p2", EVIL_CATEGORY, "Good", "two\rlines", ""),
    ("p3", "mice", "", "M", ""),  # a problem, listed with its source path (on line 5: \r is a line break)
]


def raw_controls(text: str) -> list[str]:
    """Characters a terminal would act on rather than show."""
    return [c for c in text if not (c.isprintable() or c == "\n" or unicodedata.category(c) == "Zs")]


@pytest.fixture
def evil_catalog(tmp_path):
    path = tmp_path / "cat\x1b[2J.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([("product_id", "category", "brand", "model", "variant"), *ROWS])
    return path


def test_plain_escapes_controls_and_keeps_printable_text():
    assert plain("a\x1b[2Jb\r\n\t\x07\x7f\x9b\u202e\u2028\ud800") == "a\\x1b[2Jb\\r\\n\\t\\x07\\x7f\\x9b\\u202e\\u2028\\ud800"
    assert plain("Café G502\u00a0X — 日本\u3000語 \\x1b") == "Café G502\u00a0X — 日本\u3000語 \\x1b"


def test_catalog_summary_and_problems_are_escaped(capsys, evil_catalog):
    code, out, err = run(capsys, "catalog", evil_catalog)
    assert code == 3 and raw_controls(out) == [] and raw_controls(err) == []
    assert "mi\\x9bce 1" in out and "cat\\x1b[2J.csv:5 [brand]: brand is empty" in out


def test_catalog_json_carries_the_text_exactly_and_escaped(capsys, evil_catalog):
    code, out, _ = run(capsys, "catalog", evil_catalog, "--json")
    assert raw_controls(out) == [] and out.isascii()
    assert EVIL_CATEGORY in json.loads(out)["category_counts"]


def test_plan_items_and_errors_are_escaped(capsys, evil_catalog, db):
    code, out, err = run(capsys, "plan", "--db", db, "--catalog", evil_catalog, "--all")
    assert code == 0 and raw_controls(out) == [] and raw_controls(err) == []
    assert "Evil\\x1b]0;pwned\\x07 M\\x1b[2J [\\u202eabc]  (p1)" in out
    batch_run_id = out.split()[1]
    code, out, _ = run(capsys, "items", batch_run_id, "--db", db)
    assert code == 0 and raw_controls(out) == [] and "two\\rlines" in out
    code, _, err = run(capsys, "plan", "--db", db, "--catalog", evil_catalog, "--brand-order", "X\x1b[2J", "--all")
    assert code == 1 and raw_controls(err) == [] and "X\\x1b[2J" in err


def test_run_progress_status_and_outcome_are_escaped(capsys, evil_catalog, db, tmp_path):
    job = tmp_path / "job.py"
    job.write_text(
        "import json, sys\n"
        "p = json.load(sys.stdin)\n"
        "if p['product_id'] == 'p2':\n"
        "    sys.stderr.write('boom\\x1b[2J\\x07'); sys.exit(3)\n"
        "print(json.dumps({'coverage': 1.0, 'confidence': 1.0, 'conflicts': 0, 'missing': ['x\\x1b[31m'], 'fields': [\n"
        "  {'field': 'dpi\\x1b[5m', 'value': '26000\\r', 'unit': '\\u202edpi', 'confidence': 1.0, 'tier': 'manufacturer',\n"
        "   'source_url': 'https://example.com/\\x1b]8;;evil\\x07', 'snippet_id': 's1', 'conflict': False}]}))\n"
    )
    code, out, err = run(capsys, "run", "--db", db, "--catalog", evil_catalog, "--all", "--max-attempts", "1",
                         "--command", f"{sys.executable} {job}")
    assert code == 5 and raw_controls(err) == [] and raw_controls(out) == []  # partial: p2 failed
    batch_run_id = json.loads(out)["batch_run_id"]
    code, out, _ = run(capsys, "status", "--db", db)
    assert code == 5 and raw_controls(out) == [] and "boom\\x1b[" in out  # its failure group, escaped
    code, out, _ = run(capsys, "failures", "--db", db)
    assert code == 0 and raw_controls(out) == [] and "exit 3: boom\\x1b[" in out
    code, out, _ = run(capsys, "items", batch_run_id, "--db", db, "--state", "failed")
    assert code == 0 and raw_controls(out) == [] and "exit 3: boom\\x1b[2J\\x07" in out
    code, out, _ = run(capsys, "outcome", "p1", "--db", db)
    assert code == 0 and raw_controls(out) == []
    assert "dpi\\x1b[5m" in out and "26000\\r \\u202edpi" in out and "example.com/\\x1b]8;;evil\\x07" in out

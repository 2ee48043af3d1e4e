"""`indexlab export BATCH_ID --format csv|parquet` and `indexlab snapshot DEST` here (--db)."""

from __future__ import annotations

import csv
import io
import json
import sys

import duckdb
import pyarrow.parquet as pq
import pytest

from engine.service.exports import spreadsheet_safe
from engine.store import Store
from tests.support.catalogs import write_catalog
from tests.support.cli import run

COLUMNS = ["seq", "product_id", "category", "brand", "model", "variant", "state", "attempts", "last_error",
           "duration_s", "gate", "coverage", "confidence", "conflicts", "fields_found", "fingerprint"]
# A spreadsheet runs a cell that starts with = + - @ (or a tab, a carriage return) as a formula.
HOSTILE = [
    ("f-1", "=cmd|' /C calc'!A0", "+Brand", "=HYPERLINK(\"http://x.example\",\"click\")", "@SUM(1+1)"),
    ("f-2", "mouse", "Zowie™ ß 漢字", "-2+3", "\x1b]0;title\x07 é"),
    ("plain-1", "mouse", "Logitech", "G502 \"X\", Lightspeed", ""),
]
JOB = ("import json, sys\np = json.load(sys.stdin)\n"
       "if p['product_id'] == 'plain-1':\n    sys.stderr.write('=1+1 is not a spec\\n'); sys.exit(2)\n"
       "print(json.dumps({'coverage': 1.0, 'confidence': 0.75, 'conflicts': 1, 'missing': [], 'fields': [\n"
       "  {'field': 'dpi', 'value': 100}, {'field': 'weight', 'value': 60, 'unit': 'g'}]}))\n")


@pytest.fixture
def done(capsys, tmp_path, db) -> str:
    """A finished batch of the hostile products: two completed with fields, one failed."""
    catalog = write_catalog(tmp_path / "hostile.csv", HOSTILE)
    job = tmp_path / "job.py"
    job.write_text(JOB)
    code, out, err = run(capsys, "run", "--db", db, "--catalog", catalog, "--all", "--max-attempts", "1",
                         "--command", f"{sys.executable} {job}")
    assert code == 5, err  # partial: one failed
    return json.loads(out)["batch_run_id"]


def stored(db, batch: str) -> list[dict]:
    with Store(db) as store:
        return store.export_items(batch).to_pylist()


def test_csv_is_utf8_with_every_item_and_formulas_defused(capsys, db, done, tmp_path):
    code, _, err = run(capsys, "export", done, "--db", db, "-o", tmp_path / "items.csv")
    data = (tmp_path / "items.csv").read_bytes()
    assert code == 0 and "wrote" in err and data.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))
    assert list(rows[0]) == COLUMNS and len(rows) == 3
    for row, item in zip(rows, stored(db, done)):
        for column in COLUMNS:
            value = item[column]
            if isinstance(value, float):
                assert float(row[column]) == value, column
                continue
            text = "" if value is None else str(value)
            if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                text = "'" + text
            assert row[column] == text, (column, row[column], text)
    by_id = {row["product_id"]: row for row in rows}
    f1, f2, plain = by_id["f-1"], by_id["f-2"], by_id["plain-1"]
    assert f1["category"] == "'=cmd|' /C calc'!A0" and f1["brand"] == "'+Brand"
    assert f1["variant"] == "'@SUM(1+1)" and f1["model"].startswith("'=HYPERLINK(")
    assert f2["model"] == "'-2+3" and f2["brand"] == "Zowie™ ß 漢字" and f2["variant"] == "\x1b]0;title\x07 é"
    assert f1["fields_found"] == "2" and f1["confidence"] == "0.75" and f1["conflicts"] == "1"
    assert plain["state"] == "failed" and plain["last_error"] == "exit 2: =1+1 is not a spec"  # not a formula


def test_csv_to_stdout(capsys, db, done):
    code, out, _ = run(capsys, "export", done, "--db", db)
    assert code == 0 and out.lstrip("\ufeff").startswith('"seq","product_id"') and "Zowie™" in out


def test_parquet_reads_back_typed_and_equal_to_the_store(capsys, db, done, tmp_path):
    code, _, err = run(capsys, "export", done, "--db", db, "--format", "parquet", "-o", tmp_path / "items.parquet")
    table = pq.read_table(tmp_path / "items.parquet")
    assert code == 0, err
    assert table.column_names == COLUMNS and table.to_pylist() == stored(db, done)  # values as they are: no prefix
    assert str(table.schema.field("seq").type) == "int32" and str(table.schema.field("coverage").type) == "double"
    assert "=cmd|' /C calc'!A0" in table.column("category").to_pylist()


def test_export_never_overwrites_a_file(capsys, db, done, tmp_path):
    target = tmp_path / "keep.csv"
    target.write_text("mine")
    code, _, err = run(capsys, "export", done, "--db", db, "-o", target)
    assert code == 1 and f"{target} exists" in err and target.read_text() == "mine"
    code, _, err = run(capsys, "export", done, "--db", db, "-o", tmp_path / "no" / "dir.csv")
    assert code == 1 and "does not exist" in err


def test_export_of_an_unknown_batch_is_exit_2(capsys, db, tmp_path):
    code, out, err = run(capsys, "export", "nope", "--db", db, "-o", tmp_path / "x.csv")
    assert code == 2 and out == "" and "no batch 'nope'" in err and not (tmp_path / "x.csv").exists()


def test_spreadsheet_safe_leaves_numbers_and_nulls_alone():
    import pyarrow as pa

    table = pa.table({"n": [-1, 2], "t": ["-1", None], "u": ["a=b", "@x"]})
    assert spreadsheet_safe(table).to_pylist() == [{"n": -1, "t": "'-1", "u": "a=b"}, {"n": 2, "t": None, "u": "'@x"}]


# --------------------------------------------------------------------------- snapshot
def test_snapshot_copies_every_table_into_a_new_database(capsys, db, done, tmp_path):
    dest = tmp_path / "copy.duckdb"
    code, _, err = run(capsys, "snapshot", dest, "--db", db)
    assert code == 0 and "snapshot" in err, err
    with duckdb.connect(str(db), read_only=True) as live, duckdb.connect(str(dest), read_only=True) as copy:
        tables = [t for (t,) in live.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        assert tables and tables == [t for (t,) in copy.execute(
            "SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()]
        for table in tables:
            query = f"SELECT * FROM {table} ORDER BY ALL"
            assert live.execute(query).fetchall() == copy.execute(query).fetchall(), table
    with Store(dest) as copy:  # a database IndexLab opens: the same schema version, the same batch
        assert copy.get_batch(done)["state"] == "completed"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_snapshot_never_overwrites_and_needs_its_directory(capsys, db, done, tmp_path):
    dest = tmp_path / "taken.duckdb"
    dest.write_bytes(b"mine")
    code, _, err = run(capsys, "snapshot", dest, "--db", db)
    assert code == 1 and f"{dest} exists" in err and dest.read_bytes() == b"mine"
    code, _, err = run(capsys, "snapshot", tmp_path / "missing" / "s.duckdb", "--db", db)
    assert code == 1 and "does not exist" in err


def test_export_refuses_to_write_a_file_onto_a_terminal(capsys, db, done):
    """The CSV holds product text exactly (escape sequences too): on a terminal it would run them."""
    import os
    import pty
    import subprocess

    from tests.support.cli import indexlab

    leader, follower = pty.openpty()
    proc = subprocess.run([indexlab(), "export", done, "--db", str(db)], stdout=follower, stderr=subprocess.PIPE,
                          stdin=subprocess.DEVNULL, timeout=60)
    os.close(follower)
    os.close(leader)
    assert proc.returncode == 1 and b"an export is a file: write it with -o FILE" in proc.stderr

"""Exports for analysts (issue 15): a batch's items as CSV or Parquet, and a snapshot copy of the database.

Part of BatchService (engine/service/batch.py). CSV is written for spreadsheets: UTF-8 with a byte-order mark (so
Excel reads it as UTF-8), and every text cell that a spreadsheet would take for a formula (it starts with = + - @,
a tab or a carriage return) is prefixed with an apostrophe (OWASP's advice against CSV injection). Parquet keeps the
values as they are, typed.
"""

from __future__ import annotations

import io
import os
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from engine.core.errors import IndexLabError
from engine.store import Store

FORMATS = ("csv", "parquet")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}
SNAPSHOTS_DIR = "snapshots"  # beside the database: var/snapshots for var/indexlab.duckdb
_FORMULA = "^[=+\\-@\t\r]"  # what a spreadsheet may run as a formula
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_BOM = "\ufeff".encode()


def spreadsheet_safe(table: pa.Table) -> pa.Table:
    """``table`` with every text cell a spreadsheet would run as a formula prefixed with an apostrophe."""
    for i, column in enumerate(table.columns):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            risky = pc.match_substring_regex(column, _FORMULA)
            table = table.set_column(i, table.field(i), pc.if_else(risky, pc.binary_join_element_wise("'", column, ""),
                                                                   column))
    return table


def items_csv(table: pa.Table) -> bytes:
    out = io.BytesIO(_BOM)
    out.seek(0, io.SEEK_END)
    pa_csv.write_csv(spreadsheet_safe(table), out)
    return out.getvalue()


def items_parquet(table: pa.Table) -> bytes:
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def export_name(batch_run_id: str, fmt: str) -> str:
    """A file name safe anywhere (a download's Content-Disposition, a shell): letters, digits, dot, dash, underscore."""
    return f"indexlab-items-{_UNSAFE_NAME.sub('_', batch_run_id)[:80]}.{fmt}"


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise IndexLabError(f"unknown export format {fmt!r}: choose csv or parquet", field="format")
    return fmt


class Exports:
    """Items as CSV or Parquet; a consistent copy of the database (needs the service's ``store``)."""

    store: Store

    def export_items(self, batch_run_id: str, fmt: str) -> bytes:
        """A batch's items in run order with their outcome's quality, as ``csv`` or ``parquet`` bytes: seq, product
        fields, state, attempts, last_error, duration_s, gate, coverage, confidence, conflicts, fields_found,
        fingerprint."""
        check_format(fmt)
        self.store.get_batch(batch_run_id)  # NotFound for an unknown batch, not an empty file
        table = self.store.export_items(batch_run_id)
        return items_csv(table) if fmt == "csv" else items_parquet(table)

    def snapshot(self, dest: str | Path | None = None) -> Path:
        """Copy the database as of now into ``dest`` (a new file), or into a new file of the database's own
        ``snapshots`` directory (what a server does: a client never chooses its paths). Returns the file."""
        if dest is None:
            folder = self.store.path.parent / SNAPSHOTS_DIR
            folder.mkdir(exist_ok=True)
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
            dest = folder / f"{self.store.path.stem}-{stamp}-{secrets.token_hex(3)}.duckdb"
        dest = Path(dest)
        if dest.exists():
            raise IndexLabError(f"{dest} exists: a snapshot is written to a new file; remove it or name another",
                                field="DEST")
        if not dest.parent.is_dir():
            raise IndexLabError(f"cannot write {dest}: the directory {dest.parent} does not exist", field="DEST")
        part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
        try:
            self.store.snapshot_to(part)
            os.replace(part, dest)
        finally:
            for leftover in (part, part.with_name(part.name + ".wal")):
                leftover.unlink(missing_ok=True)
        return dest

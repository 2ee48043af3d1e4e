"""``indexlab export BATCH_ID --format csv|parquet [-o FILE]`` and ``indexlab snapshot DEST``: data for analysts.

Both work here (``--db``: the database must not be held by another process) or through a server (``--url`` /
``INDEXLAB_URL``). A snapshot is a consistent copy of the whole database, a DuckDB file to query while the live one
stays locked by its server (docs/read-model.md); through a server, the server writes it into its own snapshots
directory and streams it here (a client never names a path on the server). Neither overwrites an existing file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from engine.cli.common import EXIT_OK, SubCommands, add_command, add_db
from engine.cli.lifecycle import unknown_batch_is_usage
from engine.cli.output import say
from engine.cli.remote import add_remote_options, open_here, remote_of
from engine.core.errors import IndexLabError

_FORMATS = ("csv", "parquet")


def _new_file(path: Path, what: str) -> Path:
    if path.exists():
        raise IndexLabError(f"{path} exists: {what} is written to a new file; remove it or name another", field=what)
    if not path.parent.is_dir():
        raise IndexLabError(f"cannot write {path}: the directory {path.parent} does not exist", field=what)
    return path


def _write_new(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, which must not exist (never half a file: a temporary beside it, then renamed)."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        part.write_bytes(data)
        os.link(part, path)  # fails if ``path`` appeared meanwhile: nothing is overwritten
    finally:
        part.unlink(missing_ok=True)


@unknown_batch_is_usage
def cmd_export(args: argparse.Namespace) -> int:
    out = _new_file(args.output, "-o") if args.output is not None else None
    if out is None and sys.stdout.isatty():  # a file's bytes, exact: product text would reach the terminal raw
        raise IndexLabError(f"an export is a file: write it with -o FILE (or redirect stdout), e.g. -o items.{args.format}",
                            field="-o")
    remote = remote_of(args)
    if remote is not None:
        data = remote.export(args, args.batch_run_id, args.format)
    else:
        with open_here(args, writes=False) as service:
            data = service.export_items(args.batch_run_id, args.format)
    if out is None:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        _write_new(out, data)
        say(f"indexlab: wrote {len(data):,} bytes to {out}", file=sys.stderr)
    return EXIT_OK


def cmd_snapshot(args: argparse.Namespace) -> int:
    dest = _new_file(args.dest, "DEST")
    remote = remote_of(args)
    if remote is None:
        with open_here(args) as service:
            service.snapshot(dest)
        say(f"indexlab: snapshot of {args.db or 'the database'} written to {dest} ({dest.stat().st_size:,} bytes)",
            file=sys.stderr)
        return EXIT_OK
    part = dest.with_name(f".{dest.name}.{os.getpid()}.part")
    try:
        with part.open("xb") as out:
            name = remote.snapshot(args, out)
        os.link(part, dest)
    finally:
        part.unlink(missing_ok=True)
    say(f"indexlab: the server's snapshot {name} written to {dest} ({dest.stat().st_size:,} bytes)", file=sys.stderr)
    return EXIT_OK


def add_commands(sub: SubCommands) -> None:
    p = add_command(sub, "export", cmd_export,
                    help="a batch's items with their outcomes and quality as CSV or Parquet",
                    description="A batch's items in run order: seq, product fields, state, attempts, last_error, "
                                "duration_s, gate, coverage, confidence, conflicts, fields_found, fingerprint. CSV is "
                                "UTF-8 (with a BOM) and safe to open in a spreadsheet: a cell that starts with "
                                "= + - @ is prefixed with '. Exit code 2 for an unknown batch.")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--format", choices=_FORMATS, default="csv", help="csv (default) or parquet")
    p.add_argument("-o", "--output", type=Path, metavar="FILE", help="write to FILE, a new file (default: stdout)")
    add_db(p)
    add_remote_options(p)

    p = add_command(sub, "snapshot", cmd_snapshot,
                    help="copy the database, consistently, to a new DuckDB file DEST (for analysts' queries)",
                    description="Copy the database as of now into DEST, a new DuckDB file, while a server may go on "
                                "writing the live one (with --url the server makes the copy). See docs/read-model.md.")
    p.add_argument("dest", type=Path, metavar="DEST")
    add_db(p)
    add_remote_options(p)

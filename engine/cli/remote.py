"""Where a batch command acts: on the database here, or (``--url`` / ``INDEXLAB_URL``) through a running server.

``engine.cli`` sits below the HTTP client (``dashboard.client``) and cannot import it, so the console script hands
one in: ``engine.cli.main(..., remote=...)`` puts it on ``args.remote``; it implements ``Remote``. Locally, a command
opens the database itself; when another process holds it, the error names that process and, for a server, the
``--url`` to use instead.
"""

from __future__ import annotations

import argparse
from contextlib import closing
from pathlib import Path
from typing import IO, Any, Protocol

from engine.cli.common import config_of, open_service
from engine.core.catalog import Catalog
from engine.core.errors import IndexLabError, StoreLocked
from engine.service import BatchService

DEFAULT_URL = "http://127.0.0.1:5006"
TIMEOUT_S = 30.0


class Remote(Protocol):
    """What the batch commands need of a server's API (``dashboard.client.HttpRemote``)."""

    def lifecycle(self, args: argparse.Namespace, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST start | pause | resume | stop | retry | skip: the API's document (a status, or a count and status)."""

    def status(self, args: argparse.Namespace, batch_run_id: str) -> dict[str, Any]:
        """GET a batch's live status document."""

    def export(self, args: argparse.Namespace, batch_run_id: str, fmt: str) -> bytes:
        """GET a batch's items as ``csv`` or ``parquet`` bytes."""

    def snapshot(self, args: argparse.Namespace, out: IO[bytes]) -> str:
        """POST a snapshot: the server copies its database into its own snapshots directory and streams the copy,
        written to ``out``; returns the server's name for it."""


def add_remote_options(p: argparse.ArgumentParser) -> None:
    """``--url`` and ``--timeout``: act through a server instead of opening ``--db``."""
    p.add_argument("--url", help=f"act through this server instead of opening the database here (default: "
                                 f"$INDEXLAB_URL when set), e.g. {DEFAULT_URL}")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S, metavar="S", help="with --url: seconds per request")


def remote_of(args: argparse.Namespace) -> Remote | None:
    """The server this command talks to (``--url``, else ``$INDEXLAB_URL`` unless ``--db`` names a database here),
    or None: it opens the database here."""
    db = getattr(args, "db", None)
    if args.url and db is not None:
        raise IndexLabError("give --db or --url, not both: --db opens a database here, --url acts through a server",
                            field="--url")
    if not (args.url or (db is None and config_of(args).url)):
        return None
    remote = getattr(args, "remote", None)
    if remote is None:
        raise IndexLabError("this `indexlab` has no HTTP client: use the console script", field="--url")
    return remote


def open_here(args: argparse.Namespace, catalog: Catalog | None = None, *, run: bool = False,
              writes: bool = True, jobs: bool = True) -> closing[BatchService]:
    """The service over ``--db`` here (with an engine that resumes nothing by itself: only the batch a command
    names runs); when another process holds the file, one error that names it, and the ``--url`` of a server."""
    try:
        return open_service(args, catalog, run=run, writes=writes, auto_resume=False, jobs=jobs)
    except StoreLocked as exc:
        raise StoreLocked(held_by(exc, Path(args.db or config_of(args).db), args), pid=exc.pid) from None


def held_by(exc: StoreLocked, db: Path, args: argparse.Namespace) -> str:
    """Who holds ``db``, and what to do: a server's ``--url``, or wait for the command that has it."""
    argv = _command_line(exc.pid)
    if "serve" in argv:
        return (f"a server holds {db} (process {exc.pid}): use --url {_server_url(argv, args)} "
                f"(or set INDEXLAB_URL) to act through it")
    if exc.pid and argv:
        who = f"process {exc.pid} ({' '.join([Path(argv[0]).name, *argv[1:4]])})"
    else:
        who = f"process {exc.pid}" if exc.pid else "another process"
    return (f"{who} holds {db}: one process opens a database at a time. Wait for it to end or stop it; "
            f"if it is `indexlab serve`, use --url (e.g. {config_of(args).url or DEFAULT_URL}) to act through it")


def _command_line(pid: int | None) -> list[str]:
    """The holder's argv, where the system shows it (Linux /proc); empty when it does not."""
    if not pid:
        return []
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode("utf-8", "replace") for part in raw.split(b"\0") if part]


def _server_url(argv: list[str], args: argparse.Namespace) -> str:
    """The URL of the server started with ``argv`` (its --address and --port), else the configured one."""
    def option(name: str) -> str | None:
        for i, part in enumerate(argv):
            if part == name and i + 1 < len(argv):
                return argv[i + 1]
            if part.startswith(name + "="):
                return part.split("=", 1)[1]
        return None

    port, address = option("--port"), option("--address") or "127.0.0.1"
    if port == "0":  # a free port the server chose: only the server's own log says which
        return config_of(args).url or "http://127.0.0.1:PORT (the port in the server's log)"
    host = "127.0.0.1" if address in ("0.0.0.0", "::") else address
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port or 5006}"

"""The ``indexlab`` console script: the engine's headless commands plus ``serve``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.cli import commands as engine_cli
from engine.core.errors import IndexLabError


def cmd_serve(args: argparse.Namespace) -> int:
    basic_auth = args.basic_auth or os.environ.get("INDEXLAB_BASIC_AUTH")
    from dashboard.guard import network_refusal  # the rule every way of serving shares (it also holds per socket)

    if why := network_refusal(args.address, login=bool(basic_auth)):
        raise IndexLabError(why, field="--address")
    from dashboard.server import serve  # Panel loads only for this command

    try:
        serve(db=args.db, catalog=args.catalog, settings=args.settings, address=args.address, port=args.port, basic_auth=basic_auth)
    except OSError as exc:  # the database, catalog and settings say their own errors: this is the listening socket
        if exc.filename is not None:
            raise
        raise IndexLabError(f"cannot listen on {args.address}:{args.port}: {exc.strerror or exc}; stop what uses it,"
                            " or choose another --port (0 picks a free one)", field="--port") from None
    return engine_cli.EXIT_OK


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number, 0 to 65535 (0 picks a free one)")
    return value


def _add_serve(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="serve the dashboard (and API) on one port")
    p.add_argument("--db", type=Path, default=None, help="DuckDB file (default: $INDEXLAB_DB or var/indexlab.duckdb)")
    p.add_argument("--catalog", type=Path, default=None, help="catalog path (default: the embedded fixtures catalog)")
    p.add_argument("--settings", type=Path, default=None, metavar="FILE",
                   help="default batch settings, a JSON or TOML file of settings fields (default: $INDEXLAB_SETTINGS); "
                        "its command, corpus and LLM endpoint apply to every batch planned in the dashboard")
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=5006, help="port (default 5006; 0 picks a free one)")
    p.add_argument("--basic-auth", metavar="PASSWORD|FILE",
                   help="dashboard login (Panel basic auth: a password, or a JSON file of user: password)")
    p.set_defaults(handler=cmd_serve)

    from dashboard.api.client import add_commands as add_batch_commands

    add_batch_commands(sub)  # indexlab batch ...: the REST API as a command line


def main(argv: Sequence[str] | None = None) -> int:
    return engine_cli.main(argv, extend=_add_serve)


if __name__ == "__main__":
    sys.exit(main())

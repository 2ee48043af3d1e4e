"""The ``indexlab`` console script: the engine's headless commands, plus ``serve`` and the ``batch`` HTTP client."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from dashboard.client import REMOTE
from dashboard.client import add_commands as add_batch_commands
from engine import cli as engine_cli
from engine.cli.common import EXIT_OK, SubCommands, add_db, add_executor_options, config_of
from engine.cli.output import plain
from engine.core.errors import IndexLabError
from engine.core.memory import tune_allocators


def cmd_serve(args: argparse.Namespace) -> int:
    tune_allocators()  # before the catalog loads: a long-lived server gives back what it frees (engine/core/memory.py)
    config = config_of(args)
    basic_auth = args.basic_auth or config.basic_auth
    # Both imports wait for this command: the guard loads Tornado, the server Panel, which no other command needs.
    from dashboard.guard import network_refusal  # the rule every way of serving shares (it also holds per socket)

    if why := network_refusal(args.address, login=bool(basic_auth), config=config):
        raise IndexLabError(why, field="--address")
    # The service first: recovering the store and resuming the batch that was running must not wait for the UI's
    # imports (Panel and Bokeh take 1-2 s); the server reuses this context.
    from dashboard.context import get_context

    context = get_context(db=args.db, catalog=args.catalog, settings=args.settings, config=config)
    active = context.service.active_batch_id()
    print(plain(f"IndexLab Batch: engine open on {context.service.db_path.name}, "
                f"{f'batch {active} loaded' if active else 'no active batch'}; loading the dashboard"), flush=True)
    from dashboard.server import serve

    try:
        serve(config, db=args.db, catalog=args.catalog, settings=args.settings, address=args.address, port=args.port,
              basic_auth=basic_auth)
    except OSError as exc:  # the database, catalog and settings say their own errors: this is the listening socket
        if exc.filename is not None:
            raise
        raise IndexLabError(f"cannot listen on {args.address}:{args.port}: {exc.strerror or exc}; stop what uses it,"
                            " or choose another --port (0 picks a free one)", field="--port") from None
    return EXIT_OK


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be a port number, 0 to 65535 (0 picks a free one)")
    return value


def add_serve(sub: SubCommands) -> None:
    p = sub.add_parser("serve", help="serve the dashboard (and API) on one port")
    add_db(p)
    p.add_argument("--catalog", type=Path, default=None, help="catalog path (default: the embedded fixtures catalog)")
    p.add_argument("--settings", type=Path, default=None, metavar="FILE",
                   help="default batch settings, a JSON or TOML file of settings fields (default: $INDEXLAB_SETTINGS); "
                        "its command, corpus and LLM endpoint apply to every batch planned in the dashboard")
    add_executor_options(p)
    p.add_argument("--address", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=5006, help="port (default 5006; 0 picks a free one)")
    p.add_argument("--basic-auth", metavar="PASSWORD|FILE",
                   help="dashboard login (Panel basic auth: a password, or a JSON file of user: password)")
    p.set_defaults(handler=cmd_serve)


def main(argv: Sequence[str] | None = None) -> int:
    # indexlab batch ...: the REST API as a CLI; the batch commands' --url goes through the same client
    return engine_cli.main(argv, groups=(add_serve, add_batch_commands), remote=REMOTE)


if __name__ == "__main__":
    sys.exit(main())

"""The headless ``indexlab`` command line (catalog, plan, items, outcome, run, status, failures, rerun).

Public API: ``build_parser(*groups)`` and ``main(argv, groups=...)`` (and, in ``__all__``, the options, output and
status printer a face built on this command line shares with it); a group is a function that adds commands
through the ``SubCommands`` it is given (``dashboard.cli`` adds ``serve`` and ``batch`` this way). ``main`` reads
the configuration (``engine.core.config``) once, before any command runs, and hands it to the command as
``args.config``. Exit codes: ``engine.cli.common`` and ``engine.cli.status``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from engine.cli import batches, commands, export, lifecycle, queue, run
from engine.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    SubCommands,
    add_action_options,
    add_plan_options,
    add_rerun_options,
    config_of,
    group_limit,
    non_negative,
    plan_request_from_args,
    rerun_changes,
)
from engine.cli.output import emit_json, plain, print_plan, say
from engine.cli.remote import DEFAULT_URL, Remote
from engine.cli.status import STATUS_GROUPS, exit_code, print_failure_groups, print_status
from engine.cli.watch import watch
from engine.core.config import load_config
from engine.core.errors import IndexLabError

CommandGroup = Callable[[SubCommands], None]
GROUPS: tuple[CommandGroup, ...] = (commands.add_commands, run.add_commands, queue.add_commands, batches.add_commands,
                                     lifecycle.add_commands, export.add_commands)

__all__ = [  # the parser and entry point; and what a face built on this CLI (``indexlab batch``) shares with it
    "CommandGroup", "SubCommands", "build_parser", "main", "config_of", "DEFAULT_URL", "Remote", "watch",
    "EXIT_OK", "STATUS_GROUPS", "add_action_options", "add_plan_options", "add_rerun_options", "group_limit", "non_negative",
    "plan_request_from_args", "rerun_changes", "emit_json", "plain", "print_plan", "say",
    "exit_code", "print_failure_groups", "print_status",
]


def build_parser(*groups: CommandGroup) -> argparse.ArgumentParser:
    """The ``indexlab`` parser: the headless commands, then each of ``groups``' commands."""
    parser = argparse.ArgumentParser(prog="indexlab", description="IndexLab Batch: plan, run and watch spec-harvest batches.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (*GROUPS, *groups):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, groups: Sequence[CommandGroup] = (), remote: Remote | None = None) -> int:
    """Parse ``argv``, read the configuration, run the command; every expected error is one line on stderr.
    ``remote``: the server API the batch commands use with ``--url`` (the console script's HTTP client)."""
    args = build_parser(*groups).parse_args(argv)
    args.remote = remote
    try:
        args.config = load_config()
        return args.handler(args)
    except IndexLabError as exc:
        say(*f"indexlab: error: {exc}".split("\n"), file=sys.stderr)  # a catalog error lists its problems
        return EXIT_FAILED
    except KeyboardInterrupt:
        say("indexlab: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:  # the machine refused something (a file, a socket): say what, where, no traceback
        where = f" ({exc.filename})" if exc.filename else ""
        say(f"indexlab: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_FAILED

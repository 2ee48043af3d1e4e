"""``indexlab start | pause | resume | stop [--force] | retry | skip BATCH_ID``: the API's lifecycle, from a terminal.

Here (``--db``) each command opens the database with an engine that resumes nothing by itself, so only the batch
named moves. ``start`` and ``resume`` (and a ``retry`` that sets the batch running) then run it in this process, in
the foreground, until it ends or Ctrl-C stops it (once: gracefully, twice: force), as ``indexlab run`` does; the
summary JSON goes to stdout, progress to stderr. ``--detach`` needs a server: here the batch runs inside the command.

With ``--url`` (or ``INDEXLAB_URL``) the same call goes to that server's API. ``start`` and ``resume`` then follow
the batch with the live view on stderr until it stops moving (Ctrl-C only stops following: the batch is the
server's), or return at once with ``--detach``.

Exit codes follow the batch's result, as ``indexlab run``: 0 succeeded, 4 failed, 5 partial, 6 not finished; 1 the
request failed (an illegal move, the database held by another process), 2 bad arguments or an unknown batch.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Any

from engine.cli.common import (
    EXIT_USAGE,
    SubCommands,
    add_action_options,
    add_command,
    add_db,
    add_executor_options,
    open_catalog,
)
from engine.cli.output import emit_json, say
from engine.cli.remote import Remote, add_remote_options, open_here, remote_of
from engine.cli.run import run_here, summary
from engine.cli.status import exit_code, print_status, read_status
from engine.cli.watch import moving, watch
from engine.core.errors import NotFound
from engine.core.states import BatchState
from engine.service import BatchService

HELP = {"start": "start a planned batch (or continue a paused or stopped one) and follow it",
        "pause": "pause: running items finish, nothing new starts",
        "resume": "resume a paused or stopped batch and follow it",
        "stop": "stop gracefully: running items finish, queued ones stop (--force: cancel running items now)",
        "retry": "re-queue failed items (all, --seq N ..., or --reason GROUP) and run them",
        "skip": "skip queued items (--seq N ...)"}
FOLLOWS = ("start", "resume")  # actions that run the batch (here) or follow it (through a server)
JOBS = (*FOLLOWS, "retry")  # actions that run product jobs here: they take --executor


def unknown_batch_is_usage(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """An unknown batch id is a mistake in the arguments: exit 2, with the message."""
    @wraps(handler)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except NotFound as exc:
            if exc.field != "batch_run_id":
                raise
            say(f"indexlab: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return wrapper


@unknown_batch_is_usage
def cmd_lifecycle(args: argparse.Namespace) -> int:
    remote = remote_of(args)
    if remote is not None:
        return _through(remote, args)
    if args.detach:
        say("indexlab: error: --detach needs a server (--url or INDEXLAB_URL): here the batch runs inside this "
            "command and ends with it; start `indexlab serve` and use --url to leave batches running",
            file=sys.stderr)
        return EXIT_USAGE
    return _here(args)


# --------------------------------------------------------------------------- here: this process runs the batch
def _here(args: argparse.Namespace) -> int:
    catalog = open_catalog(args) if getattr(args, "catalog", None) else None  # else: no product counts as removed
    with open_here(args, catalog, run=True, jobs=args.action in JOBS) as service:
        service.batch(args.batch_run_id)  # NotFound (exit 2) before anything else
        if args.action in FOLLOWS:
            return run_here(service, args.batch_run_id, lambda: _act(service, args))
        count = _act(service, args)
        status = service.status(args.batch_run_id)
        if args.action == "retry" and status["state"] in (BatchState.RUNNING, BatchState.STOPPING):
            say(f"indexlab: re-queued {count} items", file=sys.stderr)
            return run_here(service, args.batch_run_id)  # they run now, here, as start would run them
    _print(args, status, count)
    return exit_code(status)


def _act(service: BatchService, args: argparse.Namespace) -> int | None:
    """The action on the service; retry and skip return how many items moved."""
    batch, actor = args.batch_run_id, "cli"
    if args.action == "retry":
        return service.retry_failed(batch, args.seq, reason=args.reason, actor=actor)
    if args.action == "skip":
        return service.skip(batch, args.seq, actor=actor)
    if args.action == "stop":
        service.stop(batch, force=args.force, actor=actor)
    else:
        getattr(service, args.action)(batch, actor=actor)
    return None


def _print(args: argparse.Namespace, status: dict[str, Any], count: int | None) -> None:
    if args.json:
        emit_json({"batch_run_id": args.batch_run_id, "count": count, "status": status} if count is not None
                  else status)
        return
    if count is not None:
        say(f"{'re-queued' if args.action == 'retry' else 'skipped'} {count} items")
    print_status(status)


# --------------------------------------------------------------------------- through a server
def _through(remote: Remote, args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"batch_run_id": args.batch_run_id}
    if args.action == "stop":
        body["force"] = args.force
    if args.action in ("retry", "skip") and args.seq:
        body["seqs"] = args.seq
    if args.action == "retry" and args.reason is not None:
        body["reason"] = args.reason
    doc = remote.lifecycle(args, args.action, body)
    status = doc.get("status", doc)
    if args.action in FOLLOWS and not args.detach and moving(read_status(status)):
        say(f"indexlab: following batch {args.batch_run_id} on the server (Ctrl-C stops following; the batch "
            "goes on: stop it with `indexlab stop`)", file=sys.stderr)
        final = watch(lambda: remote.status(args, args.batch_run_id), sys.stderr,
                      until=lambda s: not moving(s), interval=args.interval)
        emit_json(summary(final))
        return exit_code(final)
    _print(args, status, doc.get("count"))
    return exit_code(status)


# --------------------------------------------------------------------------- parser
def add_commands(sub: SubCommands) -> None:
    for action, text in HELP.items():
        p = add_command(sub, action, cmd_lifecycle, json=True,
                        help=text, description=f"{text[0].upper()}{text[1:]}. {_EXITS}")
        p.set_defaults(action=action)
        p.add_argument("batch_run_id", metavar="BATCH_ID")
        add_db(p)
        add_remote_options(p)
        if action in FOLLOWS or action == "retry":
            p.add_argument("--catalog", type=Path, help="here: products missing from this catalog are skipped, "
                                                        "not run (default: no check)")
            p.set_defaults(strict=False)
        if action in JOBS:
            add_executor_options(p)
        if action in FOLLOWS:
            p.add_argument("--detach", action="store_true",
                           help="with --url: return once the server has it running, instead of following it")
            p.add_argument("--interval", type=float, default=1.0, metavar="S",
                           help="with --url: seconds between status reads while following (default 1)")
        else:
            p.set_defaults(detach=False)
        add_action_options(p, action, "indexlab failures")


_EXITS = ("Exit code: 0 succeeded, 4 failed, 5 partial, 6 not finished (the batch's result after the action); "
          "1 the request failed; 2 bad arguments or an unknown batch.")

"""Headless batch commands: ``indexlab run`` (plan + start + follow, or ``--resume``), ``indexlab status``,
``indexlab failures`` and ``indexlab rerun``.

``run`` owns the database while it runs. Ctrl-C once stops gracefully (in-flight items finish),
twice force-stops. Progress goes to stderr; the final summary is one JSON document on stdout.
Exit codes of ``run`` and ``status`` say the batch's result (``engine.cli.status``): 0 succeeded, 4 failed,
5 partial, 6 not finished (planned, running, paused, stopping); 1 the request failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from engine.cli.common import (
    EXIT_OK,
    SubCommands,
    add_catalog,
    add_command,
    add_db,
    add_executor_options,
    add_plan_options,
    add_rerun_options,
    group_limit,
    open_catalog,
    open_service,
    plan_request_from_args,
    rerun_changes,
)
from engine.cli.output import emit_json, plain, print_plan, say
from engine.cli.remote import add_remote_options, open_here, remote_of
from engine.cli.status import (
    STATUS_GROUPS,
    exit_code,
    print_failure_groups,
    print_status,
    progress_line,
    read_status,
    summary,
)
from engine.cli.watch import WATCH_INTERVAL_S, View, watch
from engine.core.errors import IndexLabError
from engine.core.states import ACTIVE_BATCH_STATES, FINISHED_BATCH_STATES, STARTABLE_BATCH_STATES, BatchState
from engine.service import BatchService

FOLLOW_TICK_S = 0.25
_RESUMABLE = (*ACTIVE_BATCH_STATES, BatchState.STOPPED)
_STARTABLE = tuple(STARTABLE_BATCH_STATES)


class _Interrupts:
    """First Ctrl-C: graceful stop. Second: force stop."""

    def __init__(self, service: BatchService, batch_run_id: str) -> None:
        self.service, self.batch_run_id, self.count = service, batch_run_id, 0

    def __call__(self, signum: int, frame: Any) -> None:
        # Nothing but counting here: printing or waiting for a commit inside a signal frame can
        # re-enter the stderr buffer or a lock the interrupted code holds.
        self.count += 1
        threading.Thread(target=self._stop, args=(self.count > 1,), daemon=True).start()

    def _stop(self, force: bool) -> None:
        print(f"\nindexlab: {'force stop' if force else 'stopping gracefully (Ctrl-C again to force)'}",
              file=sys.stderr, flush=True)
        try:
            self.service.stop(self.batch_run_id, force=force, actor="cli", reason="Ctrl-C")
        except IndexLabError as exc:
            say(f"indexlab: {exc}", file=sys.stderr)


def follow(service: BatchService, batch_run_id: str) -> dict[str, Any]:
    """Show progress until the dispatcher is idle; return the final status."""
    tty = sys.stderr.isatty()
    last_line = 0.0
    while not service.wait_idle(timeout=FOLLOW_TICK_S):
        now = time.monotonic()
        if tty or now - last_line >= 5.0:
            line = plain(progress_line(service.status(batch_run_id)))
            print(f"\r{line[:160]:<160}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
            last_line = now
    final = service.status(batch_run_id)
    print(("\r" if tty else "") + plain(progress_line(final)), file=sys.stderr, flush=True)
    return final


def run_here(service: BatchService, batch_run_id: str, act: Callable[[], object] | None = None) -> int:
    """Run ``batch_run_id`` in this process until it is idle (ended, paused, or stopped by Ctrl-C): ``act`` moves it
    (default: start it if it is planned, paused or stopped; recovery may already have finished it). Progress on
    stderr, the summary JSON on stdout; the exit code says the result."""
    previous = signal.signal(signal.SIGINT, _Interrupts(service, batch_run_id))  # before any job starts
    try:
        if act is not None:
            act()
        elif service.status(batch_run_id)["state"] in _STARTABLE:
            service.start(batch_run_id, actor="cli")
        say(f"indexlab: batch {batch_run_id} {service.status(batch_run_id)['state']} (db {service.db_path})",
            file=sys.stderr)
        final = follow(service, batch_run_id)
    finally:
        signal.signal(signal.SIGINT, previous)
    emit_json(summary(final))
    say(f"indexlab: {final['result_text'] if final['result'] else final['state']}"
            + (f" ({final['reason']})" if final.get("reason") else ""), file=sys.stderr)
    return exit_code(final)


def resumable(service: BatchService, batch_run_id: str | None) -> str:
    """The batch ``run --resume`` continues: the one named, else the only batch that could be meant (running,
    queued, paused, stopping or stopped, not archived); more than one is refused with the list of them."""
    if batch_run_id:
        return service.batch(batch_run_id)["batch_run_id"]  # NotFound for an unknown one
    candidates = [b for b in service.batches_in(_RESUMABLE) if b["archived_at"] is None]
    if not candidates:
        raise IndexLabError(f"nothing to resume in {service.db_path}: no running, paused or stopped batch")
    if len(candidates) > 1:
        rows = [f"  {b['batch_run_id']}  {plain(b['name'] or '-')}  {b['state']}  created {b['created_at']:%Y-%m-%d %H:%M}"
                for b in candidates]
        raise IndexLabError("\n".join([f"{len(candidates)} batches could be resumed; name one: "
                                       "indexlab run --resume BATCH_ID", *rows]), field="--resume")
    return candidates[0]["batch_run_id"]


def cmd_run(args: argparse.Namespace) -> int:
    catalog = open_catalog(args)
    with open_here(args, catalog, run=True) as service:
        if args.batch:
            batch_run_id = service.batch(args.batch)["batch_run_id"]  # NotFound for an unknown one
        elif args.resume is not None:
            batch_run_id = resumable(service, args.resume)
        else:
            batch_run_id = service.plan(plan_request_from_args(args), actor="cli").batch_run_id
        return run_here(service, batch_run_id)


def _batch_id(service: BatchService, batch_run_id: str | None) -> str:
    if batch_run_id is not None:
        return batch_run_id
    latest = service.latest_batch_id()
    if latest is None:
        raise IndexLabError(f"no batches in {service.db_path}")
    return latest


def cmd_status(args: argparse.Namespace) -> int:
    if args.watch:
        return _watch(args)
    remote = remote_of(args)
    if remote is not None:  # the server's document, printed as `indexlab batch status` prints it
        if args.batch_run_id is None:
            raise IndexLabError("with --url, name the batch: indexlab status BATCH_ID --url ...", field="BATCH_ID")
        status = remote.status(args, args.batch_run_id)
        if args.json:
            emit_json(status)
        else:
            print_status(status)
        return exit_code(status)
    with open_service(args, writes=False) as service:
        batch_run_id = _batch_id(service, args.batch_run_id)
        status = service.status(batch_run_id)
        groups = [] if args.json else service.failure_groups(batch_run_id, limit=STATUS_GROUPS)
    if args.json:
        emit_json(status)
    else:
        print_status(status, groups)
    return exit_code(status)


def _watch(args: argparse.Namespace) -> int:
    """``status --watch``: the live view until the batch finishes (or Ctrl-C). Through a server it follows the
    batch; here, where no process runs it (one that did would hold the database), it shows it once and says so."""
    if args.json:
        raise IndexLabError("--watch draws a view for people: leave out --json (or poll `status --json`)",
                            field="--json")
    if args.batch_run_id is None:
        raise IndexLabError("--watch needs the batch's id: indexlab status BATCH_ID --watch", field="BATCH_ID")
    remote = remote_of(args)
    if remote is not None:
        return exit_code(watch(lambda: remote.status(args, args.batch_run_id), sys.stdout, interval=args.interval))
    with open_here(args, writes=False) as service:
        status = read_status(service.status(args.batch_run_id))
    View(sys.stdout).show(status)
    if status.state not in FINISHED_BATCH_STATES:
        say(f"indexlab: nothing runs batch {args.batch_run_id} now: no process holds {args.db or 'the database'}; "
            f"run it with `indexlab resume {args.batch_run_id}` (or watch a server's batch with --url)",
            file=sys.stderr)
    return exit_code(status)


def cmd_failures(args: argparse.Namespace) -> int:
    with open_service(args, writes=False) as service:
        batch_run_id = _batch_id(service, args.batch_run_id)
        groups = service.failure_groups(batch_run_id, limit=args.limit)
        failed = service.batch_with_counts(batch_run_id)["counts"].get("failed", 0)
    if args.json:
        emit_json({"batch_run_id": batch_run_id, "group_by": "reason", "failed": failed, "groups": groups})
    else:
        print_failure_groups(groups, failed)
    return EXIT_OK


def cmd_rerun(args: argparse.Namespace) -> int:
    catalog = open_catalog(args)
    with open_service(args, catalog) as service:
        saved = service.rerun(args.batch_run_id, which=args.which, reason=args.reason,
                                                   settings=rerun_changes(args), actor="cli")
    if args.json:
        emit_json({"batch_run_id": saved.batch_run_id, "state": saved.state.value,
                       "created_at": saved.created_at, **saved.summary.model_dump(mode="json")})
    else:
        print_plan(saved.batch_run_id, saved.summary)
        say(f"state         {saved.state.value}; run it with: indexlab run --batch {saved.batch_run_id}")
    return EXIT_OK


def add_commands(sub: SubCommands) -> None:
    p = add_command(sub, "run", cmd_run,
                    help="plan, start and follow a batch in this process (or --resume one)",
                    description="Plan, start and follow a batch in this process. Exit code: 0 succeeded, 4 failed, "
                                "5 partial, 6 not finished (paused by fail-fast), 1 the request failed.")
    add_db(p)
    add_catalog(p)
    add_plan_options(p)
    add_executor_options(p)
    p.add_argument("--resume", nargs="?", const="", metavar="BATCH_ID",
                   help="continue this batch, or without an id the only running, paused or stopped one (with more "
                        "than one, name it: they are listed)")
    p.add_argument("--batch", metavar="BATCH_ID", help="start (or continue) this planned, paused or stopped batch "
                   "instead of planning one, e.g. a re-run's")
    p.add_argument("--corpus", metavar="PATH", help="harvest from this corpus: a directory holding sources.jsonl "
                                                    "and docs/, or the sources.jsonl (default: the embedded corpus)")

    p = add_command(sub, "status", cmd_status, json=True,
                    help="a batch's result, counts, progress and failures (default: the latest)",
                    description="A batch's result, counts, progress and failures. Exit code: 0 succeeded, "
                                "4 failed, 5 partial, 6 not finished, 1 the request failed.")
    p.add_argument("batch_run_id", nargs="?")
    add_db(p)
    p.add_argument("--watch", action="store_true", help="a live view, redrawn in place (a line per change when "
                   "stdout is not a terminal), until the batch finishes or Ctrl-C; with --url, a server's batch")
    p.add_argument("--interval", type=float, default=WATCH_INTERVAL_S, metavar="S",
                   help="with --watch: seconds between reads (default 1)")
    add_remote_options(p)

    p = add_command(sub, "failures", cmd_failures, json=True,
                    help="a batch's failed items grouped by reason (default: the latest batch)")
    p.add_argument("batch_run_id", nargs="?")
    add_db(p)
    p.add_argument("--limit", type=group_limit, default=100, metavar="N",
                   help="at most N groups, largest first (default 100)")

    p = add_command(sub, "rerun", cmd_rerun, json=True,
                    help="plan a new batch of a batch's needs-review or failed products")
    add_rerun_options(p)
    add_db(p)
    add_catalog(p)


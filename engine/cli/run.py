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
from typing import Any

from engine.cli.common import (
    EXIT_OK,
    SubCommands,
    add_catalog,
    add_command,
    add_db,
    add_plan_options,
    add_rerun_options,
    group_limit,
    open_catalog,
    open_service,
    plan_request_from_args,
    rerun_changes,
)
from engine.cli.output import emit_json, plain, print_plan, say
from engine.cli.status import STATUS_GROUPS, exit_code, print_failure_groups, print_status, progress_line, summary
from engine.core.errors import IndexLabError
from engine.core.states import ACTIVE_BATCH_STATES, BatchState
from engine.service import BatchService

FOLLOW_TICK_S = 0.25
_RESUMABLE = (*ACTIVE_BATCH_STATES, BatchState.STOPPED)


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


def cmd_run(args: argparse.Namespace) -> int:
    catalog = open_catalog(args)
    with open_service(args, catalog, run=True) as service:
        if args.batch:
            batch_run_id = service.batch(args.batch)["batch_run_id"]  # NotFound for an unknown one
        elif args.resume:
            batch_run_id = service.active_batch_id() or service.latest_batch_id(_RESUMABLE)
            if batch_run_id is None:
                raise IndexLabError(f"nothing to resume in {service.db_path}: no running, paused or stopped batch")
        else:
            batch_run_id = service.plan(plan_request_from_args(args), actor="cli").batch_run_id
        previous = signal.signal(signal.SIGINT, _Interrupts(service, batch_run_id))  # before any job starts
        try:
            # recover() may already be running it, or have finished it meanwhile
            if service.status(batch_run_id)["state"] in (BatchState.PLANNED, BatchState.PAUSED, BatchState.STOPPED):
                service.start(batch_run_id, actor="cli")
            say(f"indexlab: batch {batch_run_id} running (db {service.db_path})", file=sys.stderr)
            final = follow(service, batch_run_id)
        finally:
            signal.signal(signal.SIGINT, previous)
    emit_json(summary(final))
    say(f"indexlab: {final['result_text'] if final['result'] else final['state']}"
            + (f" ({final['reason']})" if final.get("reason") else ""), file=sys.stderr)
    return exit_code(final)


def _batch_id(service: BatchService, batch_run_id: str | None) -> str:
    if batch_run_id is not None:
        return batch_run_id
    latest = service.latest_batch_id()
    if latest is None:
        raise IndexLabError(f"no batches in {service.db_path}")
    return latest


def cmd_status(args: argparse.Namespace) -> int:
    with open_service(args, writes=False) as service:
        batch_run_id = _batch_id(service, args.batch_run_id)
        status = service.status(batch_run_id)
        groups = [] if args.json else service.failure_groups(batch_run_id, limit=STATUS_GROUPS)
    if args.json:
        emit_json(status)
    else:
        print_status(status, groups)
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
                    help="plan, start and follow a batch in this process (or --resume the latest)",
                    description="Plan, start and follow a batch in this process. Exit code: 0 succeeded, 4 failed, "
                                "5 partial, 6 not finished (paused by fail-fast), 1 the request failed.")
    add_db(p)
    add_catalog(p)
    add_plan_options(p)
    p.add_argument("--resume", action="store_true", help="continue the latest running, paused or stopped batch")
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


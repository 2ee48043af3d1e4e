"""Headless batch commands: ``indexlab run`` (plan + start + follow, or ``--resume``), ``indexlab status``,
``indexlab failures`` and ``indexlab rerun``; and the status text and exit codes both CLIs share.

``run`` owns the database while it runs. Ctrl-C once stops gracefully (in-flight items finish),
twice force-stops. Progress goes to stderr; the final summary is one JSON document on stdout.
Exit codes of ``run`` and ``status`` say the batch's result: 0 succeeded, 4 failed, 5 partial,
6 not finished (planned, running, paused, stopping); 1 the request failed, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from engine.cli import commands as cli
from engine.run.engine import BatchEngine
from engine.core.errors import IndexLabError
from engine.service import BatchService
from engine.core.settings import BatchSettings, Profile
from engine.core.states import ACTIVE_BATCH_STATES, BatchState

EXIT_RESULT_FAILED, EXIT_PARTIAL, EXIT_NOT_FINISHED = 4, 5, 6
EXIT_BY_RESULT = {"succeeded": cli.EXIT_OK, "failed": EXIT_RESULT_FAILED, "partial": EXIT_PARTIAL}
FOLLOW_TICK_S = 0.25
_RESUMABLE = (*ACTIVE_BATCH_STATES, BatchState.STOPPED)


def _fmt_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def progress_line(status: dict[str, Any]) -> str:
    c, total = status["counts"], status["total"]
    width = 24
    filled = int(width * status["progress"])
    rate = status["throughput"]["recent_per_hour"] or status["throughput"]["overall_per_hour"]
    eta = status["eta"]["seconds"] if status["eta"] else None
    current = status["current"]
    where = f" | {current['brand']} {current['model']} [{current['phase'] or 'starting'}]" if current else ""
    return (f"[{'#' * filled}{'.' * (width - filled)}] {status['done']}/{total} {status['state']} "
            f"ok {c['completed']} failed {c['failed']} running {c['running']} | "
            f"{rate or 0:,.0f}/h | ETA {_fmt_seconds(eta)}{where}")


def exit_code(status: dict[str, Any]) -> int:
    """The exit code that says a batch's result: 0 succeeded, 4 failed, 5 partial, 6 not finished."""
    return EXIT_BY_RESULT.get(status.get("result") or "", EXIT_NOT_FINISHED)


def _when(value: Any) -> str:
    """A timestamp (a datetime, or the API's ISO text) as ``YYYY-MM-DD HH:MM:SS``."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else "-"


def print_failure_groups(groups: list[dict[str, Any]], failed: int | None = None) -> None:
    """Failure groups, largest first: count, reason, when, and the first products (all plain text)."""
    failed = sum(g["count"] for g in groups) if failed is None else failed
    cli.say(f"failures      {failed:,} failed in {len(groups):,} reason group{'s' if len(groups) != 1 else ''}")
    for group in groups:
        examples = ", ".join(f"#{e['seq']} {e['product_id']}" for e in group["examples"])
        cli.say(f"  {group['count']:>7,}  {group['reason']}",
                f"           first {_when(group['first_seen'])}, last {_when(group['last_seen'])}; e.g. {examples}")


def print_status(status: dict[str, Any], groups: list[dict[str, Any]] | None = None) -> None:
    """A batch's status as both CLIs print it: state, result in words and why, counts, progress, failures."""
    cli.say(f"batch_run_id  {status['batch_run_id']}")
    cli.say(f"state         {status['state']}" + (f" (halted: {status['halted']})" if status.get("halted") else ""))
    finished = status.get("result") is not None
    cli.say(f"result        {status['result_text'] if finished else 'not finished: ' + status['result_text']}")
    if status.get("reason"):
        cli.say(f"reason        {status['reason']}")
    cli.say("counts        " + ", ".join(f"{k} {v}" for k, v in status["counts"].items()))
    cli.say(f"progress      {progress_line(status)}")
    for item in status["running"][:5]:
        cli.say(f"running       #{item['seq']} {item.get('product_id') or ''} [{item.get('phase') or 'starting'}]")
    if groups:
        print_failure_groups(groups, status["outcomes"]["failed"])
    newest = {}  # recent failed attempts, newest first: an item retried and failed again is shown once
    for failure in status["recent_failures"]:
        newest.setdefault(failure["seq"], failure)
    for failure in list(newest.values())[:5]:
        cli.say(f"failure       #{failure['seq']} {failure.get('product_id') or ''}: {failure['error']}")


def summary(status: dict[str, Any]) -> dict[str, Any]:
    started, finished = status["started_at"], status["finished_at"]
    elapsed = (finished - started).total_seconds() if started and finished else None
    finished_items = status["counts"]["completed"] + status["counts"]["failed"]
    return {
        "batch_run_id": status["batch_run_id"], "state": status["state"], "counts": status["counts"],
        "total": status["total"], "started_at": started, "finished_at": finished,
        "products_per_hour": finished_items / elapsed * 3600 if elapsed else status["throughput"]["overall_per_hour"],
        "result": status["result"], "outcomes": status["outcomes"], "result_text": status["result_text"],
        "reason": status["reason"],
    }


class _Interrupts:
    """First Ctrl-C: graceful stop. Second: force stop."""

    def __init__(self, engine: BatchEngine, batch_run_id: str) -> None:
        self.engine, self.batch_run_id, self.count = engine, batch_run_id, 0

    def __call__(self, signum: int, frame: Any) -> None:
        # Nothing but counting here: printing or waiting for a commit inside a signal frame can
        # re-enter the stderr buffer or a lock the interrupted code holds.
        self.count += 1
        threading.Thread(target=self._stop, args=(self.count > 1,), daemon=True).start()

    def _stop(self, force: bool) -> None:
        print(f"\nindexlab: {'force stop' if force else 'stopping gracefully (Ctrl-C again to force)'}",
              file=sys.stderr, flush=True)
        try:
            self.engine.stop(self.batch_run_id, force=force, actor="cli", reason="Ctrl-C")
        except IndexLabError as exc:
            cli.say(f"indexlab: {exc}", file=sys.stderr)


def follow(engine: BatchEngine, batch_run_id: str) -> dict[str, Any]:
    """Show progress until the dispatcher is idle; return the final status."""
    tty = sys.stderr.isatty()
    last_line = 0.0
    while not engine.wait_idle(timeout=FOLLOW_TICK_S):
        now = time.monotonic()
        if tty or now - last_line >= 5.0:
            line = cli.plain(progress_line(engine.status(batch_run_id)))
            print(f"\r{line[:160]:<160}" if tty else line, end="" if tty else "\n", file=sys.stderr, flush=True)
            last_line = now
    final = engine.status(batch_run_id)
    print(("\r" if tty else "") + cli.plain(progress_line(final)), file=sys.stderr, flush=True)
    return final


def cmd_run(args: argparse.Namespace) -> int:
    catalog = cli._open_catalog(args)
    with cli._open_store(args) as store:
        engine = BatchEngine(store, catalog_ids=catalog.products["product_id"], auto_resume=True).open()
        try:
            service = BatchService(store, catalog, engine)
            if args.batch:
                batch_run_id = service.batch(args.batch)["batch_run_id"]  # NotFound for an unknown one
            elif args.resume:
                batch_run_id = engine.active_batch_id()
                latest = store.latest_batch([s.value for s in _RESUMABLE])
                if batch_run_id is None and latest is None:
                    raise IndexLabError(f"nothing to resume in {store.path}: no running, paused or stopped batch")
                batch_run_id = batch_run_id or latest["batch_run_id"]
            else:
                batch_run_id = service.plan(cli.plan_request_from_args(args), actor="cli").batch_run_id
            previous = signal.signal(signal.SIGINT, _Interrupts(engine, batch_run_id))  # before any job starts
            try:
                # recover() may already be running it, or have finished it meanwhile
                if engine.status(batch_run_id)["state"] in (BatchState.PLANNED, BatchState.PAUSED, BatchState.STOPPED):
                    service.start(batch_run_id, actor="cli")
                cli.say(f"indexlab: batch {batch_run_id} running (db {store.path})", file=sys.stderr)
                final = follow(engine, batch_run_id)
            finally:
                signal.signal(signal.SIGINT, previous)
        finally:
            engine.close()
    cli.emit_json(summary(final))
    cli.say(f"indexlab: {final['result_text'] if final['result'] else final['state']}"
            + (f" ({final['reason']})" if final.get("reason") else ""), file=sys.stderr)
    return exit_code(final)


def _batch_id(store: Any, batch_run_id: str | None) -> str:
    if batch_run_id is not None:
        return batch_run_id
    latest = store.latest_batch()
    if latest is None:
        raise IndexLabError(f"no batches in {store.path}")
    return latest["batch_run_id"]


STATUS_GROUPS = 5  # failure groups the status text shows


def cmd_status(args: argparse.Namespace) -> int:
    with cli._open_store(args, writes=False) as store:
        service = BatchService(store, catalog=None)
        batch_run_id = _batch_id(store, args.batch_run_id)
        status = service.status(batch_run_id)
        groups = [] if args.json else service.failure_groups(batch_run_id, limit=STATUS_GROUPS)
    if args.json:
        cli.emit_json(status)
    else:
        print_status(status, groups)
    return exit_code(status)


def cmd_failures(args: argparse.Namespace) -> int:
    with cli._open_store(args, writes=False) as store:
        service = BatchService(store, catalog=None)
        batch_run_id = _batch_id(store, args.batch_run_id)
        groups = service.failure_groups(batch_run_id, limit=args.limit)
        failed = service.batch_with_counts(batch_run_id)["counts"].get("failed", 0)
    if args.json:
        cli.emit_json({"batch_run_id": batch_run_id, "group_by": "reason", "failed": failed, "groups": groups})
    else:
        print_failure_groups(groups, failed)
    return cli.EXIT_OK


def rerun_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a re-run changes from its batch's: only those given on the command line, each valid."""
    changes = {k: v for k, v in {"profile": args.profile, "workers": args.workers,
                                 "max_attempts": args.max_attempts}.items() if v is not None}
    try:
        BatchSettings(**changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise IndexLabError(f"invalid {field}: {first['msg']}", field=field) from None
    return changes


def group_limit(text: str) -> int:
    """``--limit`` of failure groups: 1 to 1000."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be a number of groups from 1 to 1000")
    return value


def cmd_rerun(args: argparse.Namespace) -> int:
    catalog = cli._open_catalog(args)
    with cli._open_store(args) as store:
        saved = BatchService(store, catalog).rerun(args.batch_run_id, which=args.which, reason=args.reason,
                                                   settings=rerun_changes(args), actor="cli")
    if args.json:
        cli.emit_json({"batch_run_id": saved.batch_run_id, "state": saved.state.value,
                       "created_at": saved.created_at, **saved.summary.model_dump(mode="json")})
    else:
        cli.print_plan(saved.batch_run_id, saved.summary)
        cli.say(f"state         {saved.state.value}; run it with: indexlab run --batch {saved.batch_run_id}")
    return cli.EXIT_OK


def add_rerun_options(p: argparse.ArgumentParser) -> None:
    """``rerun BATCH_ID --which ...``: shared by ``indexlab rerun`` and ``indexlab batch rerun``."""
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--which", choices=["needs_review", "failed"], required=True,
                   help="needs_review: completed products below the quality gate; failed: failed items")
    p.add_argument("--reason", metavar="GROUP", help="with --which failed: only this reason group (see `failures`)")
    p.add_argument("--profile", choices=[pr.value for pr in Profile], help="run them with this profile instead")
    p.add_argument("--workers", type=int, metavar="N", help="products run at once (default: the batch's)")
    p.add_argument("--max-attempts", type=int, metavar="N", help="attempts per product (default: the batch's)")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="plan, start and follow a batch in this process (or --resume the latest)",
                       description="Plan, start and follow a batch in this process. Exit code: 0 succeeded, 4 failed, "
                                   "5 partial, 6 not finished (paused by fail-fast), 1 the request failed.")
    cli._add_db(p)
    cli._add_catalog(p)
    cli.add_plan_options(p)
    p.add_argument("--resume", action="store_true", help="continue the latest running, paused or stopped batch")
    p.add_argument("--batch", metavar="BATCH_ID", help="start (or continue) this planned, paused or stopped batch "
                   "instead of planning one, e.g. a re-run's")
    p.add_argument("--corpus", metavar="PATH", help="harvest from this corpus: a directory holding sources.jsonl "
                                                    "and docs/, or the sources.jsonl (default: the embedded corpus)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("status", help="a batch's result, counts, progress and failures (default: the latest)",
                       description="A batch's result, counts, progress and failures. Exit code: 0 succeeded, "
                                   "4 failed, 5 partial, 6 not finished, 1 the request failed.")
    p.add_argument("batch_run_id", nargs="?")
    cli._add_db(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_status)

    p = sub.add_parser("failures", help="a batch's failed items grouped by reason (default: the latest batch)")
    p.add_argument("batch_run_id", nargs="?")
    cli._add_db(p)
    p.add_argument("--limit", type=group_limit, default=100, metavar="N",
                   help="at most N groups, largest first (default 100)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_failures)

    p = sub.add_parser("rerun", help="plan a new batch of a batch's needs-review or failed products")
    add_rerun_options(p)
    cli._add_db(p)
    cli._add_catalog(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_rerun)


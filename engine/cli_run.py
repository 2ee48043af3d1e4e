"""Headless batch commands: ``indexlab run`` (plan + start + follow, or ``--resume``) and ``indexlab status``.

``run`` owns the database while it runs. Ctrl-C once stops gracefully (in-flight items finish),
twice force-stops. Progress goes to stderr; the final summary is one JSON document on stdout.
Exit codes: 0 the batch completed with no failed item, 4 it ended otherwise (failed items,
stopped, or paused by fail-fast), 1 the request failed.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from engine import cli
from engine.batch import BatchEngine
from engine.errors import IndexLabError
from engine.service import BatchService
from engine.states import ACTIVE_BATCH_STATES, BatchState

EXIT_UNFINISHED = 4
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


def summary(status: dict[str, Any]) -> dict[str, Any]:
    started, finished = status["started_at"], status["finished_at"]
    elapsed = (finished - started).total_seconds() if started and finished else None
    finished_items = status["counts"]["completed"] + status["counts"]["failed"]
    return {
        "batch_run_id": status["batch_run_id"], "state": status["state"], "counts": status["counts"],
        "total": status["total"], "started_at": started, "finished_at": finished,
        "products_per_hour": finished_items / elapsed * 3600 if elapsed else status["throughput"]["overall_per_hour"],
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
        engine = BatchEngine(store, catalog_ids=catalog.products["product_id"], auto_resume=True)
        try:
            service = BatchService(store, catalog, engine)
            if args.resume:
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
    ok = final["state"] == BatchState.COMPLETED and final["counts"]["failed"] == 0
    return cli.EXIT_OK if ok else EXIT_UNFINISHED


def cmd_status(args: argparse.Namespace) -> int:
    with cli._open_store(args, writes=False) as store:
        batch_run_id = args.batch_run_id
        if batch_run_id is None:
            latest = store.latest_batch()
            if latest is None:
                raise IndexLabError(f"no batches in {store.path}")
            batch_run_id = latest["batch_run_id"]
        status = BatchService(store, catalog=None).status(batch_run_id)
    if args.json:
        cli.emit_json(status)
    else:
        cli.say(f"batch_run_id  {status['batch_run_id']}")
        cli.say(f"state         {status['state']}")
        cli.say("counts        " + ", ".join(f"{k} {v}" for k, v in status["counts"].items()))
        cli.say(f"progress      {status['done']}/{status['total']} ({status['progress']:.0%})")
        for failure in status["recent_failures"][:5]:
            cli.say(f"failure       #{failure['seq']} {failure.get('product_id', '')}: {failure['error']}")
    return cli.EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="plan, start and follow a batch in this process (or --resume the latest)")
    cli._add_db(p)
    cli._add_catalog(p)
    cli.add_plan_options(p)
    p.add_argument("--resume", action="store_true", help="continue the latest running, paused or stopped batch")
    p.add_argument("--corpus", metavar="PATH", help="harvest from this corpus: a directory holding sources.jsonl "
                                                    "and docs/, or the sources.jsonl (default: the embedded corpus)")
    p.set_defaults(handler=cmd_run)

    p = sub.add_parser("status", help="a batch's counts, progress and recent failures (default: the latest)")
    p.add_argument("batch_run_id", nargs="?")
    cli._add_db(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_status)


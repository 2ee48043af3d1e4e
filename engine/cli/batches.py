"""``indexlab batches | rename | tag | archive | unarchive | delete``: list batches with filters and curate them,
on the local database (``indexlab batch list|rename|tag|archive|unarchive|delete --url`` do the same over the API).

Delete asks for confirmation on a terminal; elsewhere it needs ``--yes``. Archive is undone by ``unarchive``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from engine.cli.common import EXIT_FAILED, EXIT_OK, SubCommands, add_command, add_db, non_negative, open_service
from engine.cli.output import emit_json, plain, say
from engine.core.errors import IndexLabError
from engine.core.states import BatchState
from engine.core.triage import BatchResult

COLUMNS = ["batch_run_id", "name", "state", "result", "items", "tags", "created (UTC)", "running", "items/min"]


# --------------------------------------------------------------------------- shared with `indexlab batch`
def when(text: str) -> date | datetime:
    """``--since``/``--until``: a date (2026-12-01) or a time (2026-12-01T09:30, UTC unless it says otherwise)."""
    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)") from None


def add_batch_filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state", choices=[s.value for s in BatchState], help="only batches in this state")
    p.add_argument("--result", choices=[r.value for r in BatchResult], help="only finished batches with this result")
    p.add_argument("--name", metavar="TEXT", help="only batches whose name holds TEXT (any case), or with this id")
    p.add_argument("--tag", metavar="TAG", help="only batches with this tag")
    p.add_argument("--since", type=when, metavar="DATE", help="created at or after (a date: from its start, UTC)")
    p.add_argument("--until", type=when, metavar="DATE", help="created before (a date: to the end of that day, UTC)")
    p.add_argument("--archived", action="store_true", help="include archived batches")


def filters_of(args: argparse.Namespace) -> dict[str, Any]:
    return {"state": args.state, "result": args.result, "name": args.name, "tag": args.tag, "since": args.since,
            "until": args.until, "archived": args.archived}


def _duration(seconds: float | None) -> str:
    if not seconds:
        return ""
    s = int(round(seconds))
    return f"{s // 3600}h {s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m {s % 60:02d}s" if s >= 60 else f"{s}s"


def _created(value: Any) -> str:
    text = value.isoformat() if isinstance(value, datetime) else str(value or "")
    return text[:16].replace("T", " ")


def print_batches(batches: Sequence[dict[str, Any]], total: int | None, offset: int) -> None:
    """The batch list as a table of plain text, then which rows of how many it shows."""
    rows = [[b["batch_run_id"], b.get("name") or "", b["state"], b.get("result") or "", f"{b['item_count']:,}",
             ",".join(b.get("tags") or []), _created(b.get("created_at")), _duration(b.get("running_s")),
             "" if b.get("items_per_minute") is None else f"{b['items_per_minute']:,.1f}"] for b in batches]
    cells = [[plain(v)[:60] for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(COLUMNS)]
    for line in [COLUMNS, *cells]:
        say("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())
    first = offset + 1 if batches else offset
    say(f"batches {first}-{offset + len(batches)}" + (f" of {total}" if total is not None else ""))


def confirmed(batch_run_id: str, yes: bool) -> bool:
    """``--yes``, or the operator typed the batch id at a terminal's prompt. Without either: refused, with why."""
    if yes:
        return True
    if not sys.stdin.isatty():
        say(f"indexlab: error: deleting batch {batch_run_id} cannot be undone: add --yes to confirm it",
            file=sys.stderr)
        return False
    answer = input(f"Delete batch {batch_run_id} with its items, outcomes and events? Type its id to confirm: ")
    if answer.strip() != batch_run_id:
        say("indexlab: not deleted (the id typed did not match)", file=sys.stderr)
        return False
    return True


def print_deleted(record: dict[str, Any]) -> None:
    say(f"deleted {record['state']} batch {record['batch_run_id']} ({record.get('name') or 'no name'}, "
        f"{record['item_count']:,} items); a batch_deleted audit record keeps its id, name and who deleted it")


def print_changed(batch: dict[str, Any], what: str) -> None:
    say(f"{what} batch {batch['batch_run_id']}: name {batch.get('name') or '(none)'}; "
        f"tags {', '.join(batch.get('tags') or []) or '(none)'}"
        + ("; archived" if batch.get("archived_at") else ""))


def _emit(args: argparse.Namespace, document: Any) -> bool:
    if getattr(args, "json", False):
        emit_json(document)
        return True
    return False


# --------------------------------------------------------------------------- local commands
def cmd_batches(args: argparse.Namespace) -> int:
    with open_service(args, writes=False) as service:
        batches, total = service.batch_list(limit=args.limit, offset=args.offset, **filters_of(args))
    if not _emit(args, {"total": total, "offset": args.offset, "limit": args.limit, "batches": batches}):
        print_batches(batches, total, args.offset)
    return EXIT_OK


def cmd_rename(args: argparse.Namespace) -> int:
    with open_service(args) as service:
        batch = service.rename(args.batch_run_id, args.new_name, actor="cli")
    if not _emit(args, batch):
        print_changed(batch, "renamed")
    return EXIT_OK


def cmd_tag(args: argparse.Namespace) -> int:
    if args.set is None and not (args.add or args.remove):
        raise IndexLabError("say which tags: --add TAG, --remove TAG or --set TAG ...", field="--add")
    with open_service(args) as service:
        batch = service.set_tags(args.batch_run_id, args.set, add=args.add, remove=args.remove, actor="cli")
    if not _emit(args, batch):
        print_changed(batch, "tagged")
    return EXIT_OK


def cmd_archive(args: argparse.Namespace) -> int:
    with open_service(args) as service:
        batch = getattr(service, args.action)(args.batch_run_id, actor="cli")
    if not _emit(args, batch):
        print_changed(batch, f"{args.action}d")
    return EXIT_OK


def cmd_delete(args: argparse.Namespace) -> int:
    if not confirmed(args.batch_run_id, args.yes):
        return EXIT_FAILED
    with open_service(args) as service:
        record = service.delete(args.batch_run_id, actor="cli")
    if not _emit(args, record):
        print_deleted(record)
    return EXIT_OK


def add_tag_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--add", action="append", default=[], metavar="TAG", help="add this tag (repeatable)")
    p.add_argument("--remove", action="append", default=[], metavar="TAG", help="remove this tag (repeatable)")
    p.add_argument("--set", nargs="*", metavar="TAG", help="replace every tag with these (none: no tags)")


def add_commands(sub: SubCommands) -> None:
    p = add_command(sub, "batches", cmd_batches, json=True, help="batches in the database, newest first, filtered")
    add_db(p)
    add_batch_filters(p)
    p.add_argument("--offset", type=non_negative, default=0)
    p.add_argument("--limit", type=non_negative, default=50, help="page size (default 50)")
    p = add_command(sub, "rename", cmd_rename, json=True, help="give a batch another name (audited)")
    add_db(p)
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("new_name", metavar="NAME", help="at most 120 characters of plain text")
    p = add_command(sub, "tag", cmd_tag, json=True, help="add, remove or set a batch's tags (audited)")
    add_db(p)
    add_tag_options(p)
    for action, text in (("archive", "hide a planned or finished batch from History and lists"),
                         ("unarchive", "show an archived batch again")):
        p = add_command(sub, action, cmd_archive, json=True, help=text, description=text)
        add_db(p)
        p.add_argument("batch_run_id", metavar="BATCH_ID")
        p.add_argument("--yes", action="store_true", help=argparse.SUPPRESS)  # nothing to confirm: it can be undone
        p.set_defaults(action=action)
    p = add_command(sub, "delete", cmd_delete, json=True, help="delete a planned or finished batch with its items, "
                    "outcomes and events (asks, or --yes)")
    add_db(p)
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--yes", action="store_true", help="do not ask: delete it")

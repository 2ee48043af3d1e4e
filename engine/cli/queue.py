"""Many batches at once from the terminal: ``indexlab priority | workers | queue`` over a database no server holds
(a running server holds its database: use ``indexlab batch priority|workers|queue ... --url`` then)."""

from __future__ import annotations

import argparse
from typing import Any

from engine.cli.common import EXIT_OK, SubCommands, add_command, add_db, open_service
from engine.cli.output import emit_json, plain, say
from engine.core.errors import InvalidValue


def print_queue(queue: dict[str, Any]) -> None:
    """The batch queue as both CLIs print it (``queue`` is the JSON shape of ``BatchQueue``)."""
    if queue.get("max_workers") is not None:
        say(f"budget    {queue['max_workers']} workers, {queue['max_running_batches']} batches at once")
    say(f"running   {len(queue['running'])}" + (f": {', '.join(queue['running'])}" if queue["running"] else ""))
    if not queue["queued"]:
        say("queued    none")
        return
    say(f"queued    {len(queue['queued'])}, admitted in this order:")
    for entry in queue["queued"]:
        say(f"  {entry['position']:>3}. {plain(entry['batch_run_id'])}  priority {entry['priority']}, "
            f"workers {entry['workers']}, {entry['item_count']} items")


def print_change(status: dict[str, Any]) -> None:
    place = f", queue position {status['queue_position']}" if status.get("queue_position") else ""
    say(f"batch {plain(status['batch_run_id'])}: {status['state']}, priority {status['priority']}, "
        f"workers {status['workers']}{place}")


def cmd_priority(args: argparse.Namespace) -> int:
    with open_service(args) as service:
        status = service.set_priority(args.batch_run_id, args.priority, actor="cli")
    emit_json(status) if args.json else print_change(status)
    return EXIT_OK


def cmd_workers(args: argparse.Namespace) -> int:
    with open_service(args) as service:
        status = service.set_workers(args.batch_run_id, args.workers, actor="cli")
    emit_json(status) if args.json else print_change(status)
    return EXIT_OK


def cmd_queue(args: argparse.Namespace) -> int:
    with open_service(args, writes=args.move is not None) as service:
        if args.move is not None:
            service.move_in_queue(args.move[0], _position(args.move[1]), actor="cli")
        queue = service.queue().model_dump(mode="json")
    emit_json(queue) if args.json else print_queue(queue)
    return EXIT_OK


def _position(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidValue(f"--move: a queue position is a whole number (1: admitted next), not {text!r}",
                           field="position") from None


def add_commands(sub: SubCommands) -> None:
    p = add_command(sub, "priority", cmd_priority, json=True,
                    help="change a batch's priority (1..10, its weight in the server's fair share of workers)")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("priority", type=int, metavar="PRIORITY", help="1..10, higher runs more (default of a batch: 5)")
    add_db(p)
    p = add_command(sub, "workers", cmd_workers, json=True, help="change a batch's own cap on products run at once")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("workers", type=int, metavar="N", help="1..64 (the server's max_workers bounds all batches together)")
    add_db(p)
    p = add_command(sub, "queue", cmd_queue, json=True, help="the batch queue in admission order (and --move a batch in it)")
    p.add_argument("--move", nargs=2, metavar=("BATCH_ID", "POSITION"), help="move a queued batch to POSITION (1: next)")
    add_db(p)

"""``indexlab batch ...``: drive a running ``indexlab serve`` over its REST API.

    indexlab batch plan --all --runner noop        indexlab batch status BATCH_ID
    indexlab batch start BATCH_ID                  indexlab batch items BATCH_ID --state failed
    indexlab batch stop BATCH_ID --force           indexlab batch list --json
    indexlab batch failures BATCH_ID               indexlab batch retry BATCH_ID --reason GROUP
    indexlab batch rerun BATCH_ID --which needs_review --profile thorough
    indexlab batch list --tag q4 --result failed   indexlab batch delete BATCH_ID --yes

The server is ``--url``, else ``$INDEXLAB_URL``, else http://127.0.0.1:5006; ``$INDEXLAB_API_TOKEN``,
when set, is sent as a bearer token. Output follows the headless CLI: readable text on stdout, or
with ``--json`` exactly the API's JSON document. An API error prints its message and HTTP status on
stderr and exits 1, as does a server that cannot be reached. ``status`` exits as ``indexlab status``
does: 0 succeeded, 4 failed, 5 partial, 6 not finished.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import IO, Any

from dashboard.api.base import PREFIX
from dashboard.api.operations import B, url
from engine import cli
from engine.cli import (
    STATUS_GROUPS,
    add_rerun_options,
    exit_code,
    group_limit,
    print_failure_groups,
    print_status,
    rerun_changes,
)
from engine.cli.batches import (
    add_batch_filters,
    add_tag_options,
    confirmed,
    filters_of,
    print_batches,
    print_changed,
    print_deleted,
)
from engine.cli.queue import print_change, print_queue
from engine.core.errors import IndexLabError, NotFound
from engine.core.plan import PlanSummary
from engine.core.states import ItemState

DEFAULT_URL = cli.DEFAULT_URL
TIMEOUT_S = 30.0


# --------------------------------------------------------------------------- HTTP
def server_url(args: argparse.Namespace) -> str:
    return (args.url or cli.config_of(args).url or DEFAULT_URL).rstrip("/")


def _request(args: argparse.Namespace, method: str, path: str, *, body: dict[str, Any] | None = None,
             params: dict[str, Any] | None = None, out: IO[bytes] | None = None) -> Any:
    """One API call: the answer on success (its body streamed into ``out`` when given); any failure becomes one
    clear ``IndexLabError`` (``NotFound`` for a 404)."""
    import httpx  # only this command needs it

    base = server_url(args)
    headers = {"Accept": "application/json"} if out is None else {}
    if token := cli.config_of(args).api_token:
        headers["Authorization"] = f"Bearer {token}"
    query = {k: v for k, v in (params or {}).items() if v is not None}
    try:
        with httpx.stream(method, base + path, json=body, params=query, headers=headers,
                          timeout=args.timeout) as response:
            if out is not None and response.is_success:
                for chunk in response.iter_bytes():
                    out.write(chunk)
                return response
            response.read()
    except httpx.TimeoutException:
        raise IndexLabError(f"the IndexLab server at {base} did not answer within {args.timeout:g} s") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise IndexLabError(f"invalid server URL {base!r}: {exc}", field="--url") from None
    except httpx.HTTPError as exc:
        raise IndexLabError(f"cannot reach the IndexLab server at {base} ({exc}); is `indexlab serve` running "
                            "there? (set --url or INDEXLAB_URL)") from None
    try:
        document = response.json()
    except ValueError:
        document = None
    if response.is_success and isinstance(document, dict):
        return document
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict) and error.get("message"):
        kind = NotFound if response.status_code == 404 else IndexLabError
        raise kind(f"{error['message']} (HTTP {response.status_code})", field=error.get("field"))
    text = " ".join(response.text.split())[:200] or "empty body"
    raise IndexLabError(f"unexpected answer from {base}{path}: HTTP {response.status_code}, not an IndexLab "
                        f"API document ({text})")


def call(args: argparse.Namespace, method: str, path: str, *, body: dict[str, Any] | None = None,
         params: dict[str, Any] | None = None) -> dict[str, Any]:
    """One API call: the JSON document on success; any failure becomes one clear ``IndexLabError``."""
    document = _request(args, method, path, body=body, params=params)
    if not isinstance(document, dict):
        raise IndexLabError(f"unexpected answer from {server_url(args)}{path}: not a JSON document")
    return document


class HttpRemote:
    """The batch commands' ``--url`` (``engine.cli.Remote``): the same operations over this server's REST API."""

    def lifecycle(self, args: argparse.Namespace, action: str, body: dict[str, Any]) -> dict[str, Any]:
        return call(args, "POST", url("post", f"{B}/{action}"), body=body)

    def status(self, args: argparse.Namespace, batch_run_id: str) -> dict[str, Any]:
        return call(args, "GET", url("get", f"{B}/{{batch_run_id}}/status", batch_run_id=batch_run_id))

    def export(self, args: argparse.Namespace, batch_run_id: str, fmt: str) -> bytes:
        out = io.BytesIO()
        _request(args, "GET", url("get", f"{B}/{{batch_run_id}}/items.{fmt}", batch_run_id=batch_run_id), out=out)
        return out.getvalue()

    def snapshot(self, args: argparse.Namespace, out: IO[bytes]) -> str:
        response = _request(args, "POST", url("post", f"{PREFIX}/snapshot"), out=out)
        return response.headers.get("X-IndexLab-Snapshot", "a snapshot")


REMOTE = HttpRemote()


def _emit(args: argparse.Namespace, document: dict[str, Any]) -> bool:
    """``--json``: print the API's document as it came; True when done."""
    if args.json:
        cli.emit_json(document)
    return args.json


# --------------------------------------------------------------------------- text output
def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    cells = [[cli.plain("" if row.get(c) is None else row.get(c))[:80] for c in columns] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    for line in [columns, *cells]:
        cli.say("  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip())


def _paged(doc: dict[str, Any], key: str, noun: str) -> None:
    shown, total = len(doc[key]), doc.get("total")
    first = doc["offset"] + 1 if shown else doc["offset"]
    cli.say(f"{noun} {first}-{doc['offset'] + shown}" + (f" of {total}" if total is not None else ""))


# --------------------------------------------------------------------------- commands
def cmd_plan(args: argparse.Namespace) -> int:
    body = cli.plan_request_from_args(args).model_dump(mode="json", exclude_unset=True)
    if args.dry_run:  # the server's Plan Preview of it: nothing is saved
        doc = call(args, "POST", url("post", f"{B}/preview"), body=body)
        if not _emit(args, doc):
            cli.print_plan(None, PlanSummary.model_validate({k: doc[k] for k in PlanSummary.model_fields}))
        return cli.EXIT_OK
    doc = call(args, "POST", url("post", f"{B}/plan"), body=body)
    if not _emit(args, doc):
        cli.print_plan(doc["batch_run_id"], PlanSummary.model_validate({k: doc[k] for k in PlanSummary.model_fields}))
        cli.say(f"state         {doc['state']}; start it with: indexlab batch start {doc['batch_run_id']}")
    return cli.EXIT_OK


def cmd_lifecycle(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"batch_run_id": args.batch_run_id}
    if args.action == "stop":
        body["force"] = args.force
    elif args.action in ("retry", "skip") and args.seq:
        body["seqs"] = args.seq
    if args.action == "retry" and args.reason is not None:
        body["reason"] = args.reason
    doc = call(args, "POST", url("post", f"{B}/{args.action}"), body=body)
    if not _emit(args, doc):
        if "count" in doc:
            cli.say(f"{'re-queued' if args.action == 'retry' else 'skipped'} {doc['count']} items")
        print_status(doc.get("status", doc))
    return cli.EXIT_OK


def _failures(args: argparse.Namespace, limit: int) -> dict[str, Any]:
    return call(args, "GET", url("get", f"{B}/{{batch_run_id}}/failures", batch_run_id=args.batch_run_id),
                params={"group_by": "reason", "limit": limit})


def cmd_status(args: argparse.Namespace) -> int:
    if args.watch:  # the live view until the batch finishes or Ctrl-C (engine.cli.watch)
        return exit_code(cli.watch(lambda: REMOTE.status(args, args.batch_run_id), sys.stdout, interval=args.interval))
    doc = call(args, "GET", url("get", f"{B}/{{batch_run_id}}/status", batch_run_id=args.batch_run_id))
    if not _emit(args, doc):
        groups = _failures(args, STATUS_GROUPS)["groups"] if doc["outcomes"]["failed"] else []
        print_status(doc, groups)
    return exit_code(doc)


def cmd_failures(args: argparse.Namespace) -> int:
    doc = _failures(args, args.limit)
    if not _emit(args, doc):
        print_failure_groups(doc["groups"], doc["failed"])
    return cli.EXIT_OK


def cmd_rerun(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"which": args.which, "settings": rerun_changes(args)}
    if args.reason is not None:
        body["reason"] = args.reason
    doc = call(args, "POST", url("post", f"{B}/{{batch_run_id}}/rerun", batch_run_id=args.batch_run_id), body=body)
    if not _emit(args, doc):
        cli.print_plan(doc["batch_run_id"], PlanSummary.model_validate({k: doc[k] for k in PlanSummary.model_fields}))
        cli.say(f"state         {doc['state']}; start it with: indexlab batch start {doc['batch_run_id']}")
    return cli.EXIT_OK


def cmd_items(args: argparse.Namespace) -> int:
    params = {"state": args.state, "brand": args.brand, "search": args.search, "reason": args.reason,
              "gate": args.gate, "offset": args.offset, "limit": args.limit}
    doc = call(args, "GET", url("get", f"{B}/{{batch_run_id}}/items", batch_run_id=args.batch_run_id), params=params)
    if not _emit(args, doc):
        _table(doc["items"], ["seq", "state", "gate", "brand", "model", "variant", "product_id", "attempts",
                              "last_error"])
        _paged(doc, "items", "items")
    return cli.EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    doc = call(args, "GET", url("get", f"{B}/{{batch_run_id}}/events", batch_run_id=args.batch_run_id),
               params={"offset": args.offset, "limit": args.limit})
    if not _emit(args, doc):
        rows = [{**e, "move": f"{e['from_state'] or ''} -> {e['to_state'] or ''}" if e["to_state"] else ""}
                for e in doc["events"]]
        _table(rows, ["event_id", "occurred_at", "kind", "seq", "move", "actor", "reason"])
        _paged(doc, "events", "events")
    return cli.EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    filters = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filters_of(args).items()}
    filters["archived"] = "true" if args.archived else None
    doc = call(args, "GET", url("get", B), params={"offset": args.offset, "limit": args.limit, **filters})
    if not _emit(args, doc):
        print_batches(doc["batches"], doc.get("total"), doc["offset"])
    return cli.EXIT_OK


def cmd_curate(args: argparse.Namespace) -> int:
    """rename | tag | archive | unarchive | delete, over the API."""
    body: dict[str, Any] = {}
    if args.action == "name":
        body = {"name": args.new_name}
    elif args.action == "tags":
        if args.set is None and not (args.add or args.remove):
            raise IndexLabError("say which tags: --add TAG, --remove TAG or --set TAG ...", field="--add")
        body = {"tags": args.set} if args.set is not None else {"add": args.add, "remove": args.remove}
    elif args.action == "delete":
        if not confirmed(args.batch_run_id, args.yes):
            return cli.EXIT_FAILED
        body = {"confirm": args.batch_run_id}
    doc = call(args, "POST", url("post", f"{B}/{{batch_run_id}}/{args.action}", batch_run_id=args.batch_run_id),
               body=body)
    if not _emit(args, doc):
        if args.action == "delete":
            print_deleted(doc)
        else:
            print_changed(doc, {"name": "renamed", "tags": "tagged"}.get(args.action, f"{args.action}d"))
    return cli.EXIT_OK


# --------------------------------------------------------------------------- many batches: priority, workers, queue
def cmd_change(args: argparse.Namespace) -> int:
    """``indexlab batch priority|workers BATCH_ID N``."""
    doc = call(args, "POST", url("post", f"{B}/{args.change}"), body={"batch_run_id": args.batch_run_id,
                                                                      args.change: args.value})
    if not _emit(args, doc):
        print_change(doc)
    return cli.EXIT_OK


def cmd_queue(args: argparse.Namespace) -> int:
    if args.move is not None:
        try:
            position = int(args.move[1])
        except ValueError:
            raise IndexLabError(f"--move: a queue position is a whole number (1: admitted next), not {args.move[1]!r}",
                                field="position") from None
        call(args, "POST", url("post", f"{B}/queue/move"), body={"batch_run_id": args.move[0], "position": position})
    doc = call(args, "GET", url("get", f"{PREFIX}/queue"))
    if not _emit(args, doc):
        print_queue(doc)
    return cli.EXIT_OK


def add_queue_commands(actions: Any, common: argparse.ArgumentParser) -> None:
    for change, text, meaning in (("priority", "change a batch's priority", "1..10, higher runs more"),
                                  ("workers", "change a batch's own workers cap", "1..64")):
        p = actions.add_parser(change, parents=[common], help=text, description=text)
        p.add_argument("batch_run_id", metavar="BATCH_ID")
        p.add_argument("value", type=int, metavar=change.upper(), help=meaning)
        p.set_defaults(handler=cmd_change, change=change)
    p = actions.add_parser("queue", parents=[common], help="the batch queue in admission order (and --move a batch in it)")
    p.add_argument("--move", nargs=2, metavar=("BATCH_ID", "POSITION"), help="move a queued batch to POSITION (1: next)")
    p.set_defaults(handler=cmd_queue)


# --------------------------------------------------------------------------- parser
def add_commands(sub: cli.SubCommands) -> None:
    """Register ``indexlab batch <action>`` on the console script's subcommands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", help=f"the server (default: $INDEXLAB_URL or {DEFAULT_URL})")
    common.add_argument("--timeout", type=float, default=TIMEOUT_S, metavar="S", help="seconds per request (default 30)")
    common.add_argument("--json", action="store_true", help="print the API's JSON document on stdout")
    page = argparse.ArgumentParser(add_help=False)
    page.add_argument("--offset", type=cli.non_negative, default=None)
    page.add_argument("--limit", type=int, default=None, help="page size (the server caps it at 1000)")

    batch = sub.add_parser("batch", help="drive a running server over its REST API (plan, start, status, ...)",
                           description="Drive a running `indexlab serve` over its REST API.")
    actions = batch.add_subparsers(dest="batch_command", required=True, metavar="ACTION")
    p = actions.add_parser("plan", parents=[common], help="save a plan on the server and print it")
    cli.add_plan_options(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan as the server's Plan Preview shows it; "
                   "save nothing")
    p.set_defaults(handler=cmd_plan)
    helps = {"start": "start a planned batch", "pause": "pause: running items finish, nothing new starts",
             "resume": "resume a paused or stopped batch", "stop": "stop gracefully (or --force: cancel running items)",
             "retry": "re-queue failed items (all, --seq N ..., or --reason GROUP)",
             "skip": "skip queued items (--seq N ...)"}
    for action, text in helps.items():
        usage = {"retry": " [--seq N [N ...] | --reason GROUP]", "skip": " --seq N [N ...]",
                 "stop": " [--force]"}.get(action, "")
        p = actions.add_parser(action, parents=[common], help=text, description=text,
                               usage=f"indexlab batch {action} BATCH_ID{usage} [--url URL] [--timeout S] [--json]")
        p.add_argument("batch_run_id", metavar="BATCH_ID")
        cli.add_action_options(p, action, "indexlab batch failures")
        p.set_defaults(handler=cmd_lifecycle, action=action)
    p = actions.add_parser("status", parents=[common], help="result, live counts, progress, running items and failures",
                           description="A batch's result, counts, progress and failures. Exit code: 0 succeeded, "
                                       "4 failed, 5 partial, 6 not finished, 1 the request failed.")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--watch", action="store_true", help="a live view, redrawn in place (a line per change when stdout "
                   "is not a terminal), until the batch finishes or Ctrl-C")
    p.add_argument("--interval", type=float, default=1.0, metavar="S", help="with --watch: seconds between reads")
    p.set_defaults(handler=cmd_status)
    p = actions.add_parser("failures", parents=[common], help="failed items grouped by reason, largest group first")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--limit", type=group_limit, default=100, metavar="N", help="at most N groups (default 100)")
    p.set_defaults(handler=cmd_failures)
    p = actions.add_parser("rerun", parents=[common], help="plan a new batch of a batch's needs-review or failed products")
    add_rerun_options(p)
    p.set_defaults(handler=cmd_rerun)
    p = actions.add_parser("items", parents=[common, page], help="a batch's items in run order")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--state", choices=[s.value for s in ItemState], help="only items in this state")
    p.add_argument("--brand", help="only items of this brand")
    p.add_argument("--search", metavar="TEXT", help="only items whose product id, brand, model or variant holds TEXT")
    p.add_argument("--reason", metavar="GROUP", help="only failed items of this reason group")
    p.add_argument("--gate", choices=["passed", "needs_review"], help="only completed items that passed or need review")
    p.set_defaults(handler=cmd_items)
    p = actions.add_parser("events", parents=[common, page], help="a batch's audit events, oldest first")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.set_defaults(handler=cmd_events)
    p = actions.add_parser("list", parents=[common, page], help="batches on the server, newest first, filtered")
    add_batch_filters(p)
    p.set_defaults(handler=cmd_list)
    add_queue_commands(actions, common)
    p = actions.add_parser("rename", parents=[common], help="give a batch another name")
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("new_name", metavar="NAME")
    p.set_defaults(handler=cmd_curate, action="name")
    p = actions.add_parser("tag", parents=[common], help="add, remove or set a batch's tags")
    add_tag_options(p)
    p.set_defaults(handler=cmd_curate, action="tags")
    for action, text in (("archive", "hide a planned or finished batch from lists"),
                         ("unarchive", "show an archived batch again"),
                         ("delete", "delete a planned or finished batch (asks, or --yes)")):
        p = actions.add_parser(action, parents=[common], help=text, description=text)
        p.add_argument("batch_run_id", metavar="BATCH_ID")
        p.add_argument("--yes", action="store_true", help="do not ask" if action == "delete" else argparse.SUPPRESS)
        p.set_defaults(handler=cmd_curate, action=action)

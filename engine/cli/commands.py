"""Headless commands over the catalog, the runners and saved batches: ``indexlab catalog | plan | runners | items |
outcome``."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from engine.cli.common import (
    EXIT_CATALOG_PROBLEMS,
    EXIT_FAILED,
    EXIT_OK,
    SubCommands,
    add_catalog,
    add_command,
    add_db,
    add_plan_options,
    non_negative,
    open_catalog,
    open_service,
    plan_request_from_args,
)
from engine.cli.output import emit_json, plain, print_plan, say
from engine.core.catalog import default_catalog_path, load_catalog
from engine.core.states import ItemState
from engine.service import runners


# --------------------------------------------------------------------------- catalog
def cmd_catalog(args: argparse.Namespace) -> int:
    catalog = load_catalog(args.path or default_catalog_path(), strict=False)
    summary = catalog.summary()
    if args.json:
        emit_json({**summary, "problem_list": [p.__dict__ for p in catalog.problems]})
    else:
        say(f"catalog   {summary['source']}")
        say(f"products  {summary['products']}")
        say(f"brands    {summary['brands']}")
        cats = ", ".join(f"{k} {v}" for k, v in summary["category_counts"].items())
        say(f"categories {len(summary['category_counts'])}: {cats}")
        say(f"problems  {len(catalog.problems)}")
        for problem in catalog.problems:
            say(f"  {problem}")
    return EXIT_CATALOG_PROBLEMS if catalog.problems else EXIT_OK


# --------------------------------------------------------------------------- plan
def cmd_plan(args: argparse.Namespace) -> int:
    request = plan_request_from_args(args)
    catalog = open_catalog(args)
    if args.dry_run:  # Plan Preview's view of it: nothing is saved
        summary = _preview(args, catalog, request)
        if args.json:
            emit_json({"batch_run_id": None, **summary.model_dump(mode="json")})
        else:
            print_plan(None, summary)
        return EXIT_OK
    with open_service(args, catalog) as service:
        saved = service.plan(request, actor="cli")
    if args.json:
        emit_json({"batch_run_id": saved.batch_run_id, "state": saved.state.value,
                   "created_at": saved.created_at, **saved.summary.model_dump(mode="json")})
    else:
        print_plan(saved.batch_run_id, saved.summary)
    return EXIT_OK


def _preview(args: argparse.Namespace, catalog: Any, request: Any) -> Any:
    """The plan's summary, its estimate from the history in ``--db``; with no database there yet, from none (a dry
    run creates no file)."""
    db = args.db or args.config.db
    if db and Path(db).exists():
        with open_service(args, catalog, writes=False) as service:
            return service.preview(request).summary
    with tempfile.TemporaryDirectory(prefix="indexlab-preview-") as scratch:
        args = argparse.Namespace(**{**vars(args), "db": str(Path(scratch) / "preview.duckdb")})
        with open_service(args, catalog) as service:
            return service.preview(request).summary


# --------------------------------------------------------------------------- items
def cmd_items(args: argparse.Namespace) -> int:
    with open_service(args, writes=False) as service:
        page, total = service.items(
            args.batch_run_id, state=args.state, brand=args.brand, search=args.search, reason=args.reason,
            gate=args.gate, offset=args.offset, limit=args.limit)
    if args.json:
        emit_json({"batch_run_id": args.batch_run_id, "total": total, "offset": args.offset,
                   "items": page.drop(columns=["batch_run_id"]).to_dict("records")})
        return EXIT_OK
    if page.empty:
        say(f"no items ({total} match)")
        return EXIT_OK
    shown = page[["seq", "state", "gate", "brand", "model", "variant", "product_id", "attempts", "last_error"]].fillna("")
    say(*shown.map(plain).to_string(index=False).split("\n"))
    say(f"{len(page)} of {total} items")
    return EXIT_OK


# --------------------------------------------------------------------------- outcome
def cmd_outcome(args: argparse.Namespace) -> int:
    with open_service(args, writes=False) as service:
        outcome = service.outcome(args.product_id)
    if args.json:
        emit_json(outcome)
        return EXIT_OK
    summary = outcome["summary"]
    say(f"product       {outcome['product_id']}")
    say(f"from          batch {outcome['batch_run_id']} item {outcome['seq']} attempt {outcome['attempt']}, "
          f"{outcome['recorded_at']:%Y-%m-%d %H:%M:%S} UTC")
    say(f"quality       coverage {_pct(outcome['coverage'])}, confidence {_pct(outcome['confidence'])}, "
          f"conflicts {outcome['conflicts'] if outcome['conflicts'] is not None else '-'}")
    if summary.get("missing"):
        say(f"missing       {', '.join(summary['missing'])}")
    for f in outcome["fields"]:
        value = ", ".join(map(str, f["value"])) if isinstance(f["value"], list) else f["value"]
        unit = f" {f['unit']}" if f["unit"] else ""
        flag = "  CONFLICT" if f["conflict"] else ""
        say(f"  {f['field']:<22} {value}{unit}  [{f['tier'] or '-'}, {_pct(f['confidence'])}]{flag}")
        say(f"  {'':<22} {f['source_url'] or '-'}  snippet {f['snippet_id'] or '-'}")
        if f.get("snippet"):  # the source's words; say() writes any control character in them as its escape
            say(f"  {'':<22} “{f['snippet']}”")
    return EXIT_OK


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# --------------------------------------------------------------------------- parser
# --------------------------------------------------------------------------- runners
def cmd_runners(args: argparse.Namespace) -> int:
    """The runners this installation offers; exit 1 when ``--check`` finds one that cannot run."""
    listed = runners(check=args.check)
    if args.json:
        emit_json(listed)
    else:
        width = max(len(r.name) for r in listed.runners)
        for r in listed.runners:
            source = f"  {r.distribution} {r.version} ({r.entry_point})" if r.origin == "plugin" else ""
            say(f"{r.name:<{width}}  {r.origin:<8}{source}")
            if r.problem:
                say(f"{'':<{width}}  cannot run: {r.problem}")
    return EXIT_FAILED if any(r.problem for r in listed.runners) else EXIT_OK


def add_commands(sub: SubCommands) -> None:
    p = add_command(sub, "catalog", cmd_catalog, json=True, help="summarise a catalog and list every problem in it")
    p.add_argument("path", nargs="?", type=Path, help="catalog path (default: the embedded fixtures catalog)")

    p = add_command(sub, "plan", cmd_plan, json=True,
                    help="save a batch plan (a planned batch with its queued items) and print it")
    add_db(p)
    add_catalog(p)
    add_plan_options(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan as Plan Preview shows it; save nothing")
    p.add_argument("--executor", dest="batch_executor", choices=("local", "dask"), default=None,
                   help="where the batch's jobs run: local (the server's threads) or dask (the Dask cluster of the "
                        "server that starts it); default: that server's own default")

    p = add_command(sub, "runners", cmd_runners, json=True,
                    help="the runners settings.runner may name: built-ins and installed plugins (docs/runners.md)")
    p.add_argument("--check", action="store_true", help="import every plugin now and say which cannot run (exit 1)")

    p = add_command(sub, "items", cmd_items, json=True, help="a batch's items in run order")
    p.add_argument("batch_run_id")
    add_db(p)
    p.add_argument("--state", choices=[s.value for s in ItemState], help="only items in this state")
    p.add_argument("--brand", help="only items of this brand")
    p.add_argument("--search", metavar="TEXT", help="only items whose product id, brand, model or variant holds TEXT")
    p.add_argument("--reason", metavar="GROUP", help="only failed items of this reason group (see `indexlab failures`)")
    p.add_argument("--gate", choices=["passed", "needs_review"], help="only completed items that passed or need review")
    p.add_argument("--offset", type=non_negative, default=0)
    p.add_argument("--limit", type=non_negative, default=None)

    p = add_command(sub, "outcome", cmd_outcome, json=True,
                    help="a product's latest fields with their evidence: source URL, tier and the source's words")
    p.add_argument("product_id")
    add_db(p)

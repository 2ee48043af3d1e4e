"""Headless command line: ``indexlab catalog | plan | items``.

Conventions: human text on stdout, or with ``--json`` exactly one JSON document on stdout;
errors on stderr as one clear sentence, never a traceback. Exit codes: 0 done, 1 the
request failed (bad catalog, invalid plan, unknown batch, database in use), 2 bad
arguments, 3 (``catalog`` only) the catalog loaded but some entries were rejected;
``run`` and ``status`` also say the batch's result: 4 failed, 5 partial, 6 not finished
(see ``engine.cli.run``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import unicodedata
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from engine.core.catalog import Catalog, default_catalog_path, load_catalog
from engine.core.errors import IndexLabError, StoreError
from engine.core.plan import PlanRequest, PlanSummary, Selection
from engine.service import BatchService
from engine.core.settings import BatchSettings, Profile
from engine.core.states import ItemState
from engine.store import Store

DEFAULT_DB = Path("var/indexlab.duckdb")
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CATALOG_PROBLEMS = 0, 1, 2, 3


def default_db() -> Path:
    return Path(os.environ.get("INDEXLAB_DB") or DEFAULT_DB)


# --------------------------------------------------------------------------- output
def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot serialise {type(value).__name__}")


def emit_json(document: Any) -> None:
    """One JSON document on stdout; every non-ASCII character escaped, so no product text reaches the
    terminal raw (C1 controls, bidi overrides and unpaired surrogates included)."""
    text = json.dumps(document, default=_json_default, indent=2, ensure_ascii=True)
    sys.stdout.write(text.replace("\x7f", "\\u007f") + "\n")  # DEL: the one control json leaves as is


def plain(text: object) -> str:
    """``text`` made safe for a terminal: every character that is neither printable nor a space (ESC and the
    other C0/C1 controls, CR, line breaks, bidi overrides, unpaired surrogates) written as its escape, as
    repr() writes it. Product, catalog, outcome and job text can then never move the cursor, clear the
    screen, retitle the window or reorder what is shown."""
    text = str(text)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or unicodedata.category(c) == "Zs"
                   else c.encode("unicode_escape").decode("ascii") for c in text)


def say(*lines: object, file: TextIO | None = None) -> None:
    """Print each of ``lines`` on a line of its own, made ``plain``: the one way the CLIs print text."""
    print(*map(plain, lines), sep="\n", file=file or sys.stdout)


def _warn(message: str) -> None:
    say(f"indexlab: warning: {message}", file=sys.stderr)


# --------------------------------------------------------------------------- shared options
def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help="DuckDB file (default: $INDEXLAB_DB or var/indexlab.duckdb)")


def _add_catalog(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", type=Path, default=None, help="catalog path (default: the embedded fixtures catalog)")
    p.add_argument("--strict", action="store_true", help="refuse a catalog with any problem instead of skipping bad entries")


def _open_catalog(args: argparse.Namespace) -> Catalog:
    catalog = load_catalog(args.catalog or default_catalog_path(), strict=args.strict)
    if catalog.problems:
        _warn(f"catalog {catalog.source}: {len(catalog.problems)} entries rejected "
              f"(see: indexlab catalog {catalog.source})")
    return catalog


def _open_store(args: argparse.Namespace, *, writes: bool = True) -> Store:
    return open_store(args.db or default_db(), writes=writes)


def open_store(path: Path, *, writes: bool = True) -> Store:
    """The database at ``path``, or one clear error: a parent that cannot be made, a directory IndexLab
    cannot write to (DuckDB opens the file there, then fails at the first commit), a file DuckDB refuses."""
    path = Path(path)
    if writes and path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK):
        raise StoreError(f"cannot write to the database directory {path.parent}: permission denied (DuckDB writes"
                         f" {path.name}.wal there); fix its permissions or use another --db", field="--db")
    try:
        return Store(path)
    except OSError as exc:  # making the parent directories
        raise StoreError(f"cannot open database {path}: {exc.strerror or exc} ({exc.filename})", field="--db") from None


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
def _read_ids_file(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexLabError(f"cannot read ids file {path}: {exc}", field="--ids-file") from None
    ids = [line.strip() for line in text.splitlines()]
    return [i for i in ids if i and not i.startswith("#")]


def _split_csv(values: Sequence[str] | None) -> list[str]:
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def plan_request_from_args(args: argparse.Namespace) -> PlanRequest:
    ids = list(args.product_id or [])
    if args.ids_file:
        ids += _read_ids_file(args.ids_file)
    overrides = {k: v for k, v in {"profile": args.profile, "workers": args.workers}.items() if v is not None}
    overrides.update(_run_overrides(args))
    try:
        return PlanRequest(
            selection=Selection(all=args.all, product_ids=ids, brands=args.brand or [],
                                categories=args.category or [], search=args.search),
            brand_order=_split_csv(args.brand_order),
            pinned_brands=_split_csv(args.pin),
            settings=BatchSettings(**overrides),
            confirm_large=args.confirm_large,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise IndexLabError(f"invalid {field}: {first['msg']}", field=field) from None


def _run_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Settings for the product job: runner, command, limits."""
    overrides: dict[str, Any] = {}
    if getattr(args, "command_argv", None):
        try:
            overrides["command"] = shlex.split(args.command_argv)
        except ValueError as exc:
            raise IndexLabError(f"invalid --command: {exc}", field="--command") from None
        overrides["runner"] = args.runner or "command"
    elif getattr(args, "runner", None):
        overrides["runner"] = args.runner
    for name in ("max_run_seconds", "max_attempts"):
        if getattr(args, name, None) is not None:
            overrides[name] = getattr(args, name)
    if getattr(args, "corpus", None):
        overrides["corpus"] = corpus_index(args.corpus)
    return overrides


def corpus_index(path: str) -> str:
    """``--corpus``: a corpus directory (its sources.jsonl) or the index itself; refused when neither exists."""
    given = Path(path).expanduser()
    index = given / "sources.jsonl" if given.is_dir() else given
    if not index.is_file():
        raise IndexLabError(f"--corpus {path}: {index} does not exist (give a corpus directory holding "
                            "sources.jsonl, or the sources.jsonl)", field="--corpus")
    return str(index.resolve())


def add_plan_options(p: argparse.ArgumentParser) -> None:
    sel = p.add_argument_group("selection (filters of different kinds narrow each other)")
    sel.add_argument("--all", action="store_true", help="start from every product in the catalog")
    sel.add_argument("--brand", action="append", metavar="B", help="only this brand (repeatable)")
    sel.add_argument("--category", action="append", metavar="C", help="only this category (repeatable)")
    sel.add_argument("--product-id", action="append", metavar="ID", help="only this product (repeatable)")
    sel.add_argument("--ids-file", type=Path, metavar="F", help="only the product ids in F, one per line")
    sel.add_argument("--search", metavar="TEXT", help="only products whose brand/model/variant/id contains TEXT")
    order = p.add_argument_group("order and settings")
    order.add_argument("--brand-order", action="append", metavar="B1,B2,...", help="brands in run order")
    order.add_argument("--pin", action="append", metavar="B", help="pinned brand, runs first (repeatable, in order)")
    order.add_argument("--profile", choices=[p.value for p in Profile], help="fast | standard | thorough")
    order.add_argument("--workers", type=int, metavar="N", help="products run at once (default 2)")
    order.add_argument("--confirm-large", action="store_true", help="confirm a batch of more than 200 items")
    order.add_argument("--runner", help="the product job: harvest (default), noop, command")
    order.add_argument("--command", dest="command_argv", metavar="'ARGV...'",
                       help="the program the command runner runs per product, e.g. 'python my_job.py {product_id}'")
    order.add_argument("--max-run-seconds", type=float, metavar="S", help="per product attempt (default 600)")
    order.add_argument("--max-attempts", type=int, metavar="N", help="attempts per product (default 3)")


def print_plan(batch_run_id: str, summary: PlanSummary) -> None:
    est = summary.estimate
    say(f"batch_run_id  {batch_run_id}")
    say(f"items         {summary.total} across {len(summary.brands)} brands")
    say(f"profile       {summary.settings.profile.value}, workers {summary.settings.workers}, runner {summary.settings.runner}")
    say(f"estimate      {est.job_count} jobs (at most {est.max_job_count} with retries), {est.runtime_text}"
          f" [{est.basis.replace('_', ' ')}]")
    say("brands in run order:")
    for b in summary.brands:
        say(f"  {b.position:>3}. {b.brand}{' (pinned)' if b.pinned else ''}: {b.count}")
    say(f"first {len(summary.first_items)} items:")
    for item in summary.first_items:
        variant = f" [{item.variant}]" if item.variant else ""
        say(f"  {item.seq:>5}  {item.brand} {item.model}{variant}  ({item.product_id})")
    for warning in summary.warnings:
        say(f"warning: {warning}")


def cmd_plan(args: argparse.Namespace) -> int:
    request = plan_request_from_args(args)
    catalog = _open_catalog(args)
    with _open_store(args) as store:
        saved = BatchService(store, catalog).plan(request, actor="cli")
    if args.json:
        emit_json({"batch_run_id": saved.batch_run_id, "state": saved.state.value,
                   "created_at": saved.created_at, **saved.summary.model_dump(mode="json")})
    else:
        print_plan(saved.batch_run_id, saved.summary)
    return EXIT_OK


# --------------------------------------------------------------------------- items
def cmd_items(args: argparse.Namespace) -> int:
    with _open_store(args, writes=False) as store:
        page, total = BatchService(store, catalog=None).items(
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
    with _open_store(args, writes=False) as store:
        outcome = BatchService(store, catalog=None).outcome(args.product_id)
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
    return EXIT_OK


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# --------------------------------------------------------------------------- parser
def _non_negative(text: str) -> int:
    value = int(text)
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError("must be between 0 and 2147483647")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="indexlab", description="IndexLab Batch: plan, run and watch spec-harvest batches.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("catalog", help="summarise a catalog and list every problem in it")
    p.add_argument("path", nargs="?", type=Path, help="catalog path (default: the embedded fixtures catalog)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_catalog)

    p = sub.add_parser("plan", help="save a batch plan (a planned batch with its queued items) and print it")
    _add_db(p)
    _add_catalog(p)
    add_plan_options(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_plan)

    p = sub.add_parser("items", help="a batch's items in run order")
    p.add_argument("batch_run_id")
    _add_db(p)
    p.add_argument("--state", choices=[s.value for s in ItemState], help="only items in this state")
    p.add_argument("--brand", help="only items of this brand")
    p.add_argument("--search", metavar="TEXT", help="only items whose product id, brand, model or variant holds TEXT")
    p.add_argument("--reason", metavar="GROUP", help="only failed items of this reason group (see `indexlab failures`)")
    p.add_argument("--gate", choices=["passed", "needs_review"], help="only completed items that passed or need review")
    p.add_argument("--offset", type=_non_negative, default=0)
    p.add_argument("--limit", type=_non_negative, default=None)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_items)

    p = sub.add_parser("outcome", help="a product's latest fields with their evidence")
    p.add_argument("product_id")
    _add_db(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.set_defaults(handler=cmd_outcome)

    from engine.cli import run as cli_run  # run/status need the engine; the module imports this one

    cli_run.add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, extend: Callable[[argparse._SubParsersAction], None] | None = None) -> int:
    """Entry point; ``extend`` lets the dashboard package add ``serve`` without engine importing it."""
    parser = build_parser()
    if extend is not None:
        extend(next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)))
    args = parser.parse_args(argv)
    try:
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


if __name__ == "__main__":
    sys.exit(main())

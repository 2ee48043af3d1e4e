"""What the commands share: exit codes, the options several take (database, catalog, plan, re-run), and
opening the catalog and the store they name.

Conventions: human text on stdout, or with ``--json`` exactly one JSON document on stdout; errors on stderr as
one clear sentence, never a traceback. Exit codes: 0 done, 1 the request failed (bad catalog, invalid plan,
unknown batch, database in use, bad configuration), 2 bad arguments, 3 (``catalog`` only) the catalog loaded but
some entries were rejected; ``run`` and ``status`` also say the batch's result (``engine.cli.status``).
"""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Callable, Sequence
from contextlib import closing
from pathlib import Path
from typing import Any, Protocol

from pydantic import ValidationError

from engine.cli.output import warn
from engine.core.catalog import Catalog, default_catalog_path, load_catalog
from engine.core.config import Config
from engine.core.errors import IndexLabError
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings, Profile
from engine.service import BatchService, ExecutorChoice
from engine.service import open_service as service_over

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CATALOG_PROBLEMS = 0, 1, 2, 3


class SubCommands(Protocol):
    """What ``ArgumentParser.add_subparsers()`` returns: each command group adds its commands through it."""

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser: ...


def config_of(args: argparse.Namespace) -> Config:
    """The configuration ``engine.cli.main`` read at start-up and handed to the command with its arguments, with
    the command's ``--executor``, ``--scheduler`` and ``--dask-workers`` over the environment's."""
    changes = {name: value for name in ("executor", "dask_scheduler", "dask_workers")
               if (value := getattr(args, name, None)) is not None}
    if changes.get("dask_scheduler") and "executor" not in changes:
        changes["executor"] = "dask"  # a scheduler's address says which executor
    return args.config.model_copy(update=changes) if changes else args.config


def _cluster_workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of worker processes from 1 to 64")
    return value


def add_executor_options(p: argparse.ArgumentParser) -> None:
    """Where this process runs product jobs (docs/scale-out.md)."""
    p.add_argument("--executor", choices=("local", "dask"), default=None,
                   help="local: this process's threads (default: $INDEXLAB_EXECUTOR, else local); dask: a Dask "
                        "cluster (pip install 'indexlab[dask]')")
    p.add_argument("--scheduler", dest="dask_scheduler", metavar="ADDRESS", default=None,
                   help="with --executor dask: the scheduler, e.g. tcp://10.0.0.5:8786 (default: "
                        "$INDEXLAB_DASK_SCHEDULER; none starts a LocalCluster of worker processes here)")
    p.add_argument("--dask-workers", type=_cluster_workers, default=None, metavar="N",
                   help="worker processes of the LocalCluster started when no scheduler is given (default 2)")


# --------------------------------------------------------------------------- commands, database and catalog
def add_command(sub: SubCommands, name: str, handler: Callable[[argparse.Namespace], int], *,
                json: bool = False, **parser: Any) -> argparse.ArgumentParser:
    """The subcommand ``name`` that runs ``handler``; ``json`` adds ``--json`` (one JSON document on stdout)."""
    p = sub.add_parser(name, **parser)
    p.set_defaults(handler=handler)
    if json:
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    return p


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", type=Path, default=None, help="DuckDB file (default: $INDEXLAB_DB or var/indexlab.duckdb)")


def add_action_options(p: argparse.ArgumentParser, action: str, failures: str) -> None:
    """The options of a lifecycle action, the same here and over HTTP: ``stop --force``, ``retry``/``skip --seq``,
    ``retry --reason`` (``failures`` names the command that lists the reason groups)."""
    if action == "stop":
        p.add_argument("--force", action="store_true", help="cancel in-flight items now")
    if action in ("retry", "skip"):
        p.add_argument("--seq", type=int, nargs="+", action="extend", required=action == "skip", metavar="N",
                       help="item seq numbers" + (" (default: every failed item)" if action == "retry" else ""))
    if action == "retry":
        p.add_argument("--reason", metavar="GROUP", help="only the failed items of this reason group "
                       f"(a reason that `{failures}` lists)")


def add_catalog(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", type=Path, default=None, help="catalog path (default: the embedded fixtures catalog)")
    p.add_argument("--strict", action="store_true", help="refuse a catalog with any problem instead of skipping bad entries")


def open_catalog(args: argparse.Namespace) -> Catalog:
    catalog = load_catalog(args.catalog or default_catalog_path(), strict=args.strict)
    if catalog.problems:
        warn(f"catalog {catalog.source}: {len(catalog.problems)} entries rejected "
             f"(see: indexlab catalog {catalog.source})")
    return catalog


def open_service(args: argparse.Namespace, catalog: Catalog | None = None, *, run: bool = False,
                 writes: bool = True, auto_resume: bool = True, jobs: bool = True) -> closing[BatchService]:
    """The service over the database of ``--db`` (else ``INDEXLAB_DB``), or one clear error; ``run`` also opens the
    engine (``engine.service.open_service``; ``auto_resume``: it resumes a batch that was running) on the executor
    configured (``jobs=False``: an action that starts no job, such as pause, connects to no cluster). For a
    ``with`` block, which closes both."""
    config = config_of(args)
    return closing(service_over(args.db or config.db, catalog, run=run, writes=writes, auto_resume=auto_resume,
                                executor=ExecutorChoice.of(config) if run and jobs else None))


# --------------------------------------------------------------------------- plan and re-run options
def _first_error(exc: ValidationError) -> IndexLabError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"])
    return IndexLabError(f"invalid {field}: {first['msg']}", field=field)


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
            **{k: v for k, v in {"name": getattr(args, "name", None), "tags": getattr(args, "tag", None)}.items()
               if v is not None},
        )
    except ValidationError as exc:
        raise _first_error(exc) from None


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
    if getattr(args, "batch_executor", None):  # ``plan --executor``: the batch's setting (``run``'s is the process's)
        overrides["executor"] = args.batch_executor
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
    order.add_argument("--name", metavar="TEXT", help="the batch's name (default: from its selection, e.g. "
                       "'Razer + Logitech mice, 240 products')")
    order.add_argument("--tag", action="append", metavar="TAG", help="a tag of the batch (repeatable)")


def rerun_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The settings a re-run changes from its batch's: only those given on the command line, each valid."""
    changes = {k: v for k, v in {"profile": args.profile, "workers": args.workers,
                                 "max_attempts": args.max_attempts}.items() if v is not None}
    try:
        BatchSettings(**changes)
    except ValidationError as exc:
        raise _first_error(exc) from None
    return changes


def add_rerun_options(p: argparse.ArgumentParser) -> None:
    """``rerun BATCH_ID --which ...``: shared by ``indexlab rerun`` and ``indexlab batch rerun``."""
    p.add_argument("batch_run_id", metavar="BATCH_ID")
    p.add_argument("--which", choices=["needs_review", "failed"], required=True,
                   help="needs_review: completed products below the quality gate; failed: failed items")
    p.add_argument("--reason", metavar="GROUP", help="with --which failed: only this reason group (see `failures`)")
    p.add_argument("--profile", choices=[pr.value for pr in Profile], help="run them with this profile instead")
    p.add_argument("--workers", type=int, metavar="N", help="products run at once (default: the batch's)")
    p.add_argument("--max-attempts", type=int, metavar="N", help="attempts per product (default: the batch's)")


def group_limit(text: str) -> int:
    """``--limit`` of failure groups: 1 to 1000."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 1000:
        raise argparse.ArgumentTypeError("must be a number of groups from 1 to 1000")
    return value


def non_negative(text: str) -> int:
    """``--offset`` and ``--limit`` of a page of items."""
    value = int(text)
    if not 0 <= value < 2**31:
        raise argparse.ArgumentTypeError("must be between 0 and 2147483647")
    return value

"""Harvest accuracy and speed: the ``harvest`` runner over every embedded catalog product, scored against gold.

    python bench/harvest.py [--workers 4] [--profile standard] [--categories mouse,...] [--limit N]
                            [--errors 20] [--json]

Plans one batch of the whole embedded catalog (``fixtures/catalog``) with ``runner="harvest"`` on a
temporary DuckDB *file*, runs it with a default ``BatchEngine`` (thread pool, threaded writer) and
times it from ``start()`` to ``wait_idle()``. Each product's recorded outcome is then read back
from the store and compared with ``fixtures/corpus/gold.jsonl``:

- **precision**: fields found that equal gold / fields found (numbers within 1%, lists as sets,
  text and enums case-insensitively; a value for a field gold does not have is wrong);
- **coverage**: gold fields found / gold fields;
- per category, and the most frequent errors by (category, field) with examples.

The goal is precision >= 95%.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: bench/ is on sys.path, the repo root is not yet
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, command_line, machine, machine_line, stopwatch  # noqa: E402

from engine.batch import BatchEngine  # noqa: E402
from engine.catalog import Catalog, load_catalog  # noqa: E402
from engine.errors import NotFound  # noqa: E402
from engine.plan import PlanRequest, Selection  # noqa: E402
from engine.service import BatchService  # noqa: E402
from engine.settings import BatchSettings  # noqa: E402
from engine.store import Store  # noqa: E402

GOLD = ROOT / "fixtures" / "corpus" / "gold.jsonl"
GOAL_PRECISION = 0.95
REL_TOLERANCE = 0.01


class BenchFailure(RuntimeError):
    """The run did not happen as asked: the numbers would mean nothing."""


# --------------------------------------------------------------------------- scoring
def _norm_text(value: Any) -> str:
    return " ".join(str(value).split()).casefold()


def equal_to_gold(found: Any, gold: Any) -> bool:
    """Numbers within 1%, lists as sets, bools exactly, text case-insensitively."""
    if gold is None:
        return False
    if isinstance(gold, bool) or isinstance(found, bool):
        return found is gold if isinstance(found, bool) and isinstance(gold, bool) else False
    if isinstance(gold, (int, float)):
        if not isinstance(found, (int, float)):
            return False
        return abs(found - gold) <= REL_TOLERANCE * abs(gold) + 1e-9
    if isinstance(gold, list):
        return isinstance(found, list) and {_norm_text(v) for v in found} == {_norm_text(v) for v in gold}
    return _norm_text(found) == _norm_text(gold)


def load_gold(path: Path) -> dict[str, dict[str, Any]]:
    gold = {}
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                gold[row["product_id"]] = row
    return gold


def score(outcomes: dict[str, dict[str, Any]], gold: dict[str, dict[str, Any]], examples: int) -> dict[str, Any]:
    per_cat: dict[str, Counter] = defaultdict(Counter)
    errors: Counter = Counter()
    samples: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    by_tier: Counter = Counter()
    for pid, outcome in outcomes.items():
        truth = gold.get(pid)
        if truth is None:
            continue
        category = truth.get("category") or outcome.get("category") or "?"
        c = per_cat[category]
        gold_fields = {k: v for k, v in (truth.get("fields") or {}).items() if v is not None}
        c["products"] += 1
        c["gold_fields"] += len(gold_fields)
        for f in outcome["fields"]:
            name = f["field"]
            c["found"] += 1
            ok = equal_to_gold(f["value"], gold_fields.get(name))
            by_tier[(f.get("tier"), ok)] += 1
            if name in gold_fields:
                c["found_gold"] += 1
            if ok:
                c["correct"] += 1
            else:
                errors[(category, name)] += 1
                if len(samples[(category, name)]) < examples:
                    samples[(category, name)].append({
                        "product_id": pid, "found": f["value"], "gold": gold_fields.get(name), "tier": f.get("tier"),
                        "conflict": f.get("conflict"), "source_url": f.get("source_url"), "snippet_id": f.get("snippet_id")})
    total = sum(per_cat.values(), Counter())

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {
        "precision": ratio(total["correct"], total["found"]),
        "coverage": ratio(total["found_gold"], total["gold_fields"]),
        "recall": ratio(total["correct"], total["gold_fields"]),
        "fields_found": total["found"], "fields_correct": total["correct"], "gold_fields": total["gold_fields"],
        "products_scored": total["products"],
        "per_category": {cat: {"products": c["products"], "precision": ratio(c["correct"], c["found"]),
                               "coverage": ratio(c["found_gold"], c["gold_fields"]),
                               "fields_found": c["found"], "fields_correct": c["correct"]}
                         for cat, c in sorted(per_cat.items())},
        "precision_by_tier": {str(tier): ratio(by_tier[(tier, True)], by_tier[(tier, True)] + by_tier[(tier, False)])
                              for tier in sorted({t for t, _ in by_tier}, key=str)},
        "top_errors": [{"category": cat, "field": name, "count": n, "examples": samples[(cat, name)]}
                       for (cat, name), n in errors.most_common(25)],
    }


# --------------------------------------------------------------------------- the run
def run_batch(catalog: Catalog, selection: Selection, profile: str, workers: int, timeout: float,
              workdir: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    store = Store(workdir / "bench.duckdb")
    try:
        settings = BatchSettings(runner="harvest", profile=profile, workers=workers, fail_fast_failures=0,
                                 max_attempts=1, llm_api_key_env="INDEXLAB_BENCH_NO_LLM_KEY")
        saved = BatchService(store, catalog).plan(PlanRequest(selection=selection, settings=settings, confirm_large=True))
        batch_id = saved.batch_run_id
        engine = BatchEngine(store)
        try:
            with stopwatch() as elapsed:
                engine.start(batch_id)
                idle = engine.wait_idle(timeout)
            seconds = elapsed()
            if engine.writer.degraded is not None or engine.writer.rejected:
                raise BenchFailure(f"the store did not take every write: {engine.writer.degraded or 'rejected rows'}")
            if not idle:
                raise BenchFailure(f"the batch was not done after {timeout:g}s: {engine.status(batch_id)['counts']}")
        finally:
            engine.close()
        items = store.items(batch_id)
        counts = items["state"].value_counts().to_dict()
        failures = items[items["state"] != "completed"][["product_id", "state", "last_error"]].head(10).to_dict("records")
        outcomes = {}
        for pid in items.loc[items["state"] == "completed", "product_id"]:
            try:
                recorded = store.latest_outcome(pid)
            except NotFound:
                continue
            outcomes[pid] = {**recorded["summary"], "fields": recorded["fields"]}
    finally:
        store.close()
    n = len(items)
    return outcomes, {"batch_run_id": batch_id, "items": n, "seconds": seconds, "states": counts,
                      "failures": failures, "products_per_hour": n / seconds * 3600 if seconds else None}


def bench(profile: str, workers: int, categories: list[str], limit: int | None, timeout: float,
          examples: int) -> dict[str, Any]:
    if not GOLD.is_file():
        raise BenchFailure(f"{GOLD} does not exist: generate the corpus first (fixtures/corpus)")
    gold = load_gold(GOLD)
    catalog = load_catalog()
    products = catalog.products
    if categories:
        products = products[products["category"].isin(categories)]
    if limit:
        products = products.head(limit)
    if products.empty:
        raise BenchFailure("no product selected")
    selection = Selection(product_ids=list(products["product_id"])) if (categories or limit) else Selection(all=True)
    with tempfile.TemporaryDirectory(prefix="indexlab-bench-harvest-") as tmp:
        outcomes, run = run_batch(catalog, selection, profile, workers, timeout, Path(tmp))
    scored = score(outcomes, gold, examples)
    sources = Counter(s.get("status") for o in outcomes.values() for s in o.get("sources") or [])
    return {
        "benchmark": "harvest",
        "command": command_line(),
        "machine": machine(),
        "params": {"profile": profile, "workers": workers, "products": len(products), "categories": categories or "all",
                   "store": "DuckDB file (temporary)", "executor": "default ThreadPoolExecutor"},
        "run": run,
        "sources": dict(sources),
        "products_without_gold": sum(1 for pid in outcomes if pid not in gold),
        **scored,
        "goal": {"precision": GOAL_PRECISION,
                 "met": scored["precision"] is not None and scored["precision"] >= GOAL_PRECISION},
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def report_text(r: dict[str, Any], errors: int) -> str:
    run, p = r["run"], r["params"]
    lines = [
        f"harvest benchmark: {p['products']:,} products, profile {p['profile']}, workers {p['workers']}, DuckDB file",
        f"  machine: {machine_line(r['machine'])}",
        f"  run          : {run['seconds']:.1f} s, {run['products_per_hour']:,.0f} products/hour; states {run['states']}",
        f"  sources      : {r['sources']}",
        f"  precision    : {_pct(r['precision'])}  ({r['fields_correct']:,} of {r['fields_found']:,} fields found equal gold)",
        f"  coverage     : {_pct(r['coverage'])}  (gold fields found; recall {_pct(r['recall'])} of {r['gold_fields']:,})",
        "  per category :",
        *(f"    {cat:<11} precision {_pct(c['precision']):>7}  coverage {_pct(c['coverage']):>7}  ({c['products']} products)"
          for cat, c in r["per_category"].items()),
        f"  by tier      : " + ", ".join(f"{t} {_pct(v)}" for t, v in r["precision_by_tier"].items()),
    ]
    if run["failures"]:
        lines.append(f"  not completed: {run['failures']}")
    if errors and r["top_errors"]:
        lines.append("  most frequent errors:")
        for e in r["top_errors"][:errors]:
            lines.append(f"    {e['count']:>5}  {e['category']}.{e['field']}")
            for x in e["examples"]:
                lines.append(f"           {x['product_id']}: found {x['found']!r} gold {x['gold']!r} "
                             f"({x['tier']}{', conflict' if x['conflict'] else ''}; {x['source_url']})")
    verdict = "MET" if r["goal"]["met"] else "NOT MET"
    lines.append(f"  goal precision >= {r['goal']['precision']:.0%}: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=4, help="worker threads (default: %(default)s)")
    parser.add_argument("--profile", choices=("fast", "standard", "thorough"), default="standard",
                        help="harvest profile (default: %(default)s; thorough runs without an LLM key here)")
    parser.add_argument("--categories", default="", help="comma-separated categories (default: all)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N selected products (by product_id)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds the batch may take (default: %(default)s)")
    parser.add_argument("--errors", type=int, default=10, help="error groups to print with examples (default: %(default)s)")
    parser.add_argument("--examples", type=int, default=3, help="examples kept per error group (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    args = parser.parse_args(argv)
    if not 1 <= args.workers <= 64:
        parser.error("--workers must be 1..64 (BatchSettings allows no more)")
    categories = [c.strip() for c in args.categories.split(",") if c.strip()]
    try:
        result = bench(args.profile, args.workers, categories, args.limit, args.timeout, args.examples)
    except BenchFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str) if args.json else report_text(result, args.errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Harvest accuracy and speed: the ``harvest`` runner over every embedded catalog product, scored against gold.

    python bench/harvest.py [--corpus DIR|sources.jsonl] [--workers 4] [--profile standard]
                            [--categories mouse,...] [--limit N] [--errors 20] [--json]

Plans one batch with ``runner="harvest"`` over the products of a corpus's gold (default: the embedded
corpus ``fixtures/corpus``, every catalog product; ``--corpus`` names another corpus directory
holding ``sources.jsonl``, ``docs/`` and ``gold.jsonl``, planned from the embedded catalog) on a
temporary DuckDB *file*, runs it with a default ``BatchEngine`` (thread pool, threaded writer) and
times it from ``start()`` to ``wait_idle()``. Each product's recorded outcome is then read back
from the store and compared with the corpus's ``gold.jsonl``:

- **precision**: fields found that equal gold / fields found (numbers within 1%, lists as sets,
  text and enums case-insensitively; a value for a field gold does not have is wrong);
- **coverage**: gold fields found / gold fields; **correct**: gold fields found right / gold fields
  (the ceiling, when the corpus has ``stated.jsonl``: gold fields some page states correctly);
- **calibration**: the share right among values reported at confidence >= 0.9 (goal >= 97%);
- per category, per field, per layout (of the source the value came from; and, page by page, how
  many of its statements equal gold), error kinds (wrong value / value gold lacks / missed), and
  the most frequent errors by (category, field) with examples (``--errors 0``: aggregates only).

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

from bench.common import ROOT, command_line, machine, machine_line, stopwatch
from engine.core.catalog import Catalog, load_catalog
from engine.core.errors import NotFound
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.run.engine import BatchEngine
from engine.service import BatchService
from engine.store import Store

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


CALIBRATION_CONFIDENCE = 0.9
GOAL_CALIBRATION = 0.97


def load_stated(path: Path) -> dict[str, set[str]]:
    """``stated.jsonl``: per product, the gold fields some page states correctly (a list or a dict of names)."""
    stated: dict[str, set[str]] = {}
    if not path.is_file():
        return stated
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                names = row.get("stated", row.get("fields", []))
                stated[row["product_id"]] = set(names if isinstance(names, (list, dict)) else [])
    return stated


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def score(outcomes: dict[str, dict[str, Any]], gold: dict[str, dict[str, Any]], examples: int,
          layouts: dict[tuple[str, str], str] | None = None, stated: dict[str, set[str]] | None = None) -> dict[str, Any]:
    per_cat: dict[str, Counter] = defaultdict(Counter)
    per_field: dict[str, Counter] = defaultdict(Counter)
    per_layout: dict[str, Counter] = defaultdict(Counter)
    kinds: Counter = Counter()
    calibration: Counter = Counter()
    errors: Counter = Counter()
    samples: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    by_tier: Counter = Counter()
    layouts = layouts or {}
    for pid, outcome in outcomes.items():
        truth = gold.get(pid)
        if truth is None:
            continue
        category = truth.get("category") or outcome.get("category") or "?"
        c = per_cat[category]
        gold_fields = {k: v for k, v in (truth.get("fields") or {}).items() if v is not None}
        c["products"] += 1
        c["gold_fields"] += len(gold_fields)
        if stated is not None:
            c["stated"] += len(set(stated.get(pid, ())) & set(gold_fields))
        for name in gold_fields:
            per_field[f"{category}.{name}"]["gold"] += 1
        found_names = set()
        for f in outcome["fields"]:
            name = f["field"]
            found_names.add(name)
            pf = per_field[f"{category}.{name}"]
            layout = layouts.get((pid, f.get("source_url") or ""), "llm" if f.get("tier") == "llm" else "?")
            c["found"] += 1
            pf["found"] += 1
            per_layout[layout]["found"] += 1
            ok = equal_to_gold(f["value"], gold_fields.get(name))
            by_tier[(f.get("tier"), ok)] += 1
            confident = (f.get("confidence") or 0.0) >= CALIBRATION_CONFIDENCE
            calibration[(confident, ok)] += 1
            if name in gold_fields:
                c["found_gold"] += 1
                pf["found_gold"] += 1
            if ok:
                c["correct"] += 1
                pf["correct"] += 1
                per_layout[layout]["correct"] += 1
            else:
                kinds["wrong value" if name in gold_fields else "value gold lacks"] += 1
                errors[(category, name)] += 1
                if len(samples[(category, name)]) < examples:
                    samples[(category, name)].append({
                        "product_id": pid, "found": f["value"], "gold": gold_fields.get(name), "tier": f.get("tier"),
                        "confidence": f.get("confidence"), "conflict": f.get("conflict"),
                        "source_url": f.get("source_url"), "snippet_id": f.get("snippet_id")})
        for name in set(gold_fields) - found_names:
            stated_here = stated is not None and name in stated.get(pid, ())
            kinds["missed (stated on a page)" if stated_here else "missed"] += 1
    total = sum(per_cat.values(), Counter())
    return {
        "precision": _ratio(total["correct"], total["found"]),
        "coverage": _ratio(total["found_gold"], total["gold_fields"]),
        "recall": _ratio(total["correct"], total["gold_fields"]),
        "ceiling": _ratio(total["stated"], total["gold_fields"]) if stated is not None else None,
        "fields_found": total["found"], "fields_correct": total["correct"], "gold_fields": total["gold_fields"],
        "products_scored": total["products"],
        "calibration": {"confidence": CALIBRATION_CONFIDENCE, "goal": GOAL_CALIBRATION,
                        "fields": calibration[(True, True)] + calibration[(True, False)],
                        "precision": _ratio(calibration[(True, True)], calibration[(True, True)] + calibration[(True, False)]),
                        "below_fields": calibration[(False, True)] + calibration[(False, False)],
                        "below_precision": _ratio(calibration[(False, True)],
                                                  calibration[(False, True)] + calibration[(False, False)])},
        "per_category": {cat: {"products": c["products"], "precision": _ratio(c["correct"], c["found"]),
                               "coverage": _ratio(c["found_gold"], c["gold_fields"]),
                               "recall": _ratio(c["correct"], c["gold_fields"]),
                               "fields_found": c["found"], "fields_correct": c["correct"]}
                         for cat, c in sorted(per_cat.items())},
        "per_field": {name: {"gold": c["gold"], "found": c["found"], "precision": _ratio(c["correct"], c["found"]),
                             "coverage": _ratio(c["found_gold"], c["gold"]), "recall": _ratio(c["correct"], c["gold"])}
                      for name, c in sorted(per_field.items())},
        "per_layout": {name: {"found": c["found"], "precision": _ratio(c["correct"], c["found"])}
                       for name, c in sorted(per_layout.items())},
        "error_kinds": dict(kinds.most_common()),
        "precision_by_tier": {str(tier): _ratio(by_tier[(tier, True)], by_tier[(tier, True)] + by_tier[(tier, False)])
                              for tier in sorted({t for t, _ in by_tier}, key=str)},
        "top_errors": [{"category": cat, "field": name, "count": n, "examples": samples[(cat, name)]}
                       for (cat, name), n in errors.most_common(25)],
    }


def page_stats(corpus_path: Path | None, gold: dict[str, dict[str, Any]], products: list[dict[str, Any]]) -> dict[str, Any]:
    """Page by page, per layout: statements the extractor reads and the share of them equal to gold
    (retailers state some wrong values on purpose, so 100% is not the goal; a low share or few
    statements per page points at a layout the extractor misreads or misses)."""
    from engine.runners.harvest.corpus import get_corpus
    from engine.runners.harvest.extract import best_per_field

    corpus = get_corpus(str(corpus_path) if corpus_path else None)
    stats: dict[str, Counter] = defaultdict(Counter)
    for product in products:
        truth = (gold.get(product["product_id"]) or {}).get("fields") or {}
        for source in corpus.sources(product["product_id"]):
            html = corpus.document(source.category, source.doc_id)
            if html is None:
                continue
            found = best_per_field(corpus.extractor(source.category).extract(html, product).candidates)
            s = stats[source.layout or "?"]
            s["pages"] += 1
            s["statements"] += len(found)
            s["equal_gold"] += sum(1 for c in found.values() if equal_to_gold(c.value.value, truth.get(c.field)))
    return {layout: {"pages": s["pages"], "statements_per_page": _ratio(s["statements"], s["pages"]),
                     "equal_gold": _ratio(s["equal_gold"], s["statements"])}
            for layout, s in sorted(stats.items())}


# --------------------------------------------------------------------------- the run
def run_batch(catalog: Catalog, selection: Selection, profile: str, workers: int, timeout: float,
              workdir: Path, corpus: str | None = None) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    store = Store(workdir / "bench.duckdb")
    try:
        settings = BatchSettings(runner="harvest", profile=profile, workers=workers, fail_fast_failures=0,
                                 max_attempts=1, llm_api_key_env="INDEXLAB_BENCH_NO_LLM_KEY", corpus=corpus)
        saved = BatchService(store, catalog).plan(PlanRequest(selection=selection, settings=settings, confirm_large=True))
        batch_id = saved.batch_run_id
        engine = BatchEngine(store).open()
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


def corpus_paths(corpus: str | None) -> tuple[Path | None, Path]:
    """(sources.jsonl or None for the embedded corpus, gold.jsonl) for ``--corpus`` (a directory or its sources.jsonl)."""
    if not corpus:
        return None, GOLD
    path = Path(corpus).expanduser()
    sources = path / "sources.jsonl" if path.is_dir() else path
    if not sources.is_file():
        raise BenchFailure(f"--corpus {corpus}: {sources} does not exist")
    return sources, sources.parent / "gold.jsonl"


def bench(profile: str, workers: int, categories: list[str], limit: int | None, timeout: float,
          examples: int, corpus: str | None = None, pages: bool = True) -> dict[str, Any]:
    sources_path, gold_path = corpus_paths(corpus)
    if not gold_path.is_file():
        raise BenchFailure(f"{gold_path} does not exist: a corpus brings its gold.jsonl")
    gold = load_gold(gold_path)
    stated = load_stated(gold_path.parent / "stated.jsonl") if (gold_path.parent / "stated.jsonl").is_file() else None
    catalog = load_catalog()
    products = catalog.products
    if sources_path is not None:  # another corpus: the catalog products its gold names
        products = products[products["product_id"].isin(list(gold))]
    if categories:
        products = products[products["category"].isin(categories)]
    if limit:
        products = products.head(limit)
    if products.empty:
        raise BenchFailure("no product selected")
    whole = not (categories or limit or sources_path)
    selection = Selection(all=True) if whole else Selection(product_ids=list(products["product_id"]))
    with tempfile.TemporaryDirectory(prefix="indexlab-bench-harvest-") as tmp:
        outcomes, run = run_batch(catalog, selection, profile, workers, timeout, Path(tmp),
                                  str(sources_path) if sources_path else None)
    layouts = {}
    index = sources_path or (ROOT / "fixtures" / "corpus" / "sources.jsonl")
    with index.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                layouts[(row["product_id"], row.get("url") or "")] = row.get("layout") or "?"
    scored = score(outcomes, gold, examples, layouts, stated)
    sources = Counter(s.get("status") for o in outcomes.values() for s in o.get("sources") or [])
    return {
        "benchmark": "harvest",
        "command": command_line(),
        "machine": machine(),
        "params": {"profile": profile, "workers": workers, "products": len(products), "categories": categories or "all",
                   "corpus": str(sources_path.parent) if sources_path else "embedded (fixtures/corpus)",
                   "store": "DuckDB file (temporary)", "executor": "default ThreadPoolExecutor"},
        "run": run,
        "sources": dict(sources),
        "products_without_gold": sum(1 for pid in outcomes if pid not in gold),
        **scored,
        "pages_by_layout": page_stats(sources_path, gold, products.to_dict("records")) if pages else None,
        "goal": {"precision": GOAL_PRECISION,
                 "met": scored["precision"] is not None and scored["precision"] >= GOAL_PRECISION},
    }


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"


def report_text(r: dict[str, Any], errors: int) -> str:
    run, p, cal = r["run"], r["params"], r["calibration"]
    ceiling = f", ceiling {_pct(r['ceiling'])} stated correctly on a page" if r.get("ceiling") is not None else ""
    lines = [
        f"harvest benchmark: {p['products']:,} products of {p['corpus']}, profile {p['profile']}, "
        f"workers {p['workers']}, DuckDB file",
        f"  machine: {machine_line(r['machine'])}",
        f"  run          : {run['seconds']:.1f} s, {run['products_per_hour']:,.0f} products/hour; states {run['states']}",
        f"  sources      : {r['sources']}",
        f"  precision    : {_pct(r['precision'])}  ({r['fields_correct']:,} of {r['fields_found']:,} fields found equal gold)",
        f"  coverage     : {_pct(r['coverage'])}  (gold fields found, of {r['gold_fields']:,})",
        f"  correct      : {_pct(r['recall'])}  (gold fields found right{ceiling})",
        f"  calibration  : {_pct(cal['precision'])} right of {cal['fields']:,} values at confidence >= {cal['confidence']}"
        f" (goal {cal['goal']:.0%}); {_pct(cal['below_precision'])} of {cal['below_fields']:,} below",
        "  error kinds  : " + ", ".join(f"{k} {n:,}" for k, n in r["error_kinds"].items()),
        "  per category :",
        *(f"    {cat:<11} precision {_pct(c['precision']):>7}  coverage {_pct(c['coverage']):>7}  "
          f"correct {_pct(c['recall']):>7}  ({c['products']} products)"
          for cat, c in r["per_category"].items()),
        "  per field    :",
        *(f"    {name:<30} precision {_pct(c['precision']):>7}  coverage {_pct(c['coverage']):>7}  "
          f"correct {_pct(c['recall']):>7}  (gold {c['gold']}, found {c['found']})"
          for name, c in r["per_field"].items()),
        "  per layout of the winning source:",
        *(f"    {name:<20} precision {_pct(c['precision']):>7}  ({c['found']:,} values)"
          for name, c in r["per_layout"].items()),
    ]
    if r.get("pages_by_layout"):
        lines.append("  pages by layout (each page read alone):")
        lines.extend(f"    {name:<20} {c['pages']:>5} pages  {c['statements_per_page'] or 0:>4.1f} statements/page  "
                     f"{_pct(c['equal_gold']):>7} equal gold" for name, c in r["pages_by_layout"].items())
    lines.append("  by tier      : " + ", ".join(f"{t} {_pct(v)}" for t, v in r["precision_by_tier"].items()))
    if run["failures"]:
        lines.append(f"  not completed: {run['failures']}")
    if errors and r["top_errors"]:
        lines.append("  most frequent errors:")
        for e in r["top_errors"][:errors]:
            lines.append(f"    {e['count']:>5}  {e['category']}.{e['field']}")
            for x in e["examples"]:
                lines.append(f"           {x['product_id']}: found {x['found']!r} gold {x['gold']!r} "
                             f"({x['tier']}, confidence {x['confidence']}{', conflict' if x['conflict'] else ''}; "
                             f"{x['source_url']})")
    verdict = "MET" if r["goal"]["met"] else "NOT MET"
    lines.append(f"  goal precision >= {r['goal']['precision']:.0%}: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=None, metavar="PATH",
                        help="a corpus directory (sources.jsonl, docs/, gold.jsonl) or its sources.jsonl "
                             "(default: the embedded fixtures/corpus)")
    parser.add_argument("--no-pages", action="store_true", help="skip the page-by-page layout statistics")
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
        result = bench(args.profile, args.workers, categories, args.limit, args.timeout,
                       args.examples if args.errors else 0, args.corpus, not args.no_pages)
    except BenchFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str) if args.json else report_text(result, args.errors))
    return 0


if __name__ == "__main__":
    sys.exit(main())

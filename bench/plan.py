"""Time building and saving a batch plan over a large catalog (goal: <= 1 s for 100,000 products).

    python bench/plan.py [--catalog var/bench/catalog-100k.parquet] [--repeat 5] [--json]

The catalog is made with bench/make_catalog.py when it is missing. Each repeat plans every
product with a brand order and two pins into a fresh DuckDB file, and reports load, build
(select + order + estimate) and save (one transaction, set-based) separately.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.make_catalog import write_catalog  # noqa: E402
from engine.core.catalog import load_catalog  # noqa: E402
from engine.core.plan import PlanRequest, Selection  # noqa: E402
from engine.service import BatchService  # noqa: E402
from engine.store import Store  # noqa: E402


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    import os

    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


def run(catalog_path: Path, repeat: int) -> dict:
    t0 = time.perf_counter()
    catalog = load_catalog(catalog_path)
    load_s = time.perf_counter() - t0
    brands = catalog.brands
    request = PlanRequest(selection=Selection(all=True), brand_order=brands[10:20][::-1],
                          pinned_brands=brands[:2][::-1], confirm_large=True)
    builds, saves, totals = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            with Store(Path(tmp) / f"plan-{i}.duckdb") as store:
                service = BatchService(store, catalog)
                t0 = time.perf_counter()
                plan = service.preview(request)
                t1 = time.perf_counter()
                saved = service.plan(request)  # builds again, then saves: the real call a user makes
                t2 = time.perf_counter()
                assert store.count_items(saved.batch_run_id) == len(catalog.products) == plan.summary.total
            builds.append(t1 - t0)
            totals.append(t2 - t1)
            saves.append((t2 - t1) - (t1 - t0))
    return {
        "products": len(catalog.products), "brands": len(brands), "load_s": load_s,
        "build_s_cold": builds[0], "build_s_median": statistics.median(builds), "build_s_best": min(builds),
        "save_s_median": statistics.median(saves),
        "plan_and_save_s_median": statistics.median(totals), "plan_and_save_s_best": min(totals),
        "repeat": repeat, "machine": machine(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", type=Path, default=ROOT / "var/bench/catalog-100k.parquet")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.catalog.exists():
        write_catalog(args.catalog, 100_000)
    result = run(args.catalog, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"catalog        {args.catalog} ({result['products']:,} products, {result['brands']} brands)")
        print(f"load           {result['load_s'] * 1000:8.1f} ms")
        print(f"build plan     {result['build_s_cold'] * 1000:8.1f} ms first (cold name cache)")
        print(f"build plan     {result['build_s_median'] * 1000:8.1f} ms median ({result['build_s_best'] * 1000:.1f} best)")
        print(f"save plan      {result['save_s_median'] * 1000:8.1f} ms median")
        print(f"plan + save    {result['plan_and_save_s_median'] * 1000:8.1f} ms median "
              f"({result['plan_and_save_s_best'] * 1000:.1f} best; goal <= 1000 ms)")
        print(f"machine        {result['machine']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

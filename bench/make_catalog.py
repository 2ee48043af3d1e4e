"""Write a large synthetic product catalog as one Parquet file, for benchmarks.

    python bench/make_catalog.py [--n 100000] [--out var/bench/catalog-100k.parquet] [--seed 0]

Brands follow a Zipf-like law over the real vocabulary in ``fixtures/vocabulary.py`` (ranked by
the size of their real product line); models are the brand's real names plus plausible new
ones made from them (``G502 X`` -> ``G617 X``, ``Arctis Nova 7`` -> ``Arctis Nova 4 Pro``,
``Cobra`` -> ``Cobra V3``); about 45% of products have no variant. Same ``n`` and ``seed``,
same rows in the same order.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from bisect import bisect
from functools import lru_cache
from itertools import accumulate
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``fixtures`` importable
    sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from fixtures.vocabulary import (  # noqa: E402
    brand_categories,
    brands_by_size,
    models,
    product_id,
    sku_format,
    slugify,
    variant_pool,
)

COLUMNS = ("product_id", "category", "brand", "model", "variant", "release_year", "sku")
ZIPF_EXPONENT = 1.0
P_EMPTY_VARIANT = 0.45
P_REAL_MODEL = 0.3  # otherwise a generated name derived from a real one
MAX_TRIES = 40
SUFFIXES: dict[str, tuple[str, ...]] = {
    "mouse": ("Pro", "Wireless", "Mini", "Air", "Lite", "SE", "8K", "Plus", "Max", "Ultra"),
    "keyboard": ("TKL", "Pro", "Mini", "HE", "Max", "Wireless", "75%", "Low Profile", "SE"),
    "monitor": ("QD-OLED", "X", "P", "E2", "F", "Pro"),
    "headset": ("Wireless", "Pro", "X", "Max", "Core", "Gen 2", "Gen 3", "SE"),
    "mousepad": ("XL", "Pro", "Speed", "Control", "V2", "Glass"),
    "controller": ("Pro", "Wireless", "Lite", "V2", "Ultra", "Core"),
}
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
SCHEMA = pa.schema([(c, pa.int16() if c == "release_year" else pa.string()) for c in COLUMNS])


_slug = lru_cache(maxsize=4096)(slugify)  # variants and real names repeat a lot


class _Line:
    """One brand's product line in one category: real names and templates to make new ones."""

    def __init__(self, category: str, brand: str):
        self.category, self.brand = category, brand
        self.real = models(category, brand)
        self.templates = [self._template(name) for name in self.real]
        self.id_prefix = product_id(category, brand, "")
        self.sku_runs = re.findall(r"#+|@+|[^#@]+", sku_format(brand, category))  # "910-", "######"

    @staticmethod
    def _template(name: str) -> tuple[str, int, str]:
        """``(head, digits, tail)`` around the name's first number; digits 0 if it has none."""
        match = re.search(r"\d+", name)
        if not match:
            return name + " ", 0, ""
        return name[: match.start()], len(match.group()), name[match.end():]

    def model(self, rng: random.Random, crowded: bool = False) -> str:
        """A real name, or a new one from a real name's template (always new-looking if ``crowded``)."""
        if not crowded and rng.random() < P_REAL_MODEL:
            return rng.choice(self.real)
        head, width, tail = rng.choice(self.templates)
        if width == 0:  # no number to vary: start a series ("Cobra" -> "Cobra V3")
            name = f"{head}V{rng.randint(2, 9)}"
        else:  # one-digit series (V3, Arctis 7) may run on to two digits
            name = f"{head}{rng.randint(10 ** (width - 1), 10**width - 1 if width > 1 else 19)}{tail}"
        for _ in range(2 if crowded else int(rng.random() < 0.4)):
            suffix = rng.choice(SUFFIXES[self.category])
            if suffix not in name.split():  # no "Pro Pro"
                name = f"{name} {suffix}"
        return name

    def variant(self, rng: random.Random, model: str) -> str:
        return rng.choice(variant_pool(self.category, self.brand, model))

    def product_id(self, model: str, variant: str) -> str:
        """``vocabulary.product_id`` with the category and brand slugs computed once."""
        tail = f"-{_slug(model)}-{_slug(variant)}" if variant else f"-{_slug(model)}"
        return (self.id_prefix + tail)[:120].rstrip("-")

    def make_sku(self, rng: random.Random) -> str:
        parts = []
        for run in self.sku_runs:
            if run[0] == "#":
                parts.append(f"{rng.randrange(10 ** len(run)):0{len(run)}d}")
            elif run[0] == "@":
                parts.append("".join(rng.choices(LETTERS, k=len(run))))
            else:
                parts.append(run)
        return "".join(parts)


def generate_rows(n: int, seed: int = 0) -> dict[str, list]:
    """``n`` products as columns (see ``COLUMNS``), unique product_ids, deterministic per seed."""
    rng = random.Random(seed)
    ranked = brands_by_size()
    weights = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(len(ranked))]
    lines = {b: [_Line(c, b) for c in brand_categories(b)] for b in ranked}
    line_weights = {b: list(accumulate(len(line.real) for line in lines[b])) for b in ranked}
    columns: dict[str, list] = {c: [] for c in COLUMNS}
    taken: set[str] = set()
    for brand in rng.choices(ranked, weights=weights, k=n):
        cum = line_weights[brand]
        line = lines[brand][bisect(cum, rng.random() * cum[-1])]
        plain = rng.random() < P_EMPTY_VARIANT  # decided once, so retries keep the share
        for attempt in range(MAX_TRIES + 1):
            model = line.model(rng, crowded=attempt >= MAX_TRIES // 2)
            if attempt == MAX_TRIES:  # a crowded line: a fresh generation always is new
                model = f"{model} Gen {len(taken)}"
            variant = "" if plain else line.variant(rng, model)
            pid = line.product_id(model, variant)
            if pid not in taken:
                break
        assert pid not in taken, pid  # the last attempt's "Gen <row>" name is new by construction
        taken.add(pid)
        year = min(2025, int(rng.triangular(2012, 2026, 2023)))
        for column, value in zip(COLUMNS, (pid, line.category, brand, model, variant, year, line.make_sku(rng))):
            columns[column].append(value)
    return columns


def build_table(n: int, seed: int = 0) -> pa.Table:
    return pa.Table.from_pydict(generate_rows(n, seed), schema=SCHEMA)


def write_catalog(out: str | Path, n: int, seed: int = 0) -> pa.Table:
    table = build_table(n, seed)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out, compression="zstd")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000, help="number of products (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=Path("var/bench/catalog-100k.parquet"), help="Parquet file to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    args = parser.parse_args(argv)
    if args.n < 1:
        parser.error("--n must be at least 1")
    started = time.perf_counter()
    table = write_catalog(args.out, args.n, args.seed)
    elapsed = time.perf_counter() - started
    brand_count = len(set(table.column("brand").to_pylist()))
    print(f"{args.out}: {table.num_rows} rows, {brand_count} brands, {elapsed:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

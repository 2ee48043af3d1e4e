"""Load and validate product catalogs into one pandas DataFrame.

A catalog is the list of products a batch can be planned from. It comes as a directory of
per-product JSON files (``<root>/<category>/products/<product_id>.json``) or as one
``.csv``, ``.jsonl``/``.ndjson``, ``.parquet`` or ``.json`` (a list of objects) file.

Policy -- nothing bad is ever loaded silently:

* Lenient (default): valid rows load; every invalid row or file is left out and reported in
  ``Catalog.problems`` with its file, line (or row), field and what is wrong.
* ``strict=True``: any problem raises ``CatalogError`` listing all of them.
* Always raised: a missing path, an unsupported extension, and a catalog with no valid product.
* Duplicate ``product_id``: the first loadable one in load order (sorted paths, then rows) is
  kept; each later one is reported, naming where the kept one is.

Each reader turns its format into a raw DataFrame plus location columns (``__source__``,
``__line__``); one vectorised ``_validate`` then produces the clean frame and the problems,
so every format obeys the same rules.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from engine.core.catalog_read import (
    _FOLDER,
    _IMPLIED,
    _LINE,
    _LOCATION,
    _READERS,
    _SOURCE,
    CORE_COLUMNS,
    _kind,
    _read_tree,
)
from engine.core.errors import CatalogError, CatalogProblem

PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
FILE_FORMATS = (".csv", ".json", ".jsonl", ".ndjson", ".parquet")


@dataclass(frozen=True, eq=False)
class Catalog:
    """The loaded products plus everything that was left out, and why."""

    products: pd.DataFrame  # CORE_COLUMNS first, then extras; sorted by product_id; RangeIndex
    problems: tuple[CatalogProblem, ...]
    source: str

    @property
    def brands(self) -> list[str]:
        """Distinct brands, case-insensitive A-Z, as the dashboard lists them."""
        return _sorted_ci(self.products["brand"].unique())

    @property
    def categories(self) -> list[str]:
        return _sorted_ci(self.products["category"].unique())

    def summary(self) -> dict:
        """Plain, JSON-ready counts for the plan preview and the API."""
        brand_counts = self.products["brand"].value_counts()
        category_counts = self.products["category"].value_counts()
        return {
            "source": self.source,
            "products": len(self.products),
            "brands": len(brand_counts),
            "categories": len(category_counts),
            "brand_counts": {b: int(brand_counts[b]) for b in self.brands},
            "category_counts": {c: int(category_counts[c]) for c in self.categories},
            "problems": len(self.problems),
        }


def default_catalog_path() -> Path:
    """The embedded catalog shipped in the repo, so a fresh clone has something to plan."""
    return Path(__file__).resolve().parents[2] / "fixtures" / "catalog"


def load_catalog(path: str | os.PathLike | None = None, *, strict: bool = False) -> Catalog:
    """Load a catalog; lenient by default (bad rows reported, not loaded), or ``strict``."""
    root = Path(path) if path is not None else default_catalog_path()
    source = os.fspath(root)
    if not root.exists():
        raise CatalogError(f"catalog not found: {source}")
    suffix = root.suffix.lower()
    if root.is_dir():
        raw, problems = _read_tree(root)
    elif suffix in _READERS:
        raw, problems = _READERS[suffix](root)
    else:
        raise CatalogError(f"unsupported catalog format {suffix or '(no extension)'!r}: {source};"
                           f" use a directory (JSON tree) or a {', '.join(FILE_FORMATS)} file")
    products, row_problems = _validate(raw)
    problems = sorted(problems + row_problems, key=lambda p: (p.source, p.line or 0))
    if products.empty:
        raise CatalogError(f"catalog {source} has no valid products ({_problems(problems)})", problems)
    if strict and problems:
        raise CatalogError(f"catalog {source} has {_problems(problems)}; fix them, or load"
                           " without strict to skip the bad rows", problems)
    return Catalog(products=products, problems=tuple(problems), source=source)


# --- readers: format -> (raw frame with location columns, file-level problems) ---------------


# --- validation: one vectorised pass over every format ---------------------------------------


def _validate(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    """Clean core fields, flag bad rows column by column, keep the first of each product_id."""
    if raw.empty:
        return pd.DataFrame(columns=list(CORE_COLUMNS), dtype="str"), []
    found: list[tuple[int, str, str]] = []  # (row position, field, message)
    bad = np.zeros(len(raw), dtype=bool)

    def report(mask: pd.Series, field: str, message: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        bad[rows] = True
        found.extend((i, field, message(i)) for i in rows)

    core: dict[str, pd.Series] = {}
    for field in CORE_COLUMNS:
        value = raw[field] if field in raw.columns else pd.Series(None, index=raw.index, dtype=object)
        if isinstance(value.dtype, pd.CategoricalDtype):
            value = value.astype(object)
        wrong = _not_string(value)
        shown = value.to_numpy(dtype=object) if wrong.any() else None
        expect = "a string or null" if field == "variant" else "a string"
        # report() calls each message lambda at once, inside this iteration (B023 cannot see that)
        report(wrong, field, lambda i: f"{field} must be {expect}, got {_kind(shown[i])} {shown[i]!r:.60}")  # noqa: B023
        text = value.where(~wrong).astype("str").str.strip()
        if _FOLDER in raw.columns and field in _IMPLIED:  # JSON tree: the path names these too
            implied, where = raw[_IMPLIED[field][0]], _IMPLIED[field][1]
            report(text.notna() & text.ne("") & text.ne(implied), field,
                   lambda i: f"{field} {text.iloc[i]!r} does not match {where} {implied.iloc[i]!r}")  # noqa: B023
            text = text.fillna(implied)
        if field == "variant":
            text = text.fillna("")
        else:
            report(text.isna() & ~wrong, field, lambda i: f"{field} is missing")  # noqa: B023
            report(text.eq(""), field, lambda i: f"{field} is empty")  # noqa: B023
        core[field] = text

    pid = core["product_id"]
    ids = pid.to_numpy(dtype=object)
    report(pid.notna() & pid.ne("") & ~pid.str.fullmatch(PRODUCT_ID_PATTERN), "product_id",
           lambda i: f"product_id {ids[i]!r} is not valid: use 1-128 letters, digits, '.', '_',"
           " ':' or '-', starting with a letter or digit")
    valid = pd.Series(~bad, index=raw.index)
    later = valid & pid.where(valid).duplicated(keep="first")  # load order decides who is first
    kept = valid & ~later
    first = dict(zip(ids[kept.to_numpy()], np.flatnonzero(kept)))
    sources, lines = raw[_SOURCE].to_numpy(dtype=object), raw[_LINE].to_numpy(dtype=object)
    report(later, "product_id", lambda i: f"duplicate product_id {ids[i]!r}: the first one, at"
           f" {_where(sources, lines, first[ids[i]])}, is kept; this one is not loaded")

    problems = [CatalogProblem(sources[i], _line(lines, i), field, message, _text(ids[i]))
                for i, field, message in sorted(found, key=lambda x: (x[0], CORE_COLUMNS.index(x[1])))]
    extras = [c for c in raw.columns if c not in CORE_COLUMNS and c not in _LOCATION]
    products = pd.concat([pd.DataFrame(core), raw[extras]], axis=1)[~bad].infer_objects()
    return products.sort_values("product_id", kind="stable").reset_index(drop=True), problems


def _not_string(value: pd.Series) -> pd.Series:
    """True where a value is present but is not text (numbers, lists, objects, booleans)."""
    if isinstance(value.dtype, pd.StringDtype) or pd.api.types.infer_dtype(value) in ("string", "empty"):
        return pd.Series(False, index=value.index)  # the common case, decided without a Python loop
    return value.notna() & ~value.map(lambda v: isinstance(v, str))


def _line(lines: Any, i: int) -> int | None:
    value = lines[i]
    return None if value is None or value != value else int(value)  # None/NaN: a whole file


def _where(sources: Any, lines: Any, i: int) -> str:
    line = _line(lines, i)
    return sources[i] + ("" if line is None else f":{line}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _problems(problems: list[CatalogProblem]) -> str:
    return f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"


def _sorted_ci(values) -> list[str]:
    return sorted(values, key=lambda v: (v.casefold(), v))

"""``example_specs``: a product's specs from the manufacturer spec sheet the team saved as HTML.

The convention (no setting): the sheet of product ``P`` is ``$INDEXLAB_EXAMPLE_SPECS/P.html``, or, without that
variable, the sheets bundled in this package's ``specs/`` folder. Each row of the sheet's ``<table class="specs">``
becomes a field with its evidence: the page's canonical URL, a snippet id that stays the same for the same row.

The runner's contract (IndexLab's docs/runners.md): ``run(product, settings, ctx) -> outcome`` in-process, phases
through ``ctx.phase`` (each also a cancellation point), a stop observed between rows, ``RunnerError`` for a failure
with ``retryable`` saying whether another attempt can help.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any

from engine.runners import RunContext, RunnerError
from indexlab_example_runner.sheet import Row, read_sheet

__all__ = ["NAME", "REQUIRED", "run", "sheet_path"]

NAME = "example_specs"
SPECS_ENV = "INDEXLAB_EXAMPLE_SPECS"
BUNDLED = Path(__file__).parent / "specs"
TIER, CONFIDENCE = "manufacturer", 0.9  # the maker's own sheet: the best tier, trusted but not checked elsewhere
REQUIRED = {"mouse": ("sensor", "max_dpi", "polling_rate", "weight")}  # coverage is reported for these categories
SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # a product id that is also a safe file name
NUMBER = re.compile(r"([-+]?\d+(?:\.\d+)?)\s*([A-Za-z%]+)?")


def sheet_path(product_id: str) -> Path:
    """Where the convention puts ``product_id``'s sheet."""
    if not SAFE_ID.fullmatch(product_id) or ".." in product_id:
        raise RunnerError(f"product id {product_id!r} cannot name a spec sheet file (letters, digits, '.', '_', '-')",
                          retryable=False)
    return Path(os.environ.get(SPECS_ENV) or BUNDLED) / f"{product_id}.html"


def run(product: dict[str, Any], settings: Any, ctx: RunContext) -> dict[str, Any]:
    """One product's fields from its spec sheet."""
    product_id, category = str(product["product_id"]), str(product.get("category") or "")
    ctx.phase("locate")
    path = sheet_path(product_id)
    try:
        html = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunnerError(f"no spec sheet for {product_id}: expected {path} (set {SPECS_ENV} to the folder of sheets)",
                          retryable=False) from None
    except (OSError, UnicodeDecodeError) as exc:  # a share that hiccups may read next time
        raise RunnerError(f"cannot read the spec sheet {path}: {exc}") from None

    ctx.phase("parse")
    sheet = read_sheet(html)
    if not sheet.rows:
        raise RunnerError(f"spec sheet {path} has no <table class=\"specs\"> rows", retryable=False)
    source_url = sheet.canonical_url or path.resolve().as_uri()
    fields = []
    for row in sheet.rows:
        ctx.cancel.raise_if_cancelled()  # a force stop ends the run between rows
        fields.append(_field(row, source_url))

    ctx.phase("finalize")
    found = {f["field"] for f in fields}
    required = REQUIRED.get(category, ())
    missing = [name for name in required if name not in found]
    if missing:
        ctx.log(f"the sheet lacks {', '.join(missing)}", "warning")
    outcome: dict[str, Any] = {"runner": NAME, "product_id": product_id, "category": category, "fields": fields,
                               "confidence": CONFIDENCE if fields else 0.0, "conflicts": 0, "missing": missing}
    if required:  # a category without required fields reports no coverage, so the quality gate leaves it alone
        outcome["coverage"] = round((len(required) - len(missing)) / len(required), 4)
    return outcome


run.durable_dispatch = False  # type: ignore[attr-defined]  # in-process and quick (docs/runners.md)


def _field(row: Row, source_url: str) -> dict[str, Any]:
    """A sheet row as an evidence row: "26,000 dpi" -> 26000 "dpi"; text stays text."""
    value: Any = row.value
    unit = None
    number = NUMBER.fullmatch(row.value.replace(",", ""))
    if number:
        value = float(number.group(1))
        value = int(value) if value.is_integer() else value
        unit = number.group(2)
    snippet = hashlib.sha1(f"{source_url}\n{row.label}\n{row.value}".encode()).hexdigest()[:16]
    return {"field": _name(row.label), "value": value, "unit": unit, "confidence": CONFIDENCE, "tier": TIER,
            "source_url": source_url, "snippet_id": snippet}


def _name(label: str) -> str:
    """"Max DPI" -> "max_dpi"."""
    return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_") or "unnamed"

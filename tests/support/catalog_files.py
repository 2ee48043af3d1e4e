"""Writing catalog files for the catalog-loading tests: raw text or bytes, a JSON tree, JSON lines."""

from __future__ import annotations

import json
from pathlib import Path

from engine.core.catalog import Catalog
from engine.core.errors import CatalogProblem

HEADER = "product_id,category,brand,model,variant\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def write_tree(root: Path, files: dict[str, object]) -> Path:
    """Write ``{"mice/products/g502.json": {...} or raw text}`` under ``root``."""
    for rel, content in files.items():
        write(root / rel, content if isinstance(content, (str, bytes)) else json.dumps(content, indent=2))
    return root


def write_jsonl(path: Path, rows: list[object]) -> Path:
    return write(path, "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def product(pid: str = "p1", **fields: object) -> dict:
    return {"product_id": pid, "category": "mice", "brand": "Logitech", "model": "G502", **fields}


def only_problem(catalog: Catalog) -> CatalogProblem:
    assert len(catalog.problems) == 1, catalog.problems
    return catalog.problems[0]


GOOD_TREE = {"mice/products/g502.json": {"brand": "Logitech", "model": "G502"}}

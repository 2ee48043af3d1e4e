"""The offline source corpus: sources index, field definitions and documents, loaded once per process.

A corpus is a ``sources.jsonl`` (one source per line: ``source_id``, ``product_id``, ``category``,
``url``, ``domain``, ``tier``, ``doc_id``, ``layout``) plus, next to it, ``docs/<category>.jsonl.gz``
(gzip JSONL ``{"doc_id", "html"}``) and field definitions ``fields/<category>.json``. The embedded
corpus lives in ``<repo>/fixtures/corpus`` with its fields in ``<repo>/fixtures/fields``. A custom
corpus may bring its own ``fields`` directory (next to the index, or one level up as in the embedded
layout) and otherwise borrows the embedded definitions.

Everything loads lazily: the index on first use, each category's fields and documents on the first
product of that category. Loads are locked so concurrent workers load each thing exactly once, then
read it without a lock (the structures are never mutated after they are published).
"""

from __future__ import annotations

import gzip
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.runners.base import RunnerError
from engine.runners.harvest.extract import Extractor
from engine.runners.harvest.fields import FieldDef, parse_fields

REPO_ROOT = Path(__file__).resolve().parents[3]
EMBEDDED_SOURCES = REPO_ROOT / "fixtures" / "corpus" / "sources.jsonl"
EMBEDDED_FIELDS = REPO_ROOT / "fixtures" / "fields"

TIER_WEIGHT: dict[str, float] = {"manufacturer": 3.0, "lab_review": 2.0, "retailer": 1.0}
TIER_RANK: dict[str, int] = {"manufacturer": 0, "lab_review": 1, "retailer": 2}  # discovery order


@dataclass(frozen=True)
class Source:
    """One place a product's specs can be read from."""

    source_id: str
    product_id: str
    category: str
    url: str
    domain: str
    tier: str
    doc_id: str | None
    layout: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Source:
        return cls(source_id=str(row["source_id"]), product_id=str(row["product_id"]),
                   category=str(row.get("category") or ""), url=str(row.get("url") or ""),
                   domain=str(row.get("domain") or "").lower(), tier=str(row.get("tier") or "retailer"),
                   doc_id=str(row["doc_id"]) if row.get("doc_id") not in (None, "") else None,
                   layout=row.get("layout"))


class Corpus:
    """A sources index with its documents and field definitions; share one per path (``get_corpus``)."""

    def __init__(self, sources_path: Path) -> None:
        self.sources_path = sources_path
        self.root = sources_path.parent
        self.is_embedded = sources_path == EMBEDDED_SOURCES.resolve()
        self._lock = threading.Lock()
        self._by_product: dict[str, tuple[Source, ...]] | None = None
        self._fields: dict[str, tuple[FieldDef, ...]] = {}
        self._extractors: dict[str, Extractor] = {}
        self._docs: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ sources
    def sources(self, product_id: str) -> tuple[Source, ...]:
        """Every source of a product, best tier first (then by source_id, so the order is stable)."""
        index = self._by_product
        if index is None:
            with self._lock:
                if self._by_product is None:
                    self._by_product = self._load_index()
                index = self._by_product
        return index.get(product_id, ())

    def _load_index(self) -> dict[str, tuple[Source, ...]]:
        grouped: dict[str, list[Source]] = {}
        try:
            with self.sources_path.open(encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        source = Source.from_row(json.loads(line))
                    except (ValueError, KeyError, TypeError) as exc:
                        raise RunnerError(f"corpus index {self.sources_path}:{number} is not a valid source "
                                          f"({exc}); fix or remove that line", retryable=False) from None
                    grouped.setdefault(source.product_id, []).append(source)
        except OSError as exc:
            raise RunnerError(f"cannot read the corpus index {self.sources_path}: {exc.strerror or exc}; "
                              "set settings.corpus to a sources.jsonl", retryable=False) from None
        return {pid: tuple(sorted(rows, key=lambda s: (TIER_RANK.get(s.tier, 9), s.source_id)))
                for pid, rows in grouped.items()}

    # ------------------------------------------------------------------ fields
    def fields(self, category: str) -> tuple[FieldDef, ...]:
        """The field definitions of a category; a category without definitions cannot be harvested."""
        found = self._fields.get(category)
        if found is None:
            with self._lock:
                if category not in self._fields:
                    self._fields[category] = self._load_fields(category)
                found = self._fields[category]
        return found

    def extractor(self, category: str) -> Extractor:
        """The category's extractor (compiled label and prose patterns), built once."""
        found = self._extractors.get(category)
        if found is None:
            fields = self.fields(category)
            with self._lock:
                found = self._extractors.setdefault(category, Extractor(fields, category))
        return found

    def fields_dirs(self) -> list[Path]:
        """Where this corpus looks for ``<category>.json``, first match wins."""
        dirs = [self.root / "fields", self.root.parent / "fields"]
        if not self.is_embedded:
            dirs.append(EMBEDDED_FIELDS)
        seen: list[Path] = []
        for d in dirs:
            if d.resolve() not in [s.resolve() for s in seen]:
                seen.append(d)
        return seen

    def _load_fields(self, category: str) -> tuple[FieldDef, ...]:
        if not category or "/" in category or category.startswith("."):
            raise RunnerError(f"product category {category!r} cannot name a field definition file", retryable=False)
        for directory in self.fields_dirs():
            path = directory / f"{category}.json"
            if path.is_file():
                try:
                    return parse_fields(json.loads(path.read_text(encoding="utf-8")))
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    raise RunnerError(f"field definitions {path} are invalid ({exc}); fix that file",
                                      retryable=False) from None
        where = ", ".join(str(d) for d in self.fields_dirs())
        raise RunnerError(f"no field definitions for category {category!r} (looked for {category}.json in {where})",
                          retryable=False)

    # ------------------------------------------------------------------ documents
    def document(self, category: str, doc_id: str | None) -> str | None:
        """A document's HTML from the local docs, or None when the corpus does not hold it."""
        if not doc_id:
            return None
        docs = self._docs.get(category)
        if docs is None:
            with self._lock:
                if category not in self._docs:
                    self._docs[category] = self._load_docs(category)
                docs = self._docs[category]
        return docs.get(doc_id)

    def has_documents(self, category: str) -> bool:
        """Does the corpus hold documents for this category? (A remote-only corpus does not.)"""
        return (self.root / "docs" / f"{category}.jsonl.gz").is_file()

    def _load_docs(self, category: str) -> dict[str, str]:
        path = self.root / "docs" / f"{category}.jsonl.gz"
        docs: dict[str, str] = {}
        if not path.is_file():
            return docs  # remote-only corpus (or a category without documents): sources are fetched
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                        docs[str(row["doc_id"])] = str(row.get("html") or "")
                    except (ValueError, KeyError, TypeError):
                        continue  # one broken line loses one document, not the category
        except (OSError, EOFError) as exc:  # truncated gzip: keep what was read
            if not docs:
                raise RunnerError(f"cannot read corpus documents {path}: {exc}", retryable=False) from None
        return docs


_CORPORA: dict[Path, tuple[tuple[int, int], Corpus]] = {}
_CORPORA_LOCK = threading.Lock()


def get_corpus(path: str | None) -> Corpus:
    """The process-wide corpus for ``settings.corpus`` (None: the embedded one). Loaded once per
    process, and again only if its index file is replaced (a regenerated corpus)."""
    sources_path = Path(path).expanduser() if path else EMBEDDED_SOURCES
    key = sources_path.resolve()
    try:
        stat = key.stat()
    except OSError:
        hint = ("the embedded corpus is generated into fixtures/corpus" if not path
                else "settings.corpus must point at a sources.jsonl")
        raise RunnerError(f"corpus index {sources_path} does not exist; {hint}", retryable=False) from None
    version = (stat.st_mtime_ns, stat.st_size)
    with _CORPORA_LOCK:
        held = _CORPORA.get(key)
        if held is None or held[0] != version:
            held = _CORPORA[key] = (version, Corpus(key))
        return held[1]

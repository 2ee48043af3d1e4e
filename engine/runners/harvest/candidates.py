"""What one page states: its candidates, the page's extract, their evidence ids and the pick per field.

``Candidate`` is one value for one field with where it was found (an element plus a suffix, turned into
an XPath on demand) and the text it came from; ``PageExtract`` holds a page's candidates in page order
and its text blocks for the LLM. ``snippet_id`` gives the stable evidence id of a place on a page, and
``best_per_field`` picks what a page says about each field by ``METHOD_RANK`` (structured layouts over
prose, the first statement on a tie). The extractor (``extract``) fills these; the runner picks from them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from engine.runners.harvest.values import Parsed

# How much a layout is trusted when one page states a field twice: lower wins.
METHOD_RANK = {"json_ld": 0, "table": 1, "definition_list": 1, "bullets": 2, "pairs": 2, "prose": 3}


@dataclass(frozen=True)
class Candidate:
    """One value for one field on one page."""

    field: str
    value: Parsed
    method: str
    anchor: Any  # the element it was read from (None for JSON-LD)
    suffix: str  # the rest of the location: a JSON-LD path, a line or sentence number
    snippet: str
    order: int  # position on the page: the first statement wins a tie within a page

    @property
    def location(self) -> str:
        """The element's XPath plus the suffix; computed on demand (XPaths cost a sibling scan)."""
        if self.anchor is None:
            return self.suffix
        return self.anchor.getroottree().getpath(self.anchor) + self.suffix


@dataclass
class PageExtract:
    """Everything one page stated, in page order; ``parsed`` is False for a page that could not be read."""

    candidates: list[Candidate] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)  # visible text of the page's text blocks (for the LLM)
    parsed: bool = True
    truncated: bool = False


def snippet_id(content_hash: str, location: str) -> str:
    """Stable evidence id: the same page content and place always give the same id."""
    return hashlib.sha1(f"{content_hash}:{location}".encode()).hexdigest()[:16]


def best_per_field(candidates: list[Candidate]) -> dict[str, Candidate]:
    """What one page says about each field: its most structured statement, the first one on a tie."""
    best: dict[str, Candidate] = {}
    for c in candidates:
        held = best.get(c.field)
        if held is None or (METHOD_RANK[c.method], c.order) < (METHOD_RANK[held.method], held.order):
            best[c.field] = c
    return best

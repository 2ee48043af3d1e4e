"""Candidates from one cleaned page: every place it states a value for one of the category's fields.

Structured layouts first (JSON-LD ``additionalProperty``, spec tables, definition lists, "Label:
value" bullets and label/value pairs), then prose sentences for what they did not state. Each
candidate keeps where it was found (an XPath, or a path into the JSON-LD) for its snippet id, and
the text it came from for the evidence and the LLM.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from engine.runners.harvest.fields import FieldDef, LabelMatcher
from engine.runners.harvest.jsonld import json_ld_properties
from engine.runners.harvest.page import HEADINGS, parse_page, text_of
from engine.runners.harvest.prose import ProseReader, sentences
from engine.runners.harvest.values import UNIT_WORDS, Parsed, parse_value

# How much a layout is trusted when one page states a field twice: lower wins.
METHOD_RANK = {"json_ld": 0, "table": 1, "definition_list": 1, "bullets": 2, "pairs": 2, "prose": 3}
BLOCK_TAGS = frozenset({"div", "p", "li", "section", "article", "main", "table", "ul", "ol", "dl", "tr", "td",
                        "th", "dt", "dd", "blockquote", "figure", "header", "footer", "nav", "aside", "form",
                        "fieldset", "details", "summary", "tbody", "thead", "body", "html", *HEADINGS})
LEAF_TAGS = frozenset({"p", "li", "div", "section", "article", "blockquote", "figcaption"})
_KEY_VALUE = re.compile(r"^\s*([^:：\n]{1,60}?)\s*[:：]\s*(\S.*)$")
MAX_TEXT_BLOCKS = 400  # kept per page for the LLM's snippet search
MAX_CANDIDATES = 5_000  # per page: a hostile page cannot make extraction quadratic
MAX_PROSE_CHARS = 20_000  # of one text block read as sentences
MAX_SNIPPET = 300


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


class Extractor:
    """Extracts one category's fields; build one per category (it caches label matches)."""

    def __init__(self, fields: tuple[FieldDef, ...]) -> None:
        self.fields = fields
        self.by_name = {f.name: f for f in fields}
        self.matcher = LabelMatcher(fields, unit_words=UNIT_WORDS)
        self.prose = ProseReader(fields)

    def extract(self, html: str, product: dict[str, Any] | None = None) -> PageExtract:
        page = parse_page(html)
        if page.root is None:
            return PageExtract(parsed=False, truncated=page.truncated)
        out = PageExtract(truncated=page.truncated)
        for location, label, value in json_ld_properties(page.json_ld, product):
            self._add(out, label, value, "json_ld", None, location, f"{label}: {value}")
        body = page.root.find("body")
        scope = body if body is not None else page.root
        containers = _block_containers(scope)
        for el in scope.iter():
            if len(out.candidates) >= MAX_CANDIDATES:
                break  # no real spec page states this much; the rest is not worth reading
            tag = el.tag if isinstance(el.tag, str) else ""
            if tag == "tr":
                self._table_row(out, el)
            elif tag == "dl":
                self._definition_list(out, el)
            elif tag in LEAF_TAGS and el not in containers and not _inside(el, ("table", "dl")):
                self._text_block(out, el)
        return out

    # ------------------------------------------------------------------ layouts
    def _table_row(self, out: PageExtract, tr: Any) -> None:
        cells = [c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")]
        if len(cells) != 2:
            return  # header rows, multi-product grids
        label, value = text_of(cells[0]), text_of(cells[1])
        self._add(out, label, value, "table", tr, "", f"{label}: {value}")

    def _definition_list(self, out: PageExtract, dl: Any) -> None:
        label_el = None
        for el in dl.iter("dt", "dd"):
            if el.tag == "dt":
                label_el = el
            elif label_el is not None:
                label, value = text_of(label_el), text_of(el)
                self._add(out, label, value, "definition_list", el, "", f"{label}: {value}")
                label_el = None  # a second dd for the same dt is not another statement

    def _text_block(self, out: PageExtract, el: Any) -> None:
        children = [c for c in el if isinstance(c.tag, str) and c.tag != "br"]
        if len(children) == 2 and not (el.text or "").strip() and not any((c.tail or "").strip() for c in children):
            label, value = text_of(children[0]), text_of(children[1])
            if self._add(out, label, value, "pairs", el, "", f"{label}: {value}"):
                return
        try:
            raw = el.text_content()
        except ValueError:
            return
        if not raw.strip():
            return
        method = "bullets" if el.tag == "li" else "pairs"
        found = False
        for number, line in enumerate(raw.split("\n")):
            kv = _KEY_VALUE.match(line)
            if kv and self._add(out, kv.group(1), kv.group(2), method, el,
                                "" if number == 0 else f"#line{number}", " ".join(line.split())):
                found = True
        text = " ".join(raw.split())
        if len(out.texts) < MAX_TEXT_BLOCKS:
            out.texts.append(text[:2000])
        if found:
            return
        for number, sentence in enumerate(sentences(text[:MAX_PROSE_CHARS])):
            if len(out.candidates) >= MAX_CANDIDATES:
                return
            kv = _KEY_VALUE.match(sentence.rstrip("."))
            if kv and self._add(out, kv.group(1), kv.group(2), method, el, f"#s{number}", sentence):
                continue
            for field_name, parsed in self.prose.read(sentence):
                self._append(out, field_name, parsed, "prose", el, f"#s{number}", sentence)

    # ------------------------------------------------------------------ recording
    def _add(self, out: PageExtract, label: str, value: str, method: str, anchor: Any, suffix: str,
             snippet: str) -> bool:
        fd = self.matcher.match(label)
        if fd is None:
            return False
        parsed = parse_value(fd, value, label)
        if parsed is None:
            return False
        self._append(out, fd.name, parsed, method, anchor, suffix, snippet)
        return True

    @staticmethod
    def _append(out: PageExtract, field_name: str, parsed: Parsed, method: str, anchor: Any, suffix: str,
                snippet: str) -> None:
        out.candidates.append(Candidate(field_name, parsed, method, anchor, suffix,
                                        " ".join(snippet.split())[:MAX_SNIPPET], len(out.candidates)))


def _block_containers(scope: Any) -> set[Any]:
    """Elements with a block element inside; the others hold one statement's worth of text.
    (One pass: each block marks its ancestors until it meets one already marked. The set keeps
    the element proxies alive, so lxml hands back the same objects for the membership test.)"""
    containers: set[Any] = set()
    for el in scope.iter():
        if isinstance(el.tag, str) and el.tag in BLOCK_TAGS:
            for ancestor in el.iterancestors():
                if ancestor in containers:
                    break
                containers.add(ancestor)
    return containers


def _inside(el: Any, tags: tuple[str, ...]) -> bool:
    return any(isinstance(a.tag, str) and a.tag in tags for a in el.iterancestors())


def best_per_field(candidates: list[Candidate]) -> dict[str, Candidate]:
    """What one page says about each field: its most structured statement, the first one on a tie."""
    best: dict[str, Candidate] = {}
    for c in candidates:
        held = best.get(c.field)
        if held is None or (METHOD_RANK[c.method], c.order) < (METHOD_RANK[held.method], held.order):
            best[c.field] = c
    return best


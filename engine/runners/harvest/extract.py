"""Candidates from one cleaned page: every place it states a value for one of the category's fields.

Structured layouts first, then prose sentences for what they did not state. The extractor reads
structure, not one site's markup:

- structured data: JSON-LD and microdata (``extruct``) ``Product``s, only the one naming this product;
- tables of any width: label | value, label | value | unit, a "Unit" column, units in the label
  ("Weight (g)"), a header row of labels over one row of values, and comparison tables with several
  products' columns, of which only the column (or row) whose header names this product is read;
- definition lists (``dt``/``dd``, wrapped or not);
- any two-part block: an element whose only content is two children (``div``/``div``, ``div``/``p``,
  ``span``/``span``, ``h4``/``p``; a third child that is a unit joins the value);
- lines: "Label: value", "Label – value", "Label | value", tab-separated, ``<br>``-separated, and
  marketing bullets "【MULTI-MODE CONNECTION】 2.4G, BT or USB-C cable";
- "Dimensions: 900 x 400 x 4 mm" for a category with width/length/thickness fields.

Only the page's main content is read (``page.main_scope``); footnote lines ("* may vary") are not.
Every number must be plausible for its field (``values.plausible``). Each candidate keeps where it
was found (an XPath, or a path into the structured data) for its snippet id, and the text it came
from for the evidence and the LLM.

The records (``Candidate``, ``PageExtract``, ``snippet_id``, ``best_per_field``) live in ``candidates``,
reading a "W x L x H" value in ``dimensions``; all four are imported here, so imports from here still work.
"""

from __future__ import annotations

import re
from typing import Any

from engine.runners.harvest import vocab
from engine.runners.harvest.candidates import (  # noqa: F401  (best_per_field, snippet_id: re-exported)
    Candidate,
    PageExtract,
    best_per_field,
    snippet_id,
)
from engine.runners.harvest.dimensions import _DIMENSION_LABEL, _DIMENSION_WORDS, _dimension_values
from engine.runners.harvest.fields import FieldDef, LabelMatcher, normalise
from engine.runners.harvest.jsonld import json_ld_properties, microdata_items, names_product
from engine.runners.harvest.page import (
    COMPARE_MARK,
    HEADINGS,
    headed_block,
    main_scope,
    parse_page,
    text_of,
    value_text,
)
from engine.runners.harvest.prose import ProseReader, sentences
from engine.runners.harvest.values import (
    UNIT_WORDS,
    UNITS,
    Parsed,
    parse_value,
    plausible,
    strip_marks,
)

TABLE_TAGS = frozenset({"table", "thead", "tbody", "tfoot", "tr", "td", "th", "caption", "colgroup", "col"})
BLOCK_TAGS = frozenset({"div", "p", "li", "section", "article", "main", "table", "ul", "ol", "dl", "tr", "td",
                        "th", "dt", "dd", "blockquote", "figure", "header", "footer", "nav", "aside", "form",
                        "fieldset", "details", "summary", "tbody", "thead", "body", "html", *HEADINGS})
LEAF_TAGS = frozenset({"p", "li", "div", "section", "article", "blockquote", "figcaption", "pre"})
_KEY_VALUE = re.compile(r"^\s*([^:：|\t\n]{1,60}?)\s*(?:[:：|=]|\t+|\s[–—-]{1,2}\s|\.{3,}|…+| {2,})\s*(\S.*)$")
_BRACKET_LABEL = re.compile(r"^\s*[【\[〔]\s*([^】\]〕]{1,60}?)\s*[】\]〕]\s*[:：–—-]?\s*(\S.*)$")
_FOOTNOTE_LINE = re.compile(r"^\s*(?:[*†‡§¹²³⁴⁵⁶⁷⁸⁹]|\(\d\)|\[\d\]|note:|disclaimer:)", re.I)
_SEGMENTS = re.compile(r"\s+[|•·]\s+")  # "Weight: 54 g | Max DPI: 35K · Polling: 8 kHz"
_COLONS = re.compile(r"[^\s:：][:：]\s")
_TITLE_TAGS = frozenset({*HEADINGS, "strong", "b", "a", "header", "p", "span", "div", "figcaption", "dt", "caption"})
_VERBS = frozenset({"is", "are", "was", "were", "has", "have", "had", "can", "could", "will", "would", "feels", "feel",
                    "seems", "looks", "isn't", "aren't", "does", "doesn't", "makes", "gets", "comes"})
_INLINE_LABELS = frozenset({"strong", "b", "em", "span", "label", "dfn", "abbr", "th"})
MAX_PAIR_VALUE = 240  # a two-part block whose second part is longer is a section, not a value
MAX_TEXT_BLOCKS = 400  # kept per page for the LLM's snippet search
MAX_CANDIDATES = 5_000  # per page: a hostile page cannot make extraction quadratic
MAX_PROSE_CHARS = 20_000  # of one text block read as sentences
MAX_SNIPPET = 300


class Extractor:
    """Extracts one category's fields; build one per category (it caches label matches)."""

    def __init__(self, fields: tuple[FieldDef, ...], category: str | None = None) -> None:
        self.fields = fields
        self.category = category
        self.by_name = {f.name: f for f in fields}
        self.matcher = LabelMatcher(fields, unit_words=UNIT_WORDS)
        self.prose = ProseReader(fields)
        self.dimensions = all(n in self.by_name for n in ("width", "length"))
        self._brand = ""  # the product's maker, for the page being read

    def extract(self, html: str, product: dict[str, Any] | None = None) -> PageExtract:
        page = parse_page(html)
        if page.root is None:
            return PageExtract(parsed=False, truncated=page.truncated)
        out = PageExtract(truncated=page.truncated)
        self._brand = str((product or {}).get("brand") or "")
        for location, label, value in json_ld_properties([*page.json_ld, *microdata_items(page.root)], product):
            self._add(out, label, value, "json_ld", None, location, f"{label}: {value}")
        scope = main_scope(page.root)
        containers = _block_containers(scope)
        consumed: set[Any] = set()  # elements already read (a table, a two-part block) or not to be read
        for heading in scope.iter(*HEADINGS):
            if heading.tag != "h1" and self._names_another_product(text_of(heading), product):
                for block in headed_block(heading):
                    consumed.update(block.iter())
        for box in scope.iter("section", "article", "li", "div", "figure"):
            title = next((c for c in box if isinstance(c.tag, str) and text_of(c)), None)
            name = text_of(title) if title is not None and title.tag in _TITLE_TAGS else ""
            if name and len(name) <= 80 and not name.endswith(".") and box not in consumed and \
                    self._names_another_product(name, product):
                consumed.update(box.iter())  # an entry about another product: a round-up's card
        for el in scope.iter():
            if len(out.candidates) >= MAX_CANDIDATES:
                break  # no real spec page states this much; the rest is not worth reading
            if el in consumed:
                continue
            tag = el.tag if isinstance(el.tag, str) else ""
            if el.get(COMPARE_MARK) is not None:  # a comparison: only this product's column of its tables
                for table in (el.iter("table") if tag != "table" else [el]):
                    if table not in consumed:
                        self._table(out, table, product, keyed=True)
                        consumed.update(table.iter())
                consumed.update(el.iter())
                continue
            if tag == "table":
                self._table(out, el, product)
                consumed.update(el.iter())
            elif tag == "dl":
                self._definition_list(out, el)
                consumed.update(el.iter())
            elif tag in TABLE_TAGS or _inside(el, ("table", "dl")):
                continue
            elif self._two_part(out, el):
                consumed.update(el.iter())
            elif tag in LEAF_TAGS and el not in containers:
                self._text_block(out, el)
        return out

    @staticmethod
    def _names_another_product(heading: str, product: dict[str, Any] | None) -> bool:
        """A heading naming a maker (another, or this product's maker with another model) heads a
        section about another product: a round-up's other entries, "The Logitech G502 X"."""
        if not product or not heading or len(heading) > 120:
            return False
        brand = str(product.get("brand") or "")
        if names_product([heading], product) == 0:
            return False
        if brand and vocab.rival_brands(heading, brand):
            return True
        model = normalise(str(product.get("model") or ""))
        names_maker = bool(brand) and f" {normalise(brand)} " in f" {normalise(heading)} "
        return names_maker and bool(model) and any(ch.isdigit() for ch in heading) and \
            f" {model} " not in f" {normalise(heading)} "

    # ------------------------------------------------------------------ layouts
    def _table(self, out: PageExtract, table: Any, product: dict[str, Any] | None, keyed: bool = False) -> None:
        """``keyed``: a comparison, read only where a header names this product."""
        rows = [tr for tr in table.iter("tr") if next(tr.iterancestors("table"), None) is table]
        grid = [[c for c in tr if isinstance(c.tag, str) and c.tag in ("td", "th")] for tr in rows]
        if not grid:
            return
        header: list[str] | None = None
        first = grid[0]
        in_thead = rows[0].getparent() is not None and rows[0].getparent().tag == "thead"
        if len(first) >= 2 and (in_thead or all(c.tag == "th" for c in first)) and \
                (in_thead or len(first) > 2 or self.matcher.match(text_of(first[0])) is None):
            header = [text_of(c) for c in first]
            rows, grid = rows[1:], grid[1:]
        value_col, unit_col = 1, None
        if header is not None:
            names = [normalise(h) for h in header]
            unit_col = next((i for i, n in enumerate(names) if i > 0 and n in ("unit", "units", "uom")), None)
            columns = [i for i in range(1, len(header)) if i != unit_col]
            if self._transposed(out, header, rows, grid, product, keyed):
                return
            if len(columns) >= 2 or keyed:  # a comparison: only this product's column
                mine = names_product([header[i] for i in columns], product)
                if mine is None:
                    return
                value_col = columns[mine]
            elif columns:
                value_col = columns[0]
        elif keyed:
            return  # a comparison without a header row: whose values are whose is not said
        for tr, cells in zip(rows, grid):
            if len(out.candidates) >= MAX_CANDIDATES:
                return
            if len(cells) < 2 or value_col >= len(cells):
                continue
            label, value = text_of(cells[0]), value_text(cells[value_col])
            if unit_col is not None and unit_col < len(cells):
                value = f"{value} {text_of(cells[unit_col])}"
            elif header is None and len(cells) == 3 and _is_unit(text_of(cells[2])):
                value = f"{value} {text_of(cells[2])}"  # label | value | unit
            elif header is None and len(cells) > 2:
                continue  # a grid of several values per label, none known to be this product's
            self._add(out, label, value, "table", tr, "", f"{label}: {value}")

    def _transposed(self, out: PageExtract, header: list[str], rows: list[Any], grid: list[list[Any]],
                    product: dict[str, Any] | None, keyed: bool = False) -> bool:
        """A header row of labels over rows of values (one row, or one per product: this product's)."""
        if sum(1 for h in header if self.matcher.match(h) is not None) < 2:
            return False
        body = [(tr, cells) for tr, cells in zip(rows, grid) if len(cells) == len(header)]
        if len(body) > 1 or keyed:
            mine = names_product([text_of(cells[0]) for _, cells in body], product)
            body = [body[mine]] if mine is not None else []
        for tr, cells in body:
            for label, cell in zip(header, cells):
                value = value_text(cell)
                self._add(out, label, value, "table", tr, f"#col{cells.index(cell)}", f"{label}: {value}")
        return True

    def _definition_list(self, out: PageExtract, dl: Any) -> None:
        label_el = None
        for el in dl.iter("dt", "dd"):
            if el.tag == "dt":
                label_el = el
            elif label_el is not None:
                label, value = text_of(label_el), value_text(el)
                self._add(out, label, value, "definition_list", el, "", f"{label}: {value}")
                label_el = None  # a second dd for the same dt is not another statement

    def _two_part(self, out: PageExtract, el: Any) -> bool:
        """An element whose content is exactly a label part and a value part (a third part that is a
        unit joins the value): div/div, div/p, span/span, h4/p, li > strong + span ..."""
        if (el.text or "").strip():
            return False
        children = [c for c in el if isinstance(c.tag, str) and c.tag != "br" and text_of(c)]
        if len(children) == 1 and (children[0].tail or "").strip() and children[0].tag in _INLINE_LABELS:
            return self._bold_label(out, el, children[0])
        if len(children) not in (2, 3) or any((c.tail or "").strip() for c in children):
            return False
        parts = [text_of(children[0]), *(value_text(c) for c in children[1:])]
        if len(parts) == 3:
            if not _is_unit(parts[2]):
                return False
            parts = [parts[0], f"{parts[1]} {parts[2]}"]
        label, value = parts
        if len(value) > MAX_PAIR_VALUE or len(label) > 80:
            return False
        return self._add(out, label, value, "pairs", el, "", f"{label}: {value}")

    def _bold_label(self, out: PageExtract, el: Any, label_el: Any) -> bool:
        """"<p><strong>Weight</strong> 54 g</p>": an emphasised label, the rest of the line its value
        (with a separator, "Label: value" lines read it anyway)."""
        label = text_of(label_el)
        rest = " ".join((label_el.tail or "").split())
        if not label or not rest or label.rstrip().endswith((":", "：")) or rest[:1] in ":：|–—-":
            return False
        if rest.split(" ", 1)[0].lower() in _VERBS:
            return False  # "<b>Connectivity</b> is excellent ...": a sentence, not a value
        if len(rest) > MAX_PAIR_VALUE or len(label) > 80:
            return False
        return self._add(out, label, rest, "pairs", el, "", f"{label}: {rest}")

    def _text_block(self, out: PageExtract, el: Any) -> None:
        try:
            raw = el.text_content()
        except ValueError:
            return
        if not raw.strip() or _FOOTNOTE_LINE.match(raw):
            return
        method = "bullets" if el.tag == "li" else "pairs"
        found = False
        for number, line in enumerate(raw.split("\n")):
            if _FOOTNOTE_LINE.match(line):
                continue
            segments = _SEGMENTS.split(line) if len(_COLONS.findall(line)) >= 2 else [line]
            for part, segment in enumerate(segments):
                kv = _BRACKET_LABEL.match(segment) or _KEY_VALUE.match(segment)
                where = ("" if number == 0 else f"#line{number}") + (f"#part{part}" if part else "")
                if kv and self._add(out, kv.group(1), kv.group(2), method, el, where, " ".join(segment.split())):
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
            if self._brand and vocab.rival_brands(sentence, self._brand):
                continue  # a sentence about another maker's product
            if sentence.rstrip().endswith("?"):
                continue  # a question states nothing ("Does it support Bluetooth?")
            for field_name, parsed in self.prose.read(sentence):
                self._append(out, field_name, parsed, "prose", el, f"#s{number}", sentence)

    # ------------------------------------------------------------------ recording
    def _add(self, out: PageExtract, label: str, value: str, method: str, anchor: Any, suffix: str,
             snippet: str) -> bool:
        fd = self.matcher.match(label)
        if fd is None:
            return self._dimensions(out, label, value, method, anchor, suffix, snippet)
        parsed = parse_value(fd, value, label)
        if parsed is None:
            return False
        return self._append(out, fd.name, parsed, method, anchor, suffix, snippet)

    def _dimensions(self, out: PageExtract, label: str, value: str, method: str, anchor: Any, suffix: str,
                    snippet: str) -> bool:
        """"Dimensions (W x L x H): 900 x 400 x 4 mm" -> width, length, thickness (a pad is wider than deep)."""
        words = normalise(label).split()
        if not self.dimensions or not words or not set(words) & _DIMENSION_WORDS or not set(words) <= _DIMENSION_LABEL:
            return False
        found = _dimension_values(strip_marks(value), [w for w in words if w in ("w", "l", "h", "d", "t", "th")])
        added = False
        for name, parsed in found.items():
            if name in self.by_name:
                added |= self._append(out, name, parsed, method, anchor, f"{suffix}#{name}", snippet)
        return added

    def _append(self, out: PageExtract, field_name: str, parsed: Parsed, method: str, anchor: Any, suffix: str,
                snippet: str) -> bool:
        fd = self.by_name.get(field_name)
        if fd is not None and not plausible(fd, parsed, self.category):
            return False
        out.candidates.append(Candidate(field_name, parsed, method, anchor, suffix,
                                        " ".join(snippet.split())[:MAX_SNIPPET], len(out.candidates)))
        return True


def _is_unit(text: str) -> bool:
    key = text.strip().lower().strip("()[]")
    return bool(key) and (key in UNITS or key.replace(" ", "") in UNITS)


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

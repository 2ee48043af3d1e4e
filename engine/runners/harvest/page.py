"""A fetched page made safe to read: parsed with a size cap, scripts and page furniture removed.

What is removed never reaches extraction: ``<script>`` (hostile ones included; JSON-LD is read
first and handed over as data), styles, templates, embedded objects, hidden elements, and the
containers that hold *other* products' numbers or no product at all: navigation, headers and
footers, asides, cookie banners, ads, "compare" and "customers also viewed" blocks, sidebars, and
text that is not a statement of the page's own specs: tooltips and screen-reader-only text inside
labels ("Weight <span class=sr-only>(without cable)</span>"), footnotes and fine print ("* may vary
by up to 2 g"), footnote superscripts ("40 kHz<sup>1</sup>", but m<sup>2</sup> stays m²).
``main_scope`` is the page's main content: its ``<main>`` (or ``[role=main]``) when it has one.

Removed elements are emptied in place rather than unlinked, so every remaining element keeps the
XPath it had in the original page: snippet ids point at the page as it was served.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import lxml.html
from lxml import etree

MAX_PARSE_BYTES = 2_000_000  # bigger pages are cut here: enough for any real spec page
MAX_JSON_LD_BYTES = 500_000

DROP_TAGS = frozenset({"script", "style", "noscript", "template", "iframe", "object", "embed", "svg",
                       "canvas", "button", "select", "option", "input", "textarea", "math", "video", "audio"})
NOISE_TAGS = frozenset({"nav", "footer", "aside", "header", "dialog"})
# Whole class/id words that mark furniture ("ad" only as a word: "header", "shadow" are fine).
NOISE_WORDS = frozenset({"ad", "ads", "adv", "advert", "adverts", "advertisement", "advertising", "sponsored",
                         "promo", "promotion", "cookie", "cookies", "consent", "gdpr", "banner", "related", "recommend",
                         "recommended", "recommendation",
                         "recommendations", "upsell", "crosssell", "similar", "newsletter", "breadcrumb",
                         "breadcrumbs", "modal", "popup", "share", "social", "viewed", "alsoviewed", "sidebar",
                         "tooltip", "tooltiptext", "tippy", "popover", "footnote", "footnotes", "fineprint",
                         "disclaimer", "disclaimers", "legal"})
# Screen-reader-only text: kept aside (SR_MARK), read as a value only when the visible value is empty
# (a check-mark icon with "Yes" for screen readers), never as part of a label.
SR_WORDS = frozenset({"sronly", "offscreen"})
SR_SUBSTRINGS = ("sr-only", "visually-hidden", "visuallyhidden", "screen-reader", "screenreader", "a11y-hidden",
                 "assistive-text", "sr_only", "u-hidden-visually")
SR_MARK = "data-indexlab-sr"
NOISE_SUBSTRINGS = ("related", "also-viewed", "also_viewed", "alsoviewed", "recommend", "cookie",
                    "banner", "you-may-also", "also-bought", "cross-sell", "crosssell", "upsell", "similar-products",
                    "carousel", "product-card", "product-tile",  # listings of other products
                    "fine-print", "foot-note", "tool-tip")  # text that is not a spec statement
# A heading that introduces other products: the block it heads is furniture too.
NOISE_HEADING = re.compile(r"\b(also (viewed|bought|like)|you may (also )?like|similar (products|items|models)|"
                           r"related (products|items)|recommended( for you)?|"
                           r"other (products|models|options)|frequently bought|more from|people also|"
                           r"customers (also )?(bought|viewed|purchased|like)|you might (also )?like|more like this|"
                           r"top picks|best sellers|alternatives?|shop similar|see also|sponsored|"
                           r"popular (products|models|picks))\b", re.I)
# Comparisons state several products' values side by side: kept, marked (COMPARE_MARK), and read
# only through the column or row whose header names this product (extract._table).
COMPARE_WORDS = frozenset({"compare", "comparison", "versus", "vs", "comparisons"})
COMPARE_HEADING = re.compile(r"\b(compare( with| to| similar)?|comparison|versus|vs\.?|how it compares|"
                             r"head[- ]to[- ]head)\b", re.I)
COMPARE_MARK = "data-indexlab-compare"
_HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass
class CleanPage:
    """The cleaned tree (None for an empty or unparseable page) and the JSON-LD objects it carried."""

    root: Any
    json_ld: list[Any] = field(default_factory=list)
    truncated: bool = False


def parse_page(html: str) -> CleanPage:
    """Parse and clean a page. Never raises: a page that cannot be read yields an empty page."""
    data = html.encode("utf-8", errors="replace")
    truncated = len(data) > MAX_PARSE_BYTES
    if truncated:
        data = data[:MAX_PARSE_BYTES].decode("utf-8", errors="ignore").encode("utf-8")
    if not data.strip():
        return CleanPage(None, truncated=truncated)
    parser = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True,
                                  no_network=True, recover=True)
    try:
        root = etree.fromstring(data, parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return CleanPage(None, truncated=truncated)
    if root is None:
        return CleanPage(None, truncated=truncated)
    json_ld = _read_json_ld(root)
    _clean(root)
    return CleanPage(root, json_ld, truncated)


def _read_json_ld(root: Any) -> list[Any]:
    found = []
    for script in root.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json":
            continue
        text = (script.text or "").strip()
        if not text or len(text) > MAX_JSON_LD_BYTES:
            continue
        try:
            found.append(json.loads(text))
        except (ValueError, RecursionError):
            continue  # broken JSON-LD is ignored, as browsers and crawlers do
    return found


def _empty(el: Any) -> None:
    """Remove the element's content but keep it (and its tail text) so sibling XPaths do not shift."""
    tail = el.tail
    el.clear()
    el.tail = tail


def is_noise(el: Any) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in NOISE_TAGS:
        return True
    if el.get("hidden") is not None or (el.get("aria-hidden") or "").lower() == "true":
        return True
    style = el.get("style")
    if style and _HIDDEN_STYLE.search(style):
        return True
    marks = " ".join(filter(None, (el.get("class"), el.get("id"), el.get("role"), el.get("data-section")))).lower()
    if not marks:
        return False
    if marks.strip() in ("banner", "navigation", "complementary", "contentinfo", "tooltip", "note"):  # ARIA roles
        return True
    if any(s in marks for s in NOISE_SUBSTRINGS):
        return True
    return any(word in NOISE_WORDS for word in _WORD_SPLIT.split(marks))


def _comparison(el: Any) -> bool:
    marks = " ".join(filter(None, (el.get("class"), el.get("id"), el.get("data-section")))).lower()
    return bool(marks) and ("compare" in marks or any(w in COMPARE_WORDS for w in _WORD_SPLIT.split(marks)))


def _screen_reader_only(el: Any) -> bool:
    marks = " ".join(filter(None, (el.get("class"), el.get("id")))).lower()
    return bool(marks) and (any(s in marks for s in SR_SUBSTRINGS) or
                            any(w in SR_WORDS for w in _WORD_SPLIT.split(marks)))


def _clean(root: Any) -> None:
    doomed = []
    for el in root.iter():
        if not isinstance(el.tag, str) or el.tag in DROP_TAGS or is_noise(el):  # comments / entities left by recover mode
            doomed.append(el)
        elif _comparison(el):
            el.set(COMPARE_MARK, "1")
        elif _screen_reader_only(el):
            el.set(SR_MARK, "1")
            root.set(SR_MARK, "page")  # text_of looks for marked elements only on pages that have some
    for heading in root.iter(*HEADINGS):
        heading_text = text_of(heading)
        if NOISE_HEADING.search(heading_text):
            doomed.extend(headed_block(heading))
        elif COMPARE_HEADING.search(heading_text):
            for el in headed_block(heading)[1:]:
                el.set(COMPARE_MARK, "1")
    for sup in root.iter("sup"):
        if not _unit_power(sup):
            doomed.append(sup)
    for el in doomed:
        _empty(el)
    for br in root.iter("br"):
        br.tail = "\n" + (br.tail or "")


def _unit_power(sup: Any) -> bool:
    """<sup>2</sup> after "m" (cd/m<sup>2</sup>): part of a unit, not a footnote mark."""
    prev = sup.getprevious()
    before = (prev.tail if prev is not None else sup.getparent().text if sup.getparent() is not None else "") or ""
    return before.rstrip().endswith("m") and (sup.text or "").strip() in ("2", "²")


def main_scope(root: Any) -> Any:
    """The page's main content (``<main>``, ``[role=main]``, else ``<body>``): navigation, sidebars
    and footers outside it are not read even when their markup has no telling class."""
    for el in root.iter("main", "div", "section", "article"):
        if (el.tag == "main" or (el.get("role") or "").lower() == "main") and text_of(el):
            return el
    body = root.find("body")
    return body if body is not None else root


def headed_block(heading: Any) -> list[Any]:
    """The heading and what it heads: its following siblings up to the next heading of the same or
    a higher level (when the heading is alone in its container, that is the whole container's rest)."""
    level = int(heading.tag[1])
    block = [heading]
    for sibling in heading.itersiblings():
        tag = sibling.tag if isinstance(sibling.tag, str) else ""
        if tag in HEADINGS and int(tag[1]) <= level:
            break
        if tag in HEADINGS or any(True for _ in sibling.iter(*[f"h{i}" for i in range(1, level + 1)])):
            break  # a container holding a same-level heading starts a new block
        block.append(sibling)
    return block


def text_of(el: Any) -> str:
    """The element's visible text, whitespace collapsed (line breaks from ``<br>`` become spaces);
    screen-reader-only text is not part of it."""
    try:
        if el.get(SR_MARK) == "1":
            return ""
        if el.getroottree().getroot().get(SR_MARK) is None or el.find(f".//*[@{SR_MARK}]") is None:
            text = el.text_content()
        else:
            text = "".join(_visible_text(el))
    except ValueError:
        return ""
    return " ".join(text.split())


def _visible_text(el: Any) -> list[str]:
    parts = [el.text or ""]
    for child in el:
        if isinstance(child.tag, str) and child.get(SR_MARK) != "1":
            parts.extend(_visible_text(child))
        parts.append(child.tail or "")
    return parts


VALUE_BREAKS = frozenset({"li", "p", "div", "br", "dd", "tr", "td", "th", "section", "ul", "ol"})


def value_text(el: Any) -> str:
    """A value's text: items in separate blocks (``<li>``, ``<br>``, ``<p>``) joined by ", " so a
    list reads as a list; when nothing is visible, its screen-reader text or an icon's label ("Yes")."""
    parts: list[str] = []

    def walk(node: Any) -> None:
        parts.append(node.text or "")
        for child in node:
            if isinstance(child.tag, str) and child.get(SR_MARK) != "1":
                if child.tag in VALUE_BREAKS:
                    parts.append("\n")
                walk(child)
                if child.tag in VALUE_BREAKS:
                    parts.append("\n")
            parts.append(child.tail or "")

    try:
        walk(el)
    except (ValueError, RecursionError):
        return text_of(el)
    lines = [" ".join(line.split()) for line in "".join(parts).split("\n")]
    text = ", ".join(line for line in lines if line)
    if text:
        return text
    hidden = " ".join(el.text_content().split()) if el.find(f".//*[@{SR_MARK}]") is not None else ""
    if hidden:
        return hidden
    for node in el.iter():
        for attr in ("aria-label", "title", "alt"):
            label = node.get(attr) if isinstance(node.tag, str) else None
            if label and label.strip():
                return " ".join(label.split())
    return ""

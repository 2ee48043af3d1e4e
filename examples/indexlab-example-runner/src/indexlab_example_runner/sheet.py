"""Reading a spec sheet: the rows of its ``<table class="specs">`` and its canonical URL (standard library only)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass(frozen=True)
class Row:
    label: str
    value: str


@dataclass
class Sheet:
    rows: list[Row] = field(default_factory=list)
    canonical_url: str | None = None


class _SheetParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sheet = Sheet()
        self._depth = 0  # inside the specs table: its <table> nesting depth
        self._cell: str | None = None  # "th" or "td" while inside one
        self._text: list[str] = []
        self._label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and (a.get("rel") or "").lower() == "canonical" and a.get("href"):
            self.sheet.canonical_url = a["href"]
        if tag == "table":
            if self._depth or "specs" in (a.get("class") or "").split():
                self._depth += 1
        elif self._depth and tag in ("th", "td"):
            self._cell, self._text = tag, []
        elif self._depth and tag == "tr":
            self._label = None

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._depth:
            self._depth -= 1
        elif self._depth and tag == self._cell:
            text = " ".join("".join(self._text).split())
            if self._cell == "th":
                self._label = text
            elif self._label:
                self.sheet.rows.append(Row(self._label, text))
                self._label = None
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell:
            self._text.append(data)


def read_sheet(html: str) -> Sheet:
    parser = _SheetParser()
    parser.feed(html)
    parser.close()
    return parser.sheet

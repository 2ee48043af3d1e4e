"""Plain text in the two widgets that would render it as HTML (DESIGN §7: product, catalog, outcome and
job text is plain text wherever it is shown).

- Tabulator's ``tooltip: true`` sets the cell's value as the tooltip's ``innerHTML``; a function that
  returns an element is shown as that element, so ``TEXT_TOOLTIP`` returns one holding a text node.
- Bokeh's MultiChoice passes option labels to Choices.js without ``allowHTML: false``, so Choices.js
  sets each label as ``innerHTML``: ``option_labels`` escapes the labels, which then read as the text
  itself, while the widget's values stay the raw strings.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from panel.io import JSCode

# The cell's text as the grid shows it (formatted: dates, percentages), in full; no tooltip for an empty cell.
TEXT_TOOLTIP = JSCode("""(event, cell) => {
  const text = (cell.getElement().textContent || "").trim();
  if (!text) return "";
  const tip = document.createElement("div");
  tip.textContent = text;
  return tip;
}""")


def colored_text(colors: dict[str, str]) -> JSCode:
    """A Tabulator formatter: the cell's value as text (a text node, never HTML) in ``colors[value]``, bold."""
    table = ", ".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in colors.items())
    return JSCode(f"""(cell) => {{
  const value = cell.getValue() == null ? "" : String(cell.getValue());
  const span = document.createElement("span");
  span.textContent = value;
  span.style.color = ({{{table}}})[value] || "";
  span.style.fontWeight = "600";
  return span;
}}""")


def option_labels(values: Iterable[str]) -> dict[str, str]:
    """MultiChoice ``options`` for ``values``: {label that Choices.js shows as the text itself: value}."""
    return {html.escape(value): value for value in values}

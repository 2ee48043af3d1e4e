"""Dimension statements: "Dimensions (W x L x H): 900 x 400 x 4 mm" read as width, length and thickness.

Which labels announce dimensions (``_DIMENSION_WORDS``, and the words such a label may be made of,
``_DIMENSION_LABEL``), and ``_dimension_values``: a value of two or three sizes split on "x"/"by", each
converted to mm (in its own unit, else the unit stated elsewhere in the value) and assigned to fields by
the tags next to the numbers ("W", "thick"), else by the order the label gives, else wider-than-deep.
The extractor (``extract``) calls it for a label no field matches, in a category with width and length.
"""

from __future__ import annotations

import re

from engine.runners.harvest.values import Parsed, convert, quantities, tidy_number

_DIMENSION_WORDS = frozenset({"dimensions", "dimension", "size", "measurements"})
_DIMENSION_LABEL = frozenset({*_DIMENSION_WORDS, "product", "item", "pad", "mousepad", "mat", "overall", "approx",
                              "w", "l", "h", "d", "x", "t", "th", "mm", "cm", "in", "inches"})
_DIMENSION_SPLIT = re.compile(r"\s*(?:[x×*✕]|\bby\b)\s*", re.I)
_DIMENSION_TAG = re.compile(r"(?:^|[\d\s\"”])(?P<tag>width|length|depth|height|thickness|thick|th|w|l|d|h|t)\b\.?", re.I)
_TAG_FIELD = {"w": "width", "width": "width", "l": "length", "length": "length", "d": "length", "depth": "length",
              "h": "thickness", "height": "thickness", "t": "thickness", "th": "thickness", "thick": "thickness",
              "thickness": "thickness"}


def _dimension_values(value: str, order: list[str]) -> dict[str, Parsed]:
    parts = [p for p in _DIMENSION_SPLIT.split(value) if p.strip()]
    if not 2 <= len(parts) <= 3:
        return {}
    shared = next((q.unit for p in reversed(parts) for q in quantities(p) if q.unit and not q.unit.startswith("?")), "")
    if not shared:
        return {}
    sized: list[tuple[str | None, Parsed]] = []
    for part in parts:
        qs = [q for q in quantities(part) if not q.unit.startswith("?") or len(q.unit) <= 3]
        if len(qs) != 1:
            return {}
        q = qs[0]
        unit = q.unit if q.unit and not q.unit.startswith("?") else shared
        parsed = convert(type(q)(q.value, q.decimals, unit, q.start, q.end, q.multiplied, q.num_end), "mm")
        if parsed is None:
            return {}
        tag = _DIMENSION_TAG.search(part[q.num_end:] if q.num_end >= 0 else part)
        sized.append((_TAG_FIELD.get(tag.group("tag").lower()) if tag else None,
                      Parsed(tidy_number(round(parsed.value, 1)), parsed.tolerance)))
    if all(t is not None for t, _ in sized) and len({t for t, _ in sized}) == len(sized):
        return {t: p for t, p in sized if t}
    if len(order) == len(sized) and len(set(order)) == len(order):
        return {_TAG_FIELD[t]: p for t, (_, p) in zip(order, sized)}
    (_, a), (_, b) = sized[0], sized[1]
    found = {"width": max(a, b, key=lambda p: p.value), "length": min(a, b, key=lambda p: p.value)}
    if len(sized) == 3:
        found["thickness"] = sized[2][1]
    return found

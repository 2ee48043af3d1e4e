"""Reading numbers from the text a page shows: units and their factors, every number with its unit
("100-26,000 DPI", "26K"), conversion to the field's canonical unit with a tolerance from the digits
printed, combined units ("2 lb 1.6 oz"), ranges, and the label's unit for a bare number.

``values`` builds on this for every field type; the names here stay importable from there.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.runners.harvest import vocab
from engine.runners.harvest.fields import FieldDef, normalise

# unit token (lowercase) -> (dimension, factor to the dimension's base unit)
UNITS: dict[str, tuple[str, float]] = {}


def _units(dimension: str, factor: float, *tokens: str) -> None:
    for token in tokens:
        UNITS[token] = (dimension, factor)


_units("mass", 1.0, "g", "gr", "gram", "grams", "gramm", "grammes", "gramme")
_units("mass", 1000.0, "kg", "kilogram", "kilograms", "kilo", "kilos")
_units("mass", 453.59237, "lb", "lbs", "pound", "pounds")
_units("mass", 28.349523125, "oz", "ounce", "ounces")
_units("resolution", 1.0, "dpi", "cpi")
_units("frequency", 1.0, "hz", "hertz")
_units("frequency", 1000.0, "khz", "kilohertz")
_units("frequency", 1e6, "mhz")
_units("frequency", 1e9, "ghz")
_units("length", 1.0, "mm", "millimeter", "millimeters", "millimetre", "millimetres")
_units("length", 10.0, "cm", "centimeter", "centimeters", "centimetre", "centimetres")
_units("length", 1000.0, "m", "meter", "meters", "metre", "metres")
_units("length", 25.4, "in", "inch", "inches", '"', "″", "”", "''", "“")
_units("length", 304.8, "ft", "feet", "foot")
_units("time", 1.0, "ms", "msec", "millisecond", "milliseconds")
_units("time", 1000.0, "s", "sec", "secs", "second", "seconds")
_units("time", 60_000.0, "min", "mins", "minute", "minutes")
_units("time", 3_600_000.0, "h", "hr", "hrs", "hour", "hours")
_units("time", 86_400_000.0, "day", "days")
_units("luminance", 1.0, "nits", "nit", "cd/m2", "cd/m²", "cdm2")
_units("resistance", 1.0, "ohm", "ohms", "ω", "Ω", "Ω")
_units("resistance", 1000.0, "kohm", "kω")

# Canonical unit names as field definitions write them -> the UNITS token they equal.
CANONICAL = {"g": "g", "dpi": "dpi", "hz": "hz", "in": "in", "inch": "in", "ms": "ms", "h": "h",
             "hours": "h", "mm": "mm", "m": "m", "kg": "kg", "cm": "cm", "khz": "khz", "nits": "nits",
             "cd/m2": "nits", "ohm": "ohm", "ohms": "ohm", "Ω": "ohm", "ω": "ohm"}
UNIT_WORDS = frozenset(UNITS) | frozenset({"k"})

_NUMBER = r"(?<![\w.,])(?P<num>\d{1,3}(?:(?:,|\u202f|\u00a0|\u2009| )\d{3})+(?:\.\d+)?|\d+(?:[.,]\d+)?|\.\d+)"
_QUANTITY = re.compile(
    _NUMBER
    + r"(?:\s?(?P<mult>[kK])(?![a-zA-Z]))?"
    + r"(?:\s?-?\s?(?P<unit>''|[\"″”“Ω\u2126]|cd/m[2²]|[a-zA-Zµ]+\b))?"
)
_RANGE_JOIN = re.compile(r"^\s*(?:-|–|—|~|to)\s*$")


@dataclass(frozen=True)
class Quantity:
    """A number as printed, with its unit token (lowercase; "" when none) and where it starts."""

    value: float
    decimals: int  # digits after the decimal point as printed
    unit: str
    start: int
    end: int
    multiplied: bool = False  # "26K"
    num_end: int = -1  # where the number itself ends (before any multiplier or unit)


@dataclass(frozen=True)
class Parsed:
    """A canonical value; numbers carry their tolerance in canonical units."""

    value: Any
    tolerance: float = 0.0


def _to_float(text: str) -> tuple[float, int]:
    raw = text.replace("\u202f", "").replace("\u00a0", "").replace("\u2009", "").replace(" ", "")
    if "," in raw and "." not in raw and re.fullmatch(r"\d+,\d{1,2}", raw):  # "1,5" is a decimal comma
        raw = raw.replace(",", ".")
    raw = raw.replace(",", "")
    decimals = len(raw.split(".", 1)[1]) if "." in raw else 0
    return float(raw), decimals


def quantities(text: str) -> list[Quantity]:
    """Every number in ``text`` with the unit printed after it. A range's first number borrows the
    second's unit ("100-26,000 DPI")."""
    found: list[Quantity] = []
    for m in _QUANTITY.finditer(text):
        try:
            value, decimals = _to_float(m.group("num"))
        except ValueError:
            continue
        unit = (m.group("unit") or "").lower()
        multiplied = bool(m.group("mult"))
        if multiplied:
            value *= 1000.0
        if unit and unit not in UNITS:
            unit = "?" + unit  # some other word: "2x", "GtG"; not a unit we know
        found.append(Quantity(value, decimals, unit, m.start(), m.end(), multiplied, m.end("num")))
    for i in range(len(found) - 1):
        a, b = found[i], found[i + 1]
        if not a.unit and b.unit and not b.unit.startswith("?") and _RANGE_JOIN.match(text[a.end:b.start]):
            found[i] = Quantity(a.value, a.decimals, b.unit, a.start, a.end, a.multiplied, a.num_end)
    return found


def canonical_unit(fd: FieldDef) -> str | None:
    if not fd.unit:
        return None
    key = fd.unit.strip().lower()
    return CANONICAL.get(key, key)


def convert(q: Quantity, target: str | None) -> Parsed | None:
    """``q`` in the ``target`` unit token, or None when its unit is of another kind."""
    if q.unit.startswith("?"):
        return None
    half_step = 0.5 * 10.0 ** -q.decimals * (1000.0 if q.multiplied else 1.0)
    if target is None or not q.unit or q.unit == target:
        return Parsed(q.value, half_step)
    if target not in UNITS or q.unit not in UNITS:
        return None
    (dim_from, f_from), (dim_to, f_to) = UNITS[q.unit], UNITS[target]
    if dim_from != dim_to:
        return None
    ratio = f_from / f_to
    return Parsed(_round_sig(q.value * ratio, q), half_step * ratio)


def _round_sig(value: float, q: Quantity) -> float:
    """Keep as many significant digits as the page printed (at least three)."""
    if value == 0:
        return 0.0
    printed = len(re.sub(r"\D", "", f"{q.value:.{q.decimals}f}").lstrip("0")) or 1
    digits = max(3, printed)
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def tidy_number(value: float) -> int | float:
    value = round(value, 6)
    return int(value) if float(value).is_integer() else value


def parse_number(fd: FieldDef, text: str, label: str = "") -> Parsed | None:
    """The field's number in ``text``: a number with a compatible unit first, else a bare number
    (in the label's unit when it names one, else the canonical unit)."""
    target = canonical_unit(fd)
    found = quantities(text)
    if not found and fd.unit is None:  # a count in words: "two back paddles", "no back buttons"
        word = next((vocab.NUMBER_WORDS[w] for w in normalise(text).split()[:3] if w in vocab.NUMBER_WORDS), None)
        return None if word is None else Parsed(word, 0.5)
    if not found:
        return None
    compatible = [(q, p) for q in found if q.unit and (p := convert(q, target)) is not None]
    if compatible:
        combined = _combined(text, compatible)
        if combined is not None:
            return finish_number(combined)
        if len(compatible) > 1 and _is_range(text, compatible[0][0], compatible[1][0]):
            pair = compatible[:2]
            pick = min(pair, key=lambda qp: qp[1].value) if _wants_min(fd) else max(pair, key=lambda qp: qp[1].value)
            return finish_number(pick[1])
        if fd.name in vocab.MAXIMUM_FIELDS and len(compatible) > 1:  # "70 h (RGB off), 40 h (RGB on)"
            return finish_number(max((p for _, p in compatible), key=lambda p: p.value))
        return finish_number(compatible[0][1])
    bare = [q for q in found if not q.unit]
    if not bare:
        return None
    q = bare[0]
    label_unit = _label_unit(label)
    if label_unit:
        q = Quantity(q.value, q.decimals, label_unit, q.start, q.end, q.multiplied)
    parsed = convert(q, target)
    return finish_number(parsed) if parsed else None


_COMBINE_JOIN = re.compile(r"^\s*(?:,|and|\+)?\s*$")


def _combined(text: str, compatible: list[tuple[Quantity, Parsed]]) -> Parsed | None:
    """"2 lb 1.6 oz", "5 ft 11 in": a larger unit followed by a smaller one of the same kind add up."""
    if len(compatible) < 2:
        return None
    (a, pa), (b, pb) = compatible[0], compatible[1]
    if a.unit == b.unit or not _COMBINE_JOIN.match(text[a.end:b.start]):
        return None
    if UNITS[a.unit][0] != UNITS[b.unit][0] or UNITS[a.unit][1] <= UNITS[b.unit][1]:
        return None
    return Parsed(float(pa.value) + float(pb.value), pa.tolerance + pb.tolerance)


def finish_number(p: Parsed) -> Parsed:
    return Parsed(tidy_number(p.value), p.tolerance)


def _is_range(text: str, a: Quantity, b: Quantity) -> bool:
    return bool(_RANGE_JOIN.match(text[a.end:b.start]))


def _wants_min(fd: FieldDef) -> bool:
    return "min" in fd.name.split("_")


def _label_unit(label: str) -> str | None:
    for word in reversed(normalise(label.replace('"', " in ")).split()):
        if word in UNITS:
            return word
    return None

"""Turning the text a page shows into a field's canonical value.

Numbers come with their unit (or the label's unit, or none: then the canonical one is assumed),
are converted to the field's canonical unit and carry a *tolerance*: how far the true value may
be from what the page shows, given the digits it printed ("0.13 lb" is 59 g give or take 2.3 g,
"26K DPI" is 26,000 give or take 500). Reconcile compares values within that tolerance (and 1%),
so a rounded imperial figure agrees with the exact metric one instead of contradicting it.

Before a value is read, footnote marks go ("40 kHz*", "0.716 kg²", "58 g [1]"; not the ² of
cd/m²). Numbers: number words count ("two back paddles"), combined units add up ("2 lb 1.6 oz"),
a range gives its maximum (its minimum for a ``min`` field). Lists and enums: an item naming no
choice outright is looked up in ``vocab.SYNONYMS`` (USB-C cable -> Wired, 2.4G -> 2.4 GHz wireless,
BT -> Bluetooth, PS5 -> PlayStation, DP 1.4 -> DisplayPort 1.4, Tenkeyless -> TKL). Text: a
frequency response becomes "20 Hz - 20 kHz", a sensor loses a trailing "sensor". ``plausible``
rejects numbers no product of the field could have.

(pint was considered for units: page spellings such as "K DPI", "cd/m²", "nits", "lbs", '27"' and
"8K Hz" are not pint units, so a token table stays; conversions are plain factors.)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from engine.runners.harvest import vocab
from engine.runners.harvest.fields import FieldDef, normalise

REL_TOLERANCE = 0.01  # numbers within 1% are the same value
MAX_ROUNDING = 0.1  # a rounded figure agrees with values at most 10% away, however coarse its digits

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
_BOOL_TRUE = {"yes", "y", "true", "1", "supported", "included", "available", "present", "on", "with",
              "✓", "✔", "✅", "☑", "✓ yes", "yes ✓"}
_BOOL_FALSE = {"no", "n", "false", "0", "not supported", "unsupported", "not included", "none", "absent",
               "off", "without", "not available", "✗", "✘", "×", "❌", "✕", "-", "—", "–", "n a"}
_LIST_SPLIT = re.compile(r"\s*(?:[,;|•·/+]|\band\b|\bor\b|&)\s*(?![^()]*\))")
MAX_TEXT = 200


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


def parse_bool(text: str) -> bool | None:
    key = text.strip().lower().rstrip(".!")
    key = _INVISIBLE.sub("", key)
    if key in _BOOL_TRUE or normalise(key) in _BOOL_TRUE:
        return True
    if key in _BOOL_FALSE or normalise(key) in _BOOL_FALSE:
        return False
    first = normalise(key).split(" ", 1)[0] if normalise(key) else ""
    if first in ("yes", "true"):
        return True
    if first in ("no", "false", "none"):
        return False
    return None


_NEGATED = re.compile(r"\b(no|not|none|without|non|lacks?|n/a|unavailable)\b|n't\b", re.I)
_CURVE = re.compile(r"\b\d{3,4}\s?r\b", re.I)


def _described_bool(fd: FieldDef, text: str) -> bool | None:
    """A feature described instead of yes/no: "Dual rumble motors" (vibration), "Per-key RGB" (RGB
    lighting), "1800R" (curved), "Flat" (not curved). True only when the value names the feature
    itself (a word of the field's label or aliases) and negates nothing."""
    words = set(tokens(text))
    if not words or len(words) > 12:
        return None
    negated = _NEGATED.search(text) is not None
    if fd.name == "curved":
        if re.search(r"\bflat\b", text, re.I):
            return False
        if _CURVE.search(text):
            return True
    own = {w for key in fd.keys for w in key.split() if len(w) > 2} | set(vocab.BOOL_WORDS.get(fd.name, ()))
    if words & own:
        return not negated
    return None


def tokens(text: str) -> tuple[str, ...]:
    """Words and digit runs, lowercase: "2.4GHz" and "2.4 GHz" are both ("2", "4", "ghz")."""
    text = normalise(text.replace("×", " x "))
    return tuple(re.findall(r"[a-z]+|\d+", text))


def _within(needle: tuple[str, ...], hay: tuple[str, ...]) -> bool:
    return bool(needle) and f" {' '.join(needle)} " in f" {' '.join(hay)} "


def parse_enum(fd: FieldDef, text: str, loose: bool = False) -> str | None:
    """A choice, case-insensitively: the whole value, else the one choice it mentions (a choice
    that is part of a longer one it also mentions gives way: "QD-OLED" is not "OLED"). ``loose``
    also accepts a choice whose words all appear, in any order (short list items)."""
    have = tokens(text)
    if not have:
        return None
    keyed = [(tokens(c), c) for c in fd.choices]
    for key, choice in keyed:
        if key == have:
            return choice
    mentioned = [(k, c) for k, c in keyed if _within(k, have)]
    if not mentioned and loose:
        mentioned = [(k, c) for k, c in keyed if k and set(k) <= set(have)]
    longest = [c for k, c in mentioned if not any(k != o and _within(k, o) for o, _ in mentioned)]
    return longest[0] if len(longest) == 1 else None


def mentioned_choices(fd: FieldDef, text: str) -> list[str]:
    """Every choice the text names (the longest where one contains another)."""
    have = tokens(text)
    mentioned = [(k, c) for k, c in ((tokens(c), c) for c in fd.choices) if _within(k, have)]
    return [c for k, c in mentioned if not any(k != o and _within(k, o) for o, _ in mentioned)]


def clean_text(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().strip(" .;,")


_LIST_EXCLUSION = re.compile(r"\b(?:not\s+(?:compatible|supported|included)|except|excluding|does\s*n[o']t|"
                             r"doesn't|incompatible|no\s+support)\b.*$", re.I | re.S)


def parse_list(fd: FieldDef, text: str) -> list[str] | None:
    text = _LIST_EXCLUSION.sub("", text)  # "Xbox, PC (not compatible with PlayStation)"
    items: dict[str, str] = {}
    for part in _LIST_SPLIT.split(text):
        item = clean_text(re.sub(r"^(?:and|or)\s+", "", part.strip(), flags=re.I))
        if not item or len(item) > 80:
            continue
        if fd.choices:
            choice = _choice(fd, item, loose=True)
            if choice is None:
                continue
            item = choice
        items.setdefault(item.lower(), item)
    return sorted(items.values(), key=str.lower) or None


_FOOTNOTE = re.compile(r"\[\d{1,2}\]|(?<!/m)(?<!/ m)[*†‡§¹²³⁴⁵⁶⁷⁸⁹⁰]+")


_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\u00ad™®©℠]")


def strip_marks(text: str) -> str:
    """Footnote marks and invisible characters out: "40 kHz*", "0.716 kg²", "58 g [1]", "Yes†", a
    retailer's left-to-right mark before "‎2.05 ounces" (the ² of cd/m² stays)."""
    return _FOOTNOTE.sub("", _INVISIBLE.sub("", text))


def _choice(fd: FieldDef, text: str, loose: bool = False) -> str | None:
    """A choice spelled out exactly, else the one a synonym names ("Doubleshot PBT" is Double-shot PBT,
    not PBT), else the one choice the text mentions."""
    have = tokens(text)
    exact = next((c for c in fd.choices if tokens(c) == have), None)
    return exact or synonym(fd, text) or parse_enum(fd, text, loose=loose)


def synonym(fd: FieldDef, text: str) -> str | None:
    """The one choice ``vocab.SYNONYMS`` finds in ``text`` (None when none or several)."""
    hits = [c for c in fd.choices if (rx := vocab.SYNONYMS.get(c)) is not None and rx.search(text)]
    return hits[0] if len(hits) == 1 else None


_FREQUENCY = re.compile(r"(?P<a>\d+(?:[.,]\d+)?)\s*(?P<ua>k?hz)?\s*(?:-|–|—|~|to)\s*(?P<b>\d+(?:[.,]\d{3})*(?:\.\d+)?)\s*(?P<ub>k?hz)",
                        re.I)


def _frequency_range(text: str) -> str | None:
    """"20Hz–20kHz", "20 - 20,000 Hz", "20 Hz to 20 kHz" -> "20 Hz - 20 kHz"."""
    m = _FREQUENCY.search(text)
    if m is None:
        return None
    low = float(m.group("a").replace(",", "."))
    high = float(m.group("b").replace(",", ""))
    unit_b = m.group("ub").lower()
    unit_a = (m.group("ua") or ("hz" if unit_b == "khz" and low >= 1 and high < 1000 and low < high else unit_b)).lower()
    low_hz = low * (1000 if unit_a == "khz" else 1)
    high_hz = high * (1000 if unit_b == "khz" else 1)
    if not 0 < low_hz < high_hz:
        return None
    high_text = f"{high_hz / 1000:g} kHz" if high_hz >= 1000 else f"{high_hz:g} Hz"
    low_text = f"{low_hz / 1000:g} kHz" if low_hz >= 1000 else f"{low_hz:g} Hz"
    return f"{low_text} - {high_text}"


# "Advanced Optical", "5G Optical": a kind of sensor, not a name followed by "optical sensor".
_OPTICAL_KINDS = frozenset({"advanced", "enhanced", "high", "precision", "high-precision", "standard", "basic",
                            "premium", "5g", "4g", "3g", "laser", "true"})


_NAME_NOUNS = frozenset({"switch"})  # "Analog Optical Switch" is a name; "... switches" is decoration


def _without_own_noun(fd: FieldDef, text: str) -> str:
    """"Natural rubber base" -> "Natural rubber", "Gateron Red switches" -> "Gateron Red": a trailing
    word that is the field's own noun goes, when at least two words remain ("Red Switch" stays)."""
    words = text.split()
    nouns = {w for key in fd.keys for w in key.split()} | {"mechanical"}
    cut = words
    while len(cut) > 2 and normalise(cut[-1]) in nouns and normalise(cut[-1]) not in _NAME_NOUNS:
        cut = cut[:-1]
    return " ".join(cut) if len(cut) >= 2 else text


def canonical_text(fd: FieldDef, text: str) -> str:
    """A text field's canonical spelling where pages write it several ways."""
    if "frequency" in fd.name:
        return _frequency_range(text) or text
    text = re.sub(r"\s*\([^()]*\)$", "", text) or text  # "Gateron Jupiter Red (linear)"
    if fd.name == "sensor":  # "PixArt PAW3395 sensor", "Focus Pro 30K Optical Sensor" (not "Advanced Optical")
        text = re.sub(r"^pix\s?art\s+", "", text, flags=re.I)
        text = vocab.strip_maker(text)  # "Razer Focus Pro 30K", "Logitech HERO 25K" (not "ROG AimPoint")
        one_word = re.fullmatch(r"(\S+)\s+optical\s+sensor", text, re.I)
        keep_optical = one_word is not None and one_word.group(1).lower() in _OPTICAL_KINDS
        return re.sub(r"\s+sensor$" if keep_optical else r"\s+(?:optical\s+)?sensor$", "", text, flags=re.I)
    return _without_own_noun(fd, text)


def parse_value(fd: FieldDef, text: str, label: str = "") -> Parsed | None:
    """The canonical value of ``fd`` in a page's value text, or None when it holds none."""
    text = strip_marks(text).strip()
    if not text or len(text) > 1000:
        return None
    if fd.type == "number":
        return parse_number(fd, text, label)
    if fd.type == "bool":
        value = parse_bool(text)
        if value is None:
            value = _described_bool(fd, text)
        return None if value is None else Parsed(value)
    if fd.type == "enum":
        choice = _choice(fd, text) if fd.choices else clean_text(text)[:MAX_TEXT] or None
        return None if choice is None else Parsed(choice)
    if fd.type == "list":
        items = parse_list(fd, text)
        return None if items is None else Parsed(items)
    value = canonical_text(fd, clean_text(text))
    return Parsed(value) if value and len(value) <= MAX_TEXT else None


def plausible(fd: FieldDef, parsed: Parsed, category: str | None = None) -> bool:
    """Could a product have this value? Numbers outside the field's range (``vocab.PLAUSIBLE``) are misreads."""
    if fd.type != "number":
        return True
    bounds = vocab.plausible_range(category, fd.name)
    return bounds is None or bounds[0] <= float(parsed.value) <= bounds[1]


def same_value(fd: FieldDef, a: Parsed, b: Parsed) -> bool:
    """Do two candidates state the same thing? Numbers within tolerance, text case-insensitively."""
    if fd.type == "number":
        x, y = float(a.value), float(b.value)
        scale = max(abs(x), abs(y))
        printed = min(max(a.tolerance, b.tolerance), MAX_ROUNDING * scale)  # "1K Hz" is not also 500 Hz
        return abs(x - y) <= max(printed, REL_TOLERANCE * scale) + 1e-9
    if fd.type == "list":
        return {str(v).lower() for v in a.value} == {str(v).lower() for v in b.value}
    if fd.type in ("text", "enum"):
        return normalise(str(a.value)) == normalise(str(b.value))
    return a.value == b.value

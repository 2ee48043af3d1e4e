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

Numbers are read by ``numbers`` (units, conversion, tolerance); the rest is here.

(pint was considered for units: page spellings such as "K DPI", "cd/m²", "nits", "lbs", '27"' and
"8K Hz" are not pint units, so a token table stays; conversions are plain factors.)
"""

from __future__ import annotations

import re

from engine.runners.harvest import vocab
from engine.runners.harvest.fields import FieldDef, normalise
from engine.runners.harvest.numbers import (
    UNIT_WORDS,
    UNITS,
    Parsed,
    Quantity,
    canonical_unit,
    convert,
    finish_number,
    parse_number,
    quantities,
    tidy_number,
)

__all__ = [  # its own parsers, and the number readers of numbers.py callers import from here
    "MAX_ROUNDING", "MAX_TEXT", "Parsed", "Quantity", "REL_TOLERANCE", "UNITS", "UNIT_WORDS", "canonical_text",
    "canonical_unit", "clean_text", "convert", "finish_number", "mentioned_choices", "parse_bool", "parse_enum",
    "parse_list", "parse_number", "parse_value", "plausible", "quantities", "same_value", "strip_marks", "synonym",
    "tidy_number", "tokens",
]

REL_TOLERANCE = 0.01  # numbers within 1% are the same value
MAX_ROUNDING = 0.1  # a rounded figure agrees with values at most 10% away, however coarse its digits

_BOOL_TRUE = {"yes", "y", "true", "1", "supported", "included", "available", "present", "on", "with",
              "✓", "✔", "✅", "☑", "✓ yes", "yes ✓"}
_BOOL_FALSE = {"no", "n", "false", "0", "not supported", "unsupported", "not included", "none", "absent",
               "off", "without", "not available", "✗", "✘", "×", "❌", "✕", "-", "—", "–", "n a"}
_LIST_SPLIT = re.compile(r"\s*(?:[,;|•·/+]|\band\b|\bor\b|&)\s*(?![^()]*\))")
MAX_TEXT = 200


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

"""Values stated in sentences: "The sensor is rated for 26,000 DPI and it weighs 58 grams."

Every reading needs the sentence to *name* the field (an alias, loosely stemmed: "weighs" names
"weight", "connects" names "connection"; a unit that is itself an alias, like DPI, names its field):

- a number with a unit goes to the field of that unit's kind named nearest to it;
  a bare number only to a unitless field named right after it ("5 programmable buttons");
- enums and choice lists: the choices the sentence mentions;
- text: "<field> is/are [the] <Value>." or "[the] <Value> <field>." with a proper-noun value;
- bools: true, or false when a negation comes before the field's name.

Sentences that compare with something else ("lighter than the G Pro's 63 g") state other
products' values and are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from engine.runners.harvest.fields import FieldDef
from engine.runners.harvest.values import (
    UNITS,
    Parsed,
    Quantity,
    canonical_unit,
    clean_text,
    convert,
    finish_number,
    mentioned_choices,
    quantities,
)

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“(])")
_COMPARISON = re.compile(r"\b(than|compared|comparison|versus|vs|unlike|predecessor|previous|rival|competitors?|"
                         r"competing|whereas|other models?|last year'?s?|older)\b", re.I)
_NEGATION = re.compile(r"\b(no|not|without|lacks?|lacking|never|none)\b|n't\b", re.I)
_NO_BEFORE = re.compile(r"\b(no|without)\s+(?:an?\s+|built-in\s+)?$", re.I)
_PREDICATE = re.compile(r"\b(has|have|had|is|are|was|were|uses?|features?|supports?|comes with|includes?|offers?|"
                        r"gets?|ships with|does|do)\b", re.I)
_SUFFIXES = ("ivity", "ations", "ation", "ions", "ion", "ings", "ing", "ity", "ness", "ment", "ers", "er", "es", "ed", "s")
MAX_SENTENCE = 400
MAX_UNIT_RATIO = 1000.0  # "2.4 GHz" is not a polling rate in Hz; "70 hours" is not a response time in ms
COUNT_GAP = 25  # characters between a bare count and the field's name ("5 programmable buttons")
MAX_TEXT_WORDS = 8


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def stem(word: str) -> str:
    """Light suffix stripping, else one letter off: "weighs"/"weight", "connects"/"connectivity"."""
    if len(word) < 5:
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word[:-1]


def keyword_pattern(keys: frozenset[str]) -> re.Pattern[str] | None:
    parts = []
    for key in sorted(keys, key=len, reverse=True):
        words = key.split()
        if words:
            head = [re.escape(w) for w in words[:-1]]
            parts.append(r"[\s-]+".join([*head, re.escape(stem(words[-1])) + r"[a-z]{0,6}\b"]))
    return re.compile(r"\b(?:" + "|".join(parts) + r")", re.I) if parts else None


class ProseReader:
    def __init__(self, fields: tuple[FieldDef, ...]) -> None:
        self.fields = fields
        self.numbers = [f for f in fields if f.type == "number"]
        self.keywords = {f.name: keyword_pattern(f.keys) for f in fields}
        self.dimension = {f.name: _dimension(f) for f in self.numbers}

    def read(self, sentence: str) -> Iterator[tuple[str, Parsed]]:
        """(field name, value) for every value one sentence states, each field at most once."""
        if len(sentence) > MAX_SENTENCE or _COMPARISON.search(sentence):
            return
        taken: set[str] = set()
        for name, parsed in (*self._numbers(sentence), *self._others(sentence)):
            if name not in taken:
                taken.add(name)
                yield name, parsed

    def _mentions(self, name: str, sentence: str) -> list[tuple[int, int]]:
        pattern = self.keywords.get(name)
        return [m.span() for m in pattern.finditer(sentence)] if pattern else []

    # ------------------------------------------------------------------ numbers
    def _numbers(self, sentence: str) -> list[tuple[str, Parsed]]:
        found = []
        for q in quantities(sentence):
            if not q.unit or q.unit.startswith("?"):  # "10 programmable buttons": the next word is no unit
                found.extend(self._count(q, sentence))
                continue
            if q.unit not in UNITS:
                continue
            kind = UNITS[q.unit][0]
            scored = []
            for f in self.numbers:
                if self.dimension[f.name] == kind:
                    spans = self._mentions(f.name, sentence)
                    if spans:
                        scored.append((min(_distance(q, s) for s in spans), f))
            if not scored:
                continue
            scored.sort(key=lambda pair: pair[0])
            if len(scored) > 1 and scored[0][0] == scored[1][0]:
                continue  # two fields named equally close: not ours to guess
            parsed = _plausible(q, scored[0][1])
            if parsed is not None:
                found.append((scored[0][1].name, parsed))
        return found

    def _count(self, q: Quantity, sentence: str) -> list[tuple[str, Parsed]]:
        for f in self.numbers:
            if self.dimension[f.name] is None and canonical_unit(f) is None:
                for start, _ in self._mentions(f.name, sentence):
                    if q.multiplied:
                        continue
                    if 0 <= start - q.num_end <= COUNT_GAP and not re.search(r"\d", sentence[q.num_end:start]):
                        return [(f.name, finish_number(Parsed(q.value, 0.5 * 10.0 ** -q.decimals)))]
        return []

    # ------------------------------------------------------------------ enums, lists, text, bools
    def _others(self, sentence: str) -> Iterator[tuple[str, Parsed]]:
        for f in self.fields:
            if f.type == "number":
                continue
            spans = self._mentions(f.name, sentence)
            if not spans:
                continue
            if f.type == "enum" and f.choices:
                named = mentioned_choices(f, sentence)
                if len(named) == 1:
                    yield f.name, Parsed(named[0])
                elif not named and _NO_BEFORE.search(sentence[: spans[0][0]]):
                    nothing = next((c for c in f.choices if c.lower() in ("none", "no")), None)
                    if nothing:  # "There is no microphone."
                        yield f.name, Parsed(nothing)
            elif f.type == "list" and f.choices:
                named = mentioned_choices(f, sentence)
                if named:
                    yield f.name, Parsed(sorted(named, key=str.lower))
            elif f.type == "bool":
                before = sentence[: spans[0][0]]
                if len(sentence) <= 120 and _PREDICATE.search(before):  # "It has ...", not "Lightweight shell"
                    yield f.name, Parsed(not _NEGATION.search(before))
            elif f.type == "text":
                value = self._text(f, sentence)
                if value:
                    yield f.name, Parsed(value)

    def _text(self, f: FieldDef, sentence: str) -> str | None:
        pattern = self.keywords[f.name]
        if pattern is None:
            return None
        body = sentence.rstrip(" .!;")
        kw = pattern.pattern
        after = re.search(kw + r"\s+(?:is|are)\s+(?:the\s+|an?\s+)?(?P<v>.+)$", body, re.I)
        before = re.search(r"(?:.*\b(?:the|an?|its|with)\s+|^)(?P<v>[^,;:]+)\s+" + kw + r"$", body, re.I)
        for m in (after, before):
            value = clean_text(m.group("v")) if m else ""
            if value and _proper(value) and len(value.split()) <= MAX_TEXT_WORDS:
                return value
        return None


def _proper(value: str) -> bool:
    """A name or a figure ("Focus Pro 30K", "20 Hz - 20 kHz"), not a phrase ("rated for ...")."""
    return value[0].isupper() or value[0].isdigit()


def _dimension(fd: FieldDef) -> str | None:
    unit = canonical_unit(fd)
    return UNITS[unit][0] if unit in UNITS else None


def _distance(q: Quantity, span: tuple[int, int]) -> int:
    start, end = span
    if end <= q.start:
        return q.start - end
    if start >= q.end:
        return start - q.end
    return 0


def _plausible(q: Quantity, fd: FieldDef) -> Parsed | None:
    target = canonical_unit(fd)
    if target in UNITS:
        ratio = UNITS[q.unit][1] / UNITS[target][1]
        if not 1 / MAX_UNIT_RATIO <= ratio <= MAX_UNIT_RATIO:
            return None
    parsed = convert(q, target)
    return finish_number(parsed) if parsed else None

"""Field definitions and matching a page's label to the field it names.

Labels and aliases are compared normalised: lowercase, accents and punctuation gone, whitespace
collapsed ("Max. DPI:" == "max dpi"). A label that is not an alias as a whole may still name a
field once decoration is peeled off: a unit in brackets ("Weight (g)"), a trailing unit word
("Weight grams"), a leading "approx."/"total". Anything else is not matched: a spec harvester
that guesses labels fills fields with the wrong numbers.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from engine.runners.harvest import vocab

FIELD_TYPES = frozenset({"number", "text", "enum", "bool", "list"})
_PUNCT = re.compile(r"[^\w\s]+|_")
_SPACES = re.compile(r"\s+")
_BRACKETS = re.compile(r"[(\[][^)\]]*[)\]]")
# Words that decorate a label without changing what it names.
_LEADING_NOISE = ("approx", "approximately", "total", "product", "typical", "nominal", "official", "rated", "the")
_TRAILING_NOISE = ("approx", "approximately", "typ", "typical", "spec", "specification", "rating", "rated")


def normalise(text: str) -> str:
    """Lowercase, strip accents and punctuation, collapse spaces: the form labels are compared in."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _PUNCT.sub(" ", text.lower())
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class FieldDef:
    """One spec field of a category, as ``fixtures/fields/<category>.json`` defines it."""

    name: str
    label: str
    type: str
    unit: str | None = None
    required: bool = True
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    keys: frozenset[str] = field(default=frozenset(), compare=False)  # normalised label forms

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> FieldDef:
        kind = str(raw.get("type") or "text")
        if kind not in FIELD_TYPES:
            raise ValueError(f"field {raw.get('name')!r} has unknown type {kind!r}")
        name = str(raw["name"])
        label = str(raw.get("label") or name)
        aliases = tuple(str(a) for a in raw.get("aliases") or ())
        keys = {normalise(k) for k in (name.replace("_", " "), label, *aliases)}
        keys.discard("")
        return cls(name=name, label=label, type=kind, unit=raw.get("unit") or None,
                   required=bool(raw.get("required", True)), aliases=aliases,
                   choices=tuple(str(c) for c in raw.get("choices") or ()), keys=frozenset(keys))


def parse_fields(document: dict[str, Any]) -> tuple[FieldDef, ...]:
    fields = tuple(FieldDef.from_dict(raw) for raw in document["fields"])
    names = [f.name for f in fields]
    if len(set(names)) != len(names):
        raise ValueError("duplicate field names")
    return fields


class LabelMatcher:
    """Maps a label to at most one field of a category; an alias two fields share names neither.
    A field file's own aliases come first: a site vocabulary word another field already owns is not added."""

    def __init__(self, fields: tuple[FieldDef, ...], unit_words: frozenset[str] = frozenset()) -> None:
        self.fields = fields
        owners: dict[str, set[str]] = {}
        for f in fields:
            for key in f.keys:
                owners.setdefault(key, set()).add(f.name)
        by_name = {f.name: f for f in fields}
        self._exact = {key: by_name[next(iter(names))] for key, names in owners.items() if len(names) == 1}
        extra: dict[str, set[str]] = {}
        for f in fields:
            for key in vocab.LABELS.get(f.name, ()):
                if key not in owners:
                    extra.setdefault(key, set()).add(f.name)
        self._exact.update({key: by_name[next(iter(names))] for key, names in extra.items() if len(names) == 1})
        self._unit_words = unit_words
        self._cache: dict[str, FieldDef | None] = {}

    def match(self, label: str) -> FieldDef | None:
        if len(label) > 120:  # a paragraph is not a label
            return None
        if label in self._cache:
            return self._cache[label]
        found = self._match(label)
        if len(self._cache) < 50_000:
            self._cache[label] = found
        return found

    def _match(self, label: str) -> FieldDef | None:
        key = normalise(label)
        if not key:
            return None
        hit = self._exact.get(key)
        if hit is not None:
            return hit
        if _vetoed(key.split()):
            return None
        unbracketed = normalise(_BRACKETS.sub(" ", label))
        if unbracketed and unbracketed in self._exact:
            return self._exact[unbracketed]
        words = unbracketed.split()
        while words and words[0] in _LEADING_NOISE:
            words = words[1:]
        while words and (words[-1] in _TRAILING_NOISE or words[-1] in self._unit_words):
            words = words[:-1]
        if not words:
            return None
        hit = self._exact.get(" ".join(words))
        if hit is not None:
            return hit
        return self._qualified(key.split()) or self._qualified(words)

    def _qualified(self, words: list[str]) -> FieldDef | None:
        """An alias with qualifier words around it: prefixes before ("Mouse weight", "Rear paddles"),
        qualifiers after ("Weight mouse only", "Polling rate wireless"); the longest alias wins."""
        n = len(words)
        for size in range(min(n, 4), 0, -1):
            for start in range(n - size + 1):
                hit = self._exact.get(" ".join(words[start:start + size]))
                if hit is None:
                    continue
                before, after = words[:start], words[start + size:]
                if all(w in vocab.PREFIXES for w in before) and all(w in vocab.QUALIFIERS or w in self._unit_words
                                                                    for w in after):
                    return hit
        return None


def _vetoed(words: list[str]) -> bool:
    if any(w in vocab.NEVER_WORDS for w in words):
        return True
    text = f" {' '.join(words)} "
    return any(f" {' '.join(phrase)} " in text for phrase in vocab.NEVER_PHRASES)

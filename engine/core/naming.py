"""A batch's human name and its tags: what they may hold, how tags are normalised, and the default name a plan
gets from its selection ("Razer + Logitech mice, 240 products").

Both are plain text wherever they are shown. A name is at most 120 characters without control characters (NUL,
newlines, escapes), bidirectional overrides or lone surrogates; a tag is at most 40 characters, stripped and case-folded, without commas
(they separate tags on a command line) or control characters. A batch has at most 20 tags.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field

MAX_NAME = 120
MAX_TAG = 40
MAX_TAGS = 20
_ELLIPSIS = "…"
_BIDI_CONTROLS = frozenset({"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def _problem(text: str) -> str | None:
    """Why ``text`` cannot be shown as one line of plain text, or None."""
    for position, char in enumerate(text, 1):
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"character {position} is a lone surrogate (U+{ord(char):04X}), not text"
        if unicodedata.category(char) == "Cc":
            return f"character {position} is a control character (U+{ord(char):04X})"
        if unicodedata.bidirectional(char) in _BIDI_CONTROLS:
            return f"character {position} is a bidirectional control (U+{ord(char):04X}): it reorders what follows"
    return None


def check_name(name: str) -> str:
    """The name as stored (stripped); ValueError saying what is wrong with it."""
    if not isinstance(name, str):
        raise ValueError("a batch name is text")
    if (why := _problem(name)) is not None:
        raise ValueError(f"the name cannot be shown as plain text: {why}")
    name = " ".join(name.split())  # no leading, trailing or repeated white space
    if not name:
        raise ValueError("the name is empty")
    if len(name) > MAX_NAME:
        raise ValueError(f"the name has {len(name):,} characters, more than {MAX_NAME}")
    return name


def check_tag(tag: str) -> str:
    """The tag as stored (stripped, case-folded); ValueError saying what is wrong with it."""
    if not isinstance(tag, str):
        raise ValueError("a tag is text")
    if (why := _problem(tag)) is not None:
        raise ValueError(f"tag {tag[:MAX_TAG]!r}: {why}")
    tag = " ".join(tag.split()).casefold()
    if not tag:
        raise ValueError("a tag is empty")
    if "," in tag:
        raise ValueError(f"tag {tag[:MAX_TAG]!r} holds a comma: give each tag on its own")
    if len(tag) > MAX_TAG:
        raise ValueError(f"tag {tag[:MAX_TAG]!r}... has {len(tag):,} characters, more than {MAX_TAG}")
    return tag


def check_tags(tags: Iterable[str]) -> list[str]:
    """Normalised tags, each once, in the order first given; ValueError for a bad tag or more than MAX_TAGS."""
    out: list[str] = []
    for tag in tags:
        tag = check_tag(tag)
        if tag not in out:
            out.append(tag)
    if len(out) > MAX_TAGS:
        raise ValueError(f"{len(out)} tags, more than {MAX_TAGS}")
    return out


# The types a request model declares (pydantic names the field in its error).
Name = Annotated[str, Field(description=f"At most {MAX_NAME} characters of plain text."), AfterValidator(check_name)]
TagList = Annotated[list[str], Field(description=(
    f"At most {MAX_TAGS} tags of at most {MAX_TAG} characters each, stored case-folded, without commas.")),
                    AfterValidator(check_tags)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + _ELLIPSIS


def default_name(brands: Iterable[str], categories: Iterable[str]) -> str:
    """A name from what a plan selected: the top brands by product count, the category, the size.

    "Razer + Logitech mice, 240 products"; "Razer + 3 more brands, 2 categories, 900 products".
    """
    by_brand = Counter(" ".join(str(b).split()) for b in brands)
    by_category = Counter(" ".join(str(c).split()) for c in categories)
    total = sum(by_brand.values())
    if not total:
        return "Empty batch"
    top = [b for b, _ in sorted(by_brand.items(), key=lambda kv: (-kv[1], kv[0].casefold()))]
    if len(top) <= 2:
        who = " + ".join(_clip(b, 40) for b in top)
    else:
        who = f"{_clip(top[0], 40)} + {len(top) - 1} more brands"
    what = f" {_clip(next(iter(by_category)), 30)}," if len(by_category) == 1 else f", {len(by_category)} categories,"
    name = f"{who}{what} {total:,} product{'s' if total != 1 else ''}"
    try:
        return check_name(name)
    except ValueError:  # catalog text a name cannot hold (control characters): say what it is without it
        return f"{len(top)} brand{'s' if len(top) != 1 else ''}, {total:,} product{'s' if total != 1 else ''}"

"""Text the store can hold: what runners hand back is repaired, visibly, before it is written.

A lone surrogate (``"\\ud800"``) is what ``json.loads`` makes of mis-decoded web text and what
``surrogateescape`` makes of bytes that are not UTF-8. Arrow's UTF-8 encoder and DuckDB's JSON type
both refuse it, so one such character in one outcome would fail the whole group commit. Each is
replaced by U+FFFD and counted, so the outcome can say how much of it was repaired.
"""

from __future__ import annotations

import json
from typing import Any

REPLACEMENT = "\ufffd"


def repaired(text: str) -> tuple[str, int]:
    """``text`` with every unpaired surrogate replaced by U+FFFD, and how many were replaced."""
    try:
        text.encode("utf-8")
        return text, 0
    except UnicodeEncodeError:
        # UTF-16 with surrogatepass joins a split pair back into its character; what is left alone is replaced.
        fixed = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return fixed, max(fixed.count(REPLACEMENT) - text.count(REPLACEMENT), 1)


def storable(text: str | None) -> str | None:
    """``text`` as the store can hold it (unpaired surrogates become U+FFFD)."""
    return None if text is None else repaired(text)[0]


def as_text(value: Any) -> tuple[str | None, int]:
    """A free-form value as storable text (None stays None, containers become JSON, the rest ``str``),
    and how many characters were repaired."""
    if value is None:
        return None, 0
    if isinstance(value, (list, dict, tuple)):
        return storable_json(value)
    return repaired(value if isinstance(value, str) else str(value))


class NotStorable(ValueError):
    """An outcome that cannot be turned into JSON at all (too deep, keys that are not text, ...)."""


def storable_json(value: Any) -> tuple[str, int]:
    """``value`` as JSON text the store can hold, and how many characters were repaired on the way.

    Raises NotStorable when ``value`` cannot be JSON at all.
    """
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (RecursionError, TypeError, ValueError) as exc:
        reason = "it is nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise NotStorable(f"it is not JSON the store can hold ({reason})") from None
    return repaired(text)

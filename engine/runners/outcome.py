"""What a runner's outcome must be, checked by the engine for every runner alike (built-in, ``command``, plugin)
before anything of it is stored. A runner's own tests can call ``check_outcome`` too.

An outcome is a JSON object (a ``dict``). Of its keys, the engine reads:

- ``fields``: absent, an object of field -> value (kept as is), or a list of evidence rows, each an object with
  ``field`` (its name, non-empty text) and optionally ``value``, ``unit``, ``confidence`` (a number from 0 to 1),
  ``tier``, ``source_url``, ``snippet_id``, ``conflict``: the rows History's evidence view shows;
- ``coverage`` (the quality gate's input) and ``confidence``: numbers from 0 to 1, when present;
- ``conflicts`` and ``missing``: kept in the item's summary.

Everything else is kept as the runner wrote it. An outcome that breaks these rules fails its item, not retried
(the same code returns the same outcome), with a reason that says which key is wrong and how.
"""

from __future__ import annotations

import math
from typing import Any

from engine.core.errors import IndexLabError

ROW_KEYS = ("field", "value", "unit", "confidence", "tier", "source_url", "snippet_id", "conflict")


class OutcomeInvalid(IndexLabError):
    """A runner returned something that is not an outcome: its item fails with this reason, not retried."""

    code = "outcome_invalid"
    retryable = False


def _kind(value: Any) -> str:
    if value is None:
        return "None"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _ratio(value: Any) -> bool:
    """A number from 0 to 1 (not a bool, not NaN)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value) and 0 <= value <= 1


def check_outcome(outcome: Any) -> dict[str, Any]:
    """``outcome`` when it is one (see the module's doc); otherwise OutcomeInvalid naming what is wrong."""
    if not isinstance(outcome, dict):
        raise OutcomeInvalid(f"the runner returned {_kind(outcome)}, not an outcome: a runner returns a dict "
                             "(a JSON object), e.g. {\"fields\": [...], \"coverage\": 1.0}")
    for key in ("coverage", "confidence"):
        if outcome.get(key) is not None and not _ratio(outcome[key]):
            raise OutcomeInvalid(f"outcome {key} must be a number from 0 to 1, found {outcome[key]!r:.80}")
    fields = outcome.get("fields")
    if fields is None or isinstance(fields, dict):
        return outcome
    if not isinstance(fields, list):
        raise OutcomeInvalid(f"outcome fields is {_kind(fields)}: it is a list of evidence rows (objects with "
                             "'field', 'value', ...) or an object of field: value")
    for i, row in enumerate(fields):
        if not isinstance(row, dict):
            raise OutcomeInvalid(f"outcome fields[{i}] is {_kind(row)}, not an evidence row (an object with "
                                 f"{', '.join(repr(k) for k in ROW_KEYS)})")
        name = row.get("field")
        if not isinstance(name, str) or not name.strip():
            raise OutcomeInvalid(f"outcome fields[{i}] has no 'field' (the field's name, non-empty text), "
                                 f"found {name!r:.80}")
        if row.get("confidence") is not None and not _ratio(row["confidence"]):
            raise OutcomeInvalid(f"outcome fields[{i}] ({name[:80]!r}): confidence must be a number from 0 to 1, "
                                 f"found {row['confidence']!r:.80}")
    return outcome

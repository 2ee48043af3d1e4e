"""Honest outcomes: an item's quality gate, a failure's reason group, and a finished batch's result.

Pure functions, no I/O: the engine applies them as items finish, the store groups by what they return.

- **Gate**: a completed product *passed* when its outcome reports the share of required fields it found
  (``coverage``) at or above the batch's ``min_required_coverage``; below it the product *needs review*.
  An outcome that reports no coverage (a runner without a notion of quality), or a gate of 0, is not gated.
- **Fingerprint**: the first line of a failure's error with what varies from product to product masked
  (the product's own id, model and brand, URLs, ids, paths, numbers): failures with one cause share one.
- **Result** of a finished batch: ``succeeded`` when every item completed and passed its gate, ``failed``
  when none did, ``partial`` otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import Enum
from typing import Any

PASSED, NEEDS_REVIEW = "passed", "needs_review"
FINGERPRINT_MAX = 200


class BatchResult(str, Enum):
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


# Batch states in which a batch has a result: it ran to its end, or the operator stopped it there.
FINISHED_BATCH_STATES = frozenset({"completed", "stopped"})


def gate(outcome: Any, min_required_coverage: float) -> tuple[str | None, float | None]:
    """(gate, coverage) of a completed product's outcome: gate is passed, needs_review, or None (not gated)."""
    coverage = outcome.get("coverage") if isinstance(outcome, dict) else None
    if not isinstance(coverage, (int, float)) or isinstance(coverage, bool) or coverage != coverage:
        return None, None
    coverage = float(coverage)
    if min_required_coverage <= 0:
        return None, coverage
    return (PASSED if coverage >= min_required_coverage else NEEDS_REVIEW), coverage


_WHOLE = (  # masked before the product's own values: they may appear inside a URL or a path
    (re.compile(r"[a-z][a-z0-9+.-]*://\S+", re.I), "<url>"),
    (re.compile(r"(?<![\w/])(?:/[\w.@+-]+){2,}/?"), "<path>"),
)
_PARTS = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I), "<id>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", re.I), "<id>"),
    (re.compile(r"(?<![\w<])[-+]?\d+(?:[.,:]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def fingerprint(error: str | None, product: Mapping[str, Any] | None = None) -> str:
    """The reason group of a failure: its first line, with what differs between products masked.

    The exit code stays ("exit 1: ..." and "exit 2: ..." are different reasons); its number does not
    count as one of the masked numbers.
    """
    line = next((part.strip() for part in (error or "").splitlines() if part.strip()), "") or "(no message)"
    exit_code = re.match(r"(exit -?\d+|killed by signal \w+)(:|\b)", line)
    head, rest = (exit_code.group(1), line[exit_code.end(1):]) if exit_code else ("", line)
    for pattern, mask in _WHOLE:
        rest = pattern.sub(mask, rest)
    for key in ("product_id", "model", "brand"):
        value = str((product or {}).get(key) or "")
        if len(value) >= 3:
            rest = re.sub(re.escape(value), f"<{key}>", rest, flags=re.I)
    for pattern, mask in _PARTS:
        rest = pattern.sub(mask, rest)
    return (head + rest).strip()[:FINGERPRINT_MAX]


def result_counts(counts: Mapping[str, int], needs_review: int) -> dict[str, int]:
    """What came out of a batch's items: succeeded, needs_review, failed, skipped, stopped, unfinished."""
    completed = int(counts.get("completed", 0))
    return {"succeeded": completed - needs_review, "needs_review": needs_review,
            "failed": int(counts.get("failed", 0)), "skipped": int(counts.get("skipped", 0)),
            "stopped": int(counts.get("stopped", 0)),
            "unfinished": int(counts.get("queued", 0)) + int(counts.get("running", 0))}


def batch_result(state: str, outcomes: Mapping[str, int]) -> BatchResult | None:
    """The result of a batch in ``state`` whose items came out as ``outcomes`` (``result_counts``); None
    while it has not finished."""
    if state not in FINISHED_BATCH_STATES:
        return None
    total = sum(outcomes.values())
    if outcomes.get("succeeded", 0) == total and total:
        return BatchResult.SUCCEEDED
    if outcomes.get("succeeded", 0) == 0:
        return BatchResult.FAILED
    return BatchResult.PARTIAL


def result_words(result: BatchResult | None, outcomes: Mapping[str, int]) -> str:
    """One line for every face: what came out, in the operator's words."""
    parts = [f"{outcomes.get('succeeded', 0):,} succeeded"]
    for key, word in (("needs_review", "need review"), ("failed", "failed"), ("skipped", "skipped"),
                      ("stopped", "stopped"), ("unfinished", "not run yet")):
        if outcomes.get(key):
            parts.append(f"{outcomes[key]:,} {word}")
    lead = {BatchResult.SUCCEEDED: "Succeeded", BatchResult.PARTIAL: "Partial", BatchResult.FAILED: "Failed"}
    return (f"{lead[result]}: " if result else "") + ", ".join(parts)

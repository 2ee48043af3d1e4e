"""The active batch as the engine holds it in memory, and how a runner's outcome becomes stored rows."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from engine.core.errors import IndexLabError
from engine.core.limits import CancelToken
from engine.core.settings import BatchSettings
from engine.core.text import NotStorable, as_text, storable, storable_json
from engine.run.items import ItemColumns
from engine.runners.base import Runner
from engine.store import OutcomeRecord


class ActiveItem(NamedTuple):
    """A snapshot of one item's row as the engine holds it; ``ActiveItems.update`` changes the item."""

    seq: int
    product_id: str  # the rest of the product stays in the run's loaded columns
    state: str
    attempts: int
    attempt_base: int
    last_error: str | None = None
    phase: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration_s: float | None = None
    outcome: str | None = None
    gate: str | None = None
    coverage: float | None = None
    fingerprint: str | None = None


@dataclass(slots=True)
class Attempt:
    seq: int
    attempt: int
    token: CancelToken
    deadline: float


_make_item = ActiveItem._make


class ActiveItems:
    """The active batch's items as columns, one list per ActiveItem field: no Python object per item.

    A batch is held for its whole run. As 10,000 objects, a 10,000-item batch brought the cyclic
    garbage collector's full collection closer at every load and made it longer, and in a server
    process a full collection holds the GIL for ~100 ms, stalling every API request. A list per
    field is a dozen objects in all; ``items[seq]`` is a snapshot built on demand.
    """

    def __init__(self, loaded: ItemColumns) -> None:
        self._position = loaded.position
        self._columns = {name: list(loaded.seqs if name == "seq" else loaded.column(name)) for name in ActiveItem._fields}
        self._in_field_order = list(self._columns.values())
        self._seqs, self._states = self._columns["seq"], self._columns["state"]

    def __len__(self) -> int:
        return len(self._seqs)

    def __contains__(self, seq: object) -> bool:
        return seq in self._position

    def __getitem__(self, seq: int) -> ActiveItem:
        at = self._position[seq]
        return _make_item([column[at] for column in self._in_field_order])

    def state(self, seq: int) -> str:
        return self._states[self._position[seq]]

    def column_values(self, name: str) -> list[Any]:
        """One field of every item, in seq order (read only)."""
        return self._columns[name]

    def seqs_in(self, states: Collection[str]) -> list[int]:
        """The items in one of ``states``, in seq order."""
        return [seq for seq, state in zip(self._seqs, self._states) if state in states]

    def snapshot(self) -> list[list[Any]]:
        """A copy of every column, to put back with ``restore``."""
        return [list(column) for column in self._in_field_order]

    def restore(self, saved: list[list[Any]]) -> None:
        for column, values in zip(self._in_field_order, saved):
            column[:] = values  # in place: the named references stay valid

    def update(self, seq: int, **values: Any) -> ActiveItem:
        """Change some of an item's values; returns the item as it now is."""
        at = self._position[seq]
        for name, value in values.items():
            self._columns[name][at] = value
        return self[seq]


@dataclass
class ActiveRun:
    """The active batch as the engine works on it."""

    batch_run_id: str
    settings: BatchSettings
    state: str
    items: ActiveItems
    runner: Runner | None
    loaded: ItemColumns  # the items as loaded: each product, as planned
    ready: list[int] = field(default_factory=list)  # heap of queued seqs
    delayed: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, seq) waiting out a backoff
    inflight: dict[int, Attempt] = field(default_factory=dict)
    consecutive_failures: int = 0
    executor: Executor | None = None
    thread: threading.Thread | None = None

    def snapshot(self) -> tuple[Any, ...]:
        """What an operator action may change in memory before its write commits."""
        return self.state, self.items.snapshot(), list(self.ready), list(self.delayed), self.consecutive_failures

    def restore(self, saved: tuple[Any, ...]) -> None:
        """Undo an operator action whose write the store did not take."""
        self.state, items, self.ready, self.delayed, self.consecutive_failures = saved
        self.items.restore(items)


MAX_OUTCOME_JSON = 64_000  # bytes of a non-harvest outcome kept on the item row


class OutcomeNotStorable(IndexLabError):
    """A runner returned an outcome the store cannot hold: the item fails, saying why (not retried)."""

    code = "outcome_not_storable"
    retryable = False


def outcome_parts(batch_run_id: str, item: ActiveItem, attempt: int, outcome: Any,
                  recorded_at: datetime) -> tuple[str, OutcomeRecord | None]:
    """The item's outcome summary (JSON), and the product outcome record when the outcome lists fields.

    Text is made storable on the way (unpaired surrogates become U+FFFD) and the summary then says
    ``repaired_characters``; an outcome that cannot be JSON at all raises OutcomeNotStorable.
    """
    try:
        return _outcome_parts(batch_run_id, item, attempt, outcome, recorded_at)
    except NotStorable as exc:
        raise OutcomeNotStorable(f"the outcome could not be stored: {exc}") from None


def _outcome_parts(batch_run_id: str, item: ActiveItem, attempt: int, outcome: Any,
                   recorded_at: datetime) -> tuple[str, OutcomeRecord | None]:
    fields = outcome.get("fields") if isinstance(outcome, dict) else None
    if not isinstance(fields, list):
        text, fixed = storable_json(outcome)
        if fixed:
            text = _with_repairs(text, fixed)
        return (text if len(text) <= MAX_OUTCOME_JSON else json.dumps({"truncated": True, "bytes": len(text)})), None
    rows, fixed = [], 0
    for f in fields:
        if not isinstance(f, dict) or not f.get("field"):
            continue
        row: dict[str, Any] = {"value": storable_json(f.get("value"))}
        row.update((key, as_text(f.get(key))) for key in ("field", "unit", "tier", "source_url", "snippet_id"))
        fixed += sum(repairs for _, repairs in row.values())
        rows.append({**{key: text for key, (text, _) in row.items()}, "confidence": _number(f.get("confidence")),
                     "conflict": bool(f.get("conflict"))})
    summary, repairs = storable_json({k: v for k, v in outcome.items() if k != "fields"})
    fixed += repairs
    compact = {k: outcome.get(k) for k in ("coverage", "confidence", "conflicts", "missing")}
    compact["fields_found"] = len(fields)
    compact_text, _ = storable_json(compact)
    if fixed:
        summary, compact_text = _with_repairs(summary, fixed), _with_repairs(compact_text, fixed)
    record = OutcomeRecord(batch_run_id, item.seq, item.product_id, attempt, recorded_at,
                           _number(outcome.get("coverage")), _number(outcome.get("confidence")),
                           _int(outcome.get("conflicts")), summary, tuple(rows))
    return compact_text, record


def _with_repairs(text: str, count: int) -> str:
    """Say in the stored outcome that ``count`` characters were replaced by U+FFFD to store it."""
    value = json.loads(text)
    return json.dumps({**value, "repaired_characters": count} if isinstance(value, dict)
                      else {"value": value, "repaired_characters": count}, ensure_ascii=False)


def _number(value: Any) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        return float(value)
    except OverflowError:  # an int past float's range
        return None


def _int(value: Any) -> int | None:
    """An INTEGER column's value: anything else (a bool, a float, out of 32-bit range) is not stored."""
    ok = isinstance(value, int) and not isinstance(value, bool) and -2**31 <= value < 2**31
    return int(value) if ok else None


def short_error(error: BaseException) -> str:
    text = storable(error.message if isinstance(error, IndexLabError) else f"{type(error).__name__}: {error}")
    return text.strip().splitlines()[-1][:500] if text.strip() else type(error).__name__


"""The active batch as the engine holds it in memory, and how a runner's outcome becomes stored rows."""

from __future__ import annotations

import json
import threading
from collections.abc import Collection
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from engine.errors import IndexLabError
from engine.items import ItemColumns
from engine.limits import CancelToken
from engine.runners.base import Runner
from engine.settings import BatchSettings
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

    def seqs_in(self, states: Collection[str]) -> list[int]:
        """The items in one of ``states``, in seq order."""
        return [seq for seq, state in zip(self._seqs, self._states) if state in states]

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


MAX_OUTCOME_JSON = 64_000  # bytes of a non-harvest outcome kept on the item row


def outcome_parts(batch_run_id: str, item: ActiveItem, attempt: int, outcome: Any,
                  recorded_at: datetime) -> tuple[str, OutcomeRecord | None]:
    """The item's outcome summary (JSON), and the product outcome record when the outcome lists fields."""
    fields = outcome.get("fields") if isinstance(outcome, dict) else None
    if not isinstance(fields, list):
        text = json.dumps(outcome, default=str)
        return (text if len(text) <= MAX_OUTCOME_JSON else json.dumps({"truncated": True, "bytes": len(text)})), None
    summary = {k: v for k, v in outcome.items() if k != "fields"}
    compact = {k: outcome.get(k) for k in ("coverage", "confidence", "conflicts", "missing")}
    compact["fields_found"] = len(fields)
    rows = tuple(
        {"field": str(f.get("field")), "value": json.dumps(f.get("value"), default=str), "unit": f.get("unit"),
         "confidence": _number(f.get("confidence")), "tier": f.get("tier"), "source_url": f.get("source_url"),
         "snippet_id": f.get("snippet_id"), "conflict": bool(f.get("conflict"))}
        for f in fields if isinstance(f, dict) and f.get("field")
    )
    record = OutcomeRecord(batch_run_id, item.seq, item.product_id, attempt, recorded_at,
                           _number(outcome.get("coverage")), _number(outcome.get("confidence")),
                           _int(outcome.get("conflicts")), json.dumps(summary, default=str), rows)
    return json.dumps(compact, default=str), record


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


def short_error(error: BaseException) -> str:
    text = error.message if isinstance(error, IndexLabError) else f"{type(error).__name__}: {error}"
    return text.strip().splitlines()[-1][:500] if text.strip() else type(error).__name__


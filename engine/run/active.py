"""The active batch as the engine holds it in memory, and how a runner's outcome becomes stored rows."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

import numpy as np

from engine.core.errors import IndexLabError
from engine.core.limits import CancelToken, Clock
from engine.core.settings import BatchSettings
from engine.core.text import NotStorable, as_text, storable, storable_json
from engine.run.columns import GATES, NO_TIME, STATES, SparseText, from_micros, to_micros
from engine.run.items import SPARSE, ItemColumns, array_values
from engine.runners.base import Runner
from engine.runners.outcome import check_outcome
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


class Attempt(CancelToken):
    """One attempt of one item: its identity, and its own cancel token (``deadline`` is set when its worker begins
    it). One object, not two: the engine makes tens of thousands a second, and every object that lives until the
    attempt is recorded is one more for the cyclic garbage collector to promote and walk."""

    __slots__ = ("seq", "attempt")

    def __init__(self, seq: int, attempt: int, clock: Clock | None = None) -> None:
        super().__init__(clock=clock)
        self.seq = seq
        self.attempt = attempt

    @property
    def token(self) -> CancelToken:
        """Its cancel token (itself)."""
        return self


_make_item = ActiveItem._make
_RUNNING, _COMPLETED = STATES.code("running"), STATES.code("completed")
_FIXED = ("attempts", "attempt_base", "started_at", "finished_at", "duration_s", "coverage")


class ActiveItems:
    """The active batch's items as compact columns (engine/run/columns.py): no Python object per item.

    A batch is held for its whole run: as objects, a million items took over a gigabyte and every full
    collection of the cyclic garbage collector walked them, holding the GIL. Here states and gates are
    int8 codes, counts int32, timestamps int64 microseconds, durations and coverage float64 (NaN is
    None); errors, phases, outcomes and fingerprints are sparse. ``items[seq]`` is a snapshot built on demand.
    """

    def __init__(self, loaded: ItemColumns) -> None:
        n = loaded.n
        self._loaded = loaded
        self._position = loaded.position
        self._seqs = loaded.seq_array
        self._state = loaded.state_codes().copy()
        self._gate = loaded.codes["gate"].copy() if "gate" in loaded.codes else np.zeros(n, np.int8)
        self._fixed: dict[str, np.ndarray] = {}
        for name in _FIXED:
            if name in loaded.arrays:
                self._fixed[name] = loaded.arrays[name].copy()
            else:
                kind = np.float64 if name in ("duration_s", "coverage") else np.int64 if name.endswith("_at") else np.int32
                fill = np.nan if kind is np.float64 else NO_TIME if kind is np.int64 else 0
                self._fixed[name] = np.full(n, fill, kind)
        self._sparse = {name: loaded.sparse[name].copy() if name in loaded.sparse else SparseText(None, n)
                        for name in SPARSE}

    def __len__(self) -> int:
        return len(self._seqs)

    def __contains__(self, seq: object) -> bool:
        return seq in self._position

    def __getitem__(self, seq: int) -> ActiveItem:
        return self._item(self._position[seq])

    def _item(self, at: int) -> ActiveItem:
        f, sp = self._fixed, self._sparse
        return _make_item([
            int(self._seqs[at]), self._loaded.product_id(at), STATES.values[self._state[at]], int(f["attempts"][at]),
            int(f["attempt_base"][at]), sp["last_error"].get(at), sp["phase"].get(at), from_micros(f["started_at"][at]),
            from_micros(f["finished_at"][at]), _float(f["duration_s"][at]), sp["outcome"].get(at), GATES.values[self._gate[at]],
            _float(f["coverage"][at]), sp["fingerprint"].get(at)])

    def codes_at(self, positions: np.ndarray) -> np.ndarray:
        """The state codes (engine/run/columns.py STATES) of the items at ``positions``."""
        return self._state[positions]

    def state(self, seq: int) -> str:
        return STATES.values[self._state[self._position[seq]]]  # type: ignore[return-value]

    def column_values(self, name: str) -> list[Any]:
        """One field of every item, in seq order (a new list)."""
        if name == "seq":
            return self._seqs.tolist()
        if name == "product_id":
            return self._loaded.column("product_id")
        if name in ("state", "gate"):
            codes, values = (self._state, STATES.values) if name == "state" else (self._gate, GATES.values)
            return [values[c] for c in codes.tolist()]
        if name in self._sparse:
            return self._sparse[name].to_list()
        return array_values(name, self._fixed[name])

    def state_counts(self) -> dict[str, int]:
        """Items per state (states with none left out)."""
        counts = np.bincount(self._state, minlength=len(STATES.values))
        return {STATES.values[code]: int(n) for code, n in enumerate(counts.tolist()) if n and code}

    def count(self, state: str, gate: str | None) -> int:
        """Items in ``state`` whose gate is ``gate``."""
        return int(np.count_nonzero((self._state == STATES.code(state)) & (self._gate == GATES.code(gate))))

    def positions_in(self, states: Collection[str]) -> np.ndarray:
        """Positions of the items in one of ``states``, in seq order."""
        return np.flatnonzero(np.isin(self._state, STATES.codes(states)))

    def seqs_in(self, states: Collection[str]) -> list[int]:
        """The items in one of ``states``, in seq order."""
        return self._seqs[self.positions_in(states)].tolist()

    # What an operator action changes (moves, a force stop's in-flight items): the rest is saved by reference.
    _ACTION_FIELDS = ("attempt_base", "finished_at", "duration_s")

    def snapshot(self) -> tuple[Any, ...]:
        """A copy of what an operator action may change, to put back with ``restore`` (a force stop of a million
        items copies 21 MB, not every column)."""
        return (self._state.copy(), self._gate, {k: v.copy() if k in self._ACTION_FIELDS else v for k, v in self._fixed.items()},
                {k: v.copy() for k, v in self._sparse.items()})

    def restore(self, saved: tuple[Any, ...]) -> None:
        self._state, self._gate, fixed, self._sparse = saved
        self._fixed = dict(fixed)

    def update(self, seq: int, **values: Any) -> ActiveItem:
        """Change some of an item's values; returns the item as it now is."""
        at = self._position[seq]
        for name, value in values.items():
            self._set(at, name, value)
        return self._item(at)

    def _set(self, at: int, name: str, value: Any) -> None:
        if name == "state":
            self._state[at] = STATES.code(value)
        elif name == "gate":
            self._gate[at] = GATES.code(value)
        elif name in self._sparse:
            self._sparse[name].set(at, value)
        elif name.endswith("_at"):
            self._fixed[name][at] = to_micros(value)
        elif name in ("duration_s", "coverage"):
            self._fixed[name][at] = np.nan if value is None else value
        elif name in self._fixed:
            self._fixed[name][at] = value
        else:
            raise KeyError(f"items have no field {name!r}")

    def move(self, positions: np.ndarray, target: str, *, finished_at: datetime | None = None,
             new_budget: bool = False, refund: bool = False) -> None:
        """Move the items at ``positions`` (sorted) to ``target`` at once: phase cleared, ``finished_at`` set when
        given, a fresh attempt budget with ``new_budget``, the last attempt not counted with ``refund``. The caller
        checks the move is allowed."""
        self._state[positions] = STATES.code(target)
        self._sparse["phase"].clear_at(positions)
        if new_budget:
            self._fixed["attempt_base"][positions] = self._fixed["attempts"][positions]
        elif refund:
            self._fixed["attempt_base"][positions] += 1
        if finished_at is not None:
            self._fixed["finished_at"][positions] = to_micros(finished_at)

    def begin(self, positions: np.ndarray, at: int) -> None:
        """Dispatch the queued items at ``positions`` (sorted): running, one attempt more, started at ``at``
        (microseconds); what an earlier attempt left (end, duration, gate, coverage, fingerprint, phase) cleared."""
        f = self._fixed
        self._state[positions] = _RUNNING
        f["attempts"][positions] += 1
        f["started_at"][positions] = at
        f["finished_at"][positions] = NO_TIME
        f["duration_s"][positions] = np.nan
        f["coverage"][positions] = np.nan
        self._gate[positions] = 0
        self._sparse["phase"].clear_at(positions)
        self._sparse["fingerprint"].clear_at(positions)

    def complete(self, positions: np.ndarray, finished: np.ndarray, durations: np.ndarray, outcomes: list[str],
                 gates: list[str | None] | None, coverage: np.ndarray) -> None:
        """The running items at ``positions`` (sorted) completed: their end, run time, outcome (JSON text), gate
        (None: none gated) and coverage; phase and last error cleared."""
        f = self._fixed
        self._state[positions] = _COMPLETED
        f["finished_at"][positions] = finished
        f["duration_s"][positions] = durations
        f["coverage"][positions] = coverage
        if gates is not None:
            self._gate[positions] = GATES.codes(gates)
        self._sparse["phase"].clear_at(positions)
        self._sparse["last_error"].clear_at(positions)
        self._sparse["outcome"].set_many(positions, outcomes)

    def values_at(self, name: str, positions: np.ndarray) -> Any:
        """A field's values at ``positions``: a numpy array (counts, times in microseconds, floats), or a list
        of text (None when no item has any)."""
        if name in self._sparse:
            return self._sparse[name].values_at(positions)
        return self._fixed[name][positions]

    def positions_of(self, seqs: Sequence[int]) -> np.ndarray:
        """Positions of the items ``seqs`` (unknown ones left out)."""
        return self._position.positions(seqs)

    def seqs_at(self, positions: np.ndarray) -> list[int]:
        return self._seqs[positions].tolist()

    def first_in_each_state(self, positions: np.ndarray) -> list[tuple[str, int]]:
        """(state, seq of its first item) for each distinct state among the items at ``positions`` (sorted)."""
        codes, first = np.unique(self._state[positions], return_index=True)
        return [(STATES.values[c], int(self._seqs[positions[i]])) for c, i in zip(codes.tolist(), first.tolist())]


def _float(value: float) -> float | None:
    return None if value != value else float(value)


@dataclass
class ActiveRun:
    """A loaded batch as the engine works on it."""

    batch_run_id: str
    settings: BatchSettings
    state: str
    items: ActiveItems
    runner: Runner | None
    loaded: ItemColumns  # the items as loaded: each product, as planned
    ready: list[int] = field(default_factory=list)  # heap of queued seqs
    delayed: list[tuple[float, int]] = field(default_factory=list)  # heap of (due, seq) waiting out a backoff
    inflight: dict[int, Attempt] = field(default_factory=dict)  # dispatched attempts not yet ended, by seq
    chunks: set[Any] = field(default_factory=set)  # their chunks (engine/run/chunks.py): one busy worker each
    pace: float | None = None  # seconds an attempt runs, lately (engine clock); None: not measured yet
    grown: int = 1  # the chunk size earned: doubles after each chunk that completed, 1 after a failure
    consecutive_failures: int = 0
    priority: int = 5  # its weight in the server's fair share (1..10)

    def snapshot(self) -> tuple[Any, ...]:
        """What an operator action may change in memory before its write commits."""
        return self.state, self.items.snapshot(), list(self.ready), list(self.delayed), self.consecutive_failures

    def restore(self, saved: tuple[Any, ...]) -> None:
        """Undo an operator action whose write the store did not take."""
        self.state, items, self.ready, self.delayed, self.consecutive_failures = saved
        self.items.restore(items)


MAX_OUTCOME_JSON = 64_000  # bytes of a non-harvest outcome kept on the item row
# Characters of a field's snippet (the source's words) kept; a longer one is cut and ends in "…". The harvest
# runner's are at most 300; a command runner's may be anything, and each is stored once per field.
MAX_SNIPPET_CHARS = 1_000


class OutcomeNotStorable(IndexLabError):
    """A runner returned an outcome the store cannot hold: the item fails, saying why (not retried)."""

    code = "outcome_not_storable"
    retryable = False


def outcome_parts(batch_run_id: str, seq: int, product_id: str, attempt: int, outcome: Any,
                  recorded_at: datetime | float) -> tuple[str, OutcomeRecord | None]:
    """The item's outcome summary (JSON), and the product outcome record when the outcome lists fields.

    ``recorded_at``: when the attempt ended (naive UTC, or ``time.time()`` seconds).
    Text is made storable on the way (unpaired surrogates become U+FFFD) and the summary then says
    ``repaired_characters``; an outcome that cannot be JSON at all raises OutcomeNotStorable, one that breaks the
    outcome's rules (``engine.runners.outcome``) OutcomeInvalid.
    """
    check_outcome(outcome)
    try:
        return _outcome_parts(batch_run_id, seq, product_id, attempt, outcome, recorded_at)
    except NotStorable as exc:
        raise OutcomeNotStorable(f"the outcome could not be stored: {exc}") from None


def _outcome_parts(batch_run_id: str, seq: int, product_id: str, attempt: int, outcome: Any,
                   recorded_at: datetime | float) -> tuple[str, OutcomeRecord | None]:
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
        row["snippet"] = _snippet(f.get("snippet"))
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
    if not isinstance(recorded_at, datetime):
        recorded_at = datetime.fromtimestamp(recorded_at, UTC).replace(tzinfo=None)
    record = OutcomeRecord(batch_run_id, seq, product_id, attempt, recorded_at,
                           _number(outcome.get("coverage")), _number(outcome.get("confidence")),
                           _int(outcome.get("conflicts")), summary, tuple(rows))
    return compact_text, record


def _snippet(value: Any) -> tuple[str | None, int]:
    """A field's snippet as storable text of at most MAX_SNIPPET_CHARS (None when empty), and its repairs."""
    text, repairs = as_text(value[:MAX_SNIPPET_CHARS + 1] if isinstance(value, str) else value)
    if text and len(text) > MAX_SNIPPET_CHARS:
        text = text[:MAX_SNIPPET_CHARS - 1] + "…"
    return text or None, repairs


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


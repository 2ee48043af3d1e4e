"""Compact columns for a batch's items: no Python object per item, a few bytes per item and field.

A loaded batch is held for its whole run; at a million items, a Python object per item and field
(a str, an int, a datetime) cost over a kilobyte per item. Here fixed-width fields are numpy arrays
(states and gates as small codes, timestamps as int64 microseconds), product text stays in Arrow
buffers (a dictionary of distinct values where they repeat), and fields most items never have
(an error, a phase) are sparse overlays on what was loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.core.states import ItemState
from engine.store.changes import EPOCH, NO_TIME  # NO_TIME: a timestamp column's None

_MICRO = timedelta(microseconds=1)


class Codes:
    """Small-int codes for a few distinct strings (states, gates); code 0 is None. Shared, append-only."""

    def __init__(self, known: Iterable[str] = ()) -> None:
        self.values: list[str | None] = [None]
        self._code: dict[str | None, int] = {None: 0}
        for value in known:
            self.code(value)

    def code(self, value: str | None) -> int:
        code = self._code.get(value)
        if code is None:
            if len(self.values) >= 127:
                raise ValueError(f"more than 126 distinct values for an int8 code column: {value!r}")
            code = self._code[value] = len(self.values)
            self.values.append(value)
        return code

    def codes(self, values: Iterable[str | None]) -> list[int]:
        return [self.code(v) for v in values]

    def encode(self, column: pa.ChunkedArray | pa.Array) -> np.ndarray:
        """A string column as an int8 array of codes."""
        encoded = pc.dictionary_encode(column)
        chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
        out = np.zeros(len(column), np.int8)
        at = 0
        for chunk in chunks:
            lookup = np.array([0, *self.codes(chunk.dictionary.to_pylist())], np.int8)
            indices = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
            out[at:at + len(chunk)] = lookup[indices]
            at += len(chunk)
        return out


STATES = Codes(s.value for s in ItemState)
GATES = Codes()


class SeqIndex:
    """seq -> position in seq order; arithmetic when the seqs are consecutive (as planned), else a binary search."""

    def __init__(self, seqs: np.ndarray) -> None:
        self.seqs = seqs
        n = len(seqs)
        self._first = int(seqs[0]) if n else 0
        self._consecutive = bool(n == 0 or int(seqs[-1]) - self._first == n - 1 and bool(np.all(np.diff(seqs) == 1)))

    def __len__(self) -> int:
        return len(self.seqs)

    def get(self, seq: Any, default: int | None = None) -> int | None:
        if not isinstance(seq, (int, np.integer)) or isinstance(seq, bool):
            return default
        if self._consecutive:
            at = int(seq) - self._first
            return at if 0 <= at < len(self.seqs) else default
        at = int(np.searchsorted(self.seqs, seq))
        return at if at < len(self.seqs) and self.seqs[at] == seq else default

    def __getitem__(self, seq: int) -> int:
        at = self.get(seq)
        if at is None:
            raise KeyError(seq)
        return at

    def __contains__(self, seq: object) -> bool:
        return self.get(seq) is not None

    def positions(self, seqs: Sequence[int]) -> np.ndarray:
        """Positions of known ``seqs`` (unknown ones left out)."""
        wanted = np.asarray(seqs, np.int64)
        if self._consecutive:
            at = wanted - self._first
            return at[(at >= 0) & (at < len(self.seqs))]
        at = np.searchsorted(self.seqs, wanted)
        ok = at < len(self.seqs)
        ok[ok] = self.seqs[at[ok]] == wanted[ok]
        return at[ok]


class TextColumn:
    """A string column held in Arrow buffers: a dictionary of distinct values when they repeat, else as loaded."""

    def __init__(self, column: pa.ChunkedArray | pa.Array, *, unique: bool = False) -> None:
        """``unique``: the values are known not to repeat (ids): held as loaded, without hashing them."""
        array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_string(array.type):
            array = array.cast(pa.string())
        self._values: list[str | None] | None = None
        self._array: pa.Array | None = array
        if unique or not len(array):
            return
        encoded = pc.dictionary_encode(array)  # one hashing pass; kept when values repeat enough to pay
        if len(encoded.dictionary) * 4 <= len(array):
            self._values = [*encoded.dictionary.to_pylist(), None]
            self._codes = encoded.indices.fill_null(len(self._values) - 1).to_numpy(zero_copy_only=False).astype(
                np.int32 if len(self._values) > 32_000 else np.int16)
            self._array = None

    def get(self, at: int) -> str | None:
        if self._values is not None:
            return self._values[self._codes[at]]
        return self._array[at].as_py()  # type: ignore[index]

    def values_at(self, positions: np.ndarray) -> list[str | None]:
        if self._values is not None:
            values = self._values
            return [values[c] for c in self._codes[positions].tolist()]
        n = len(positions)
        if n and bool(np.all(np.diff(positions) == 1)):  # a run of items in seq order: a slice
            return self._array.slice(int(positions[0]), n).to_pylist()  # type: ignore[union-attr]
        return self._array.take(pa.array(positions)).to_pylist()  # type: ignore[union-attr]

    def to_list(self) -> list[str | None]:
        if self._values is not None:
            values = self._values
            return [values[c] for c in self._codes.tolist()]
        return self._array.to_pylist()  # type: ignore[union-attr]


class SparseText:
    """A rarely-set text field: what was loaded (Arrow, or nothing when every value was null) under a dict of changes."""

    def __init__(self, column: pa.ChunkedArray | None, n: int) -> None:
        self.n = n
        held = column is not None and column.null_count < len(column)
        self._base = TextColumn(column) if held else None
        self._base_at = np.flatnonzero(pc.is_valid(column).to_numpy(zero_copy_only=False)) if held else None
        self.changes: dict[int, str | None] = {}

    def get(self, at: int) -> str | None:
        if at in self.changes:
            return self.changes[at]
        return self._base.get(at) if self._base is not None else None

    def set(self, at: int, value: str | None) -> None:
        if value is None and self._base is None:
            self.changes.pop(at, None)
        else:
            self.changes[at] = value

    def clear_at(self, positions: np.ndarray) -> None:
        """None at ``positions`` (sorted); touches only the items that have a value."""
        changes = self.changes
        if changes:
            if len(positions) < len(changes):
                for at in positions.tolist():
                    changes.pop(at, None)
            else:
                for at in [at for at in changes if _member(positions, at)]:
                    del changes[at]
        base_at = self._base_at
        if base_at is not None and len(base_at) and len(positions):
            found = np.searchsorted(base_at, positions)
            hit = found < len(base_at)
            hit[hit] = base_at[found[hit]] == positions[hit]
            if hit.any():
                changes.update(dict.fromkeys(positions[hit].tolist()))

    def set_many(self, positions: np.ndarray, values: Sequence[str]) -> None:
        """Values (text, not None) at ``positions``, one each."""
        self.changes.update(zip(positions.tolist(), values))

    def values_at(self, positions: np.ndarray) -> list[str | None] | None:
        """The values at ``positions``, or None when no item has one."""
        if self._base is None and not self.changes:
            return None
        get = self.get
        return [get(at) for at in positions.tolist()]

    def to_list(self) -> list[str | None]:
        values = self._base.to_list() if self._base is not None else [None] * self.n
        for at, value in self.changes.items():
            values[at] = value
        return values

    def copy(self) -> SparseText:
        other = SparseText.__new__(SparseText)
        other.n, other._base, other._base_at, other.changes = self.n, self._base, self._base_at, dict(self.changes)
        return other


def _member(sorted_positions: np.ndarray, at: int) -> bool:
    i = int(np.searchsorted(sorted_positions, at))
    return i < len(sorted_positions) and int(sorted_positions[i]) == at


def to_micros(value: datetime | None) -> int:
    return NO_TIME if value is None else (value.replace(tzinfo=None) - EPOCH) // _MICRO


def from_micros(value: int) -> datetime | None:
    return None if value == NO_TIME else EPOCH + timedelta(microseconds=int(value))


def time_array(column: pa.ChunkedArray | None, n: int) -> np.ndarray:
    if column is None or column.null_count == len(column):
        return np.full(n, NO_TIME, np.int64)
    micros = pc.cast(column, pa.timestamp("us")).cast(pa.int64())
    return micros.fill_null(NO_TIME).to_numpy().astype(np.int64)


def number_array(column: pa.ChunkedArray | None, n: int, dtype: Any, fill: Any) -> np.ndarray:
    if column is None or column.null_count == len(column):
        return np.full(n, fill, dtype)
    return column.cast(pa.float64() if dtype == np.float64 else pa.int64()).fill_null(fill).to_numpy().astype(dtype)

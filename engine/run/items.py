"""A batch's items as loaded from the store: one Arrow read kept as compact columns, not a Python object per row.

Loading a batch happens while the API answers status polls, and the batch is then held for its whole
run: building a dict or an object per row held the GIL for tens of milliseconds per 10,000 items and
kept over a kilobyte per item (engine/run/columns.py says how the columns are held).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from engine.run.columns import (
    GATES,
    NO_TIME,
    STATES,
    Codes,
    SeqIndex,
    SparseText,
    TextColumn,
    from_micros,
    number_array,
    time_array,
)

PRODUCT_KEYS = ("product_id", "category", "brand", "model", "variant")
CODED = {"state": STATES, "gate": GATES}
INTS = ("attempts", "attempt_base", "crashes")
TIMES = ("started_at", "finished_at", "queued_at")
FLOATS = ("duration_s", "coverage")
SPARSE = ("last_error", "phase", "outcome", "fingerprint")


class ItemColumns:
    """The rows of ``Store.item_table`` (seq order), held column by column as loaded; ``column`` hands one out as a list."""

    def __init__(self, rows: pa.Table | Iterable[pa.RecordBatch]) -> None:
        """From ``Store.item_table`` or, better for a large batch, ``Store.item_batches``: read batch by batch,
        only the compact columns outlive the read (a whole Arrow table of a million items is ~300 MB)."""
        parts: dict[str, list[Any]] = {}
        names: list[str] = []
        for batch in (rows.to_batches() if isinstance(rows, pa.Table) else rows):
            names = names or batch.schema.names
            for name in batch.schema.names:
                parts.setdefault(name, []).append(_compact_part(name, batch.column(name)))
        self.names = tuple(names)
        seqs = parts.pop("seq", [])
        self.seq_array: np.ndarray = np.concatenate(seqs) if seqs else np.zeros(0, np.int64)
        n = self.n = len(self.seq_array)
        self.position = SeqIndex(self.seq_array)
        self._constant: dict[str, Any] = {}
        self._text: dict[str, TextColumn] = {}
        self.codes: dict[str, np.ndarray] = {}
        self.arrays: dict[str, np.ndarray] = {}
        self.sparse: dict[str, SparseText] = {}
        self._other: dict[str, pa.ChunkedArray] = {}
        for name, chunks in parts.items():
            if name in CODED or name in INTS or name in TIMES or name in FLOATS:
                values = np.concatenate(chunks)
                if name in CODED:
                    self.codes[name] = values
                else:  # the same value everywhere (as planned: no attempt, no time yet) costs one value
                    same = n and bool(np.all(values == values[0])) or (values.dtype.kind == "f" and np.all(values != values))
                    self.arrays[name] = np.broadcast_to(values[:1].copy(), n) if n and same else values
            elif name == "batch_run_id" and all(isinstance(c, tuple) for c in chunks) and len({c[0] for c in chunks}) == 1:
                self._constant[name] = chunks[0][0]
            elif name in PRODUCT_KEYS:
                self._text[name] = TextColumn(pa.chunked_array([_array(c) for c in chunks], pa.string()),
                                              unique=name == "product_id")
            elif name in SPARSE:
                held = [c for c in chunks if not isinstance(c, int)]
                column = pa.chunked_array([pa.nulls(c, pa.string()) if isinstance(c, int) else c for c in chunks],
                                          pa.string()) if held else None
                self.sparse[name] = SparseText(column, n)
            else:
                self._other[name] = pa.chunked_array([_array(c) for c in chunks])

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> ItemColumns:
        """From plain row dicts (``Store.item_records``), for callers that already hold them."""
        rows = list(records)
        return cls(pa.Table.from_pylist(rows) if rows else pa.table({"seq": pa.array([], pa.int32())}))

    @property
    def seqs(self) -> list[int]:
        """Every seq, in order (a new list: ``seq_array`` holds them)."""
        return self.seq_array.tolist()

    def column(self, name: str) -> list[Any]:
        """One column as loaded, as a new Python list (None where null)."""
        if name == "seq":
            return self.seqs
        if name in self._constant:
            return [self._constant[name]] * self.n
        if name in self._text:
            return self._text[name].to_list()
        if name in self.codes:
            values = CODED[name].values
            return [values[c] for c in self.codes[name].tolist()]
        if name in self.sparse:
            return self.sparse[name].to_list()
        if name in self._other:
            return self._other[name].to_pylist()
        if name in self.arrays:
            return array_values(name, self.arrays[name])
        return [None] * self.n

    def state_codes(self) -> np.ndarray:
        return self.codes["state"] if "state" in self.codes else np.zeros(self.n, np.int8)

    def product(self, seq: int) -> dict[str, Any]:
        """The product an item is about, as planned."""
        at = self.position[seq]
        return {key: self._text[key].get(at) if key in self._text else None for key in PRODUCT_KEYS}

    def product_rows(self, positions: np.ndarray) -> list[tuple[str | None, ...]]:
        """The products of the items at ``positions`` as tuples in PRODUCT_KEYS order, read column by column (a
        chunk's worth at once; ``dict(zip(PRODUCT_KEYS, row))`` is the product)."""
        none = [None] * len(positions)
        return list(zip(*(self._text[key].values_at(positions) if key in self._text else none for key in PRODUCT_KEYS)))

    def product_id(self, at: int) -> str | None:
        """The product id of the item at position ``at``."""
        text = self._text.get("product_id")
        return text.get(at) if text is not None else None

    def row(self, at: int) -> dict[str, Any]:
        """The whole row at position ``at``, as a dict (for the few rows a status shows)."""
        row: dict[str, Any] = {"seq": int(self.seq_array[at]), **self._constant}
        row.update((name, text.get(at)) for name, text in self._text.items())
        row.update((name, CODED[name].values[codes[at]]) for name, codes in self.codes.items())
        row.update((name, sparse.get(at)) for name, sparse in self.sparse.items())
        row.update((name, column[at].as_py()) for name, column in self._other.items())
        row.update((name, array_values(name, array[at:at + 1])[0]) for name, array in self.arrays.items())
        return row

    def newest(self, state: str, n: int) -> list[dict[str, Any]]:
        """The ``n`` items in ``state`` that finished last, newest first, as dicts."""
        chosen = np.flatnonzero(self.state_codes() == STATES.code(state))
        if not len(chosen) or "finished_at" not in self.arrays:
            return []
        backwards = self.arrays["finished_at"][chosen][::-1]  # newest first, ties in seq order, nulls last
        order = (len(chosen) - 1 - np.argsort(backwards, kind="stable"))[::-1]
        return [self.row(int(at)) for at in chosen[order[:n]]]

    def rows_where(self, name: str, value: Any) -> list[dict[str, Any]]:
        """Whole rows whose ``name`` equals ``value``, as dicts (for the few running items, say)."""
        if name in self.codes:
            chosen = np.flatnonzero(self.codes[name] == CODED[name].code(value))
        else:
            chosen = np.flatnonzero(np.asarray(self.column(name), dtype=object) == value)
        return [self.row(int(at)) for at in chosen]


def _compact_part(name: str, column: pa.Array) -> Any:
    """One record batch's share of a column, copied out of the batch (which can then be freed) in its compact form."""
    if name == "seq":
        return column.to_numpy(zero_copy_only=False).astype(np.int64)
    if name in CODED:
        return CODED[name].encode(column)
    if name in INTS and column.null_count == 0:
        return number_array(column, len(column), np.int32, 0)
    if name in TIMES:
        return time_array(column, len(column))
    if name in FLOATS:
        return number_array(column, len(column), np.float64, np.nan)
    if name == "batch_run_id" and len(column) and column.null_count == 0 and len(column.unique()) == 1:
        return column[0].as_py(), len(column)  # one batch's id, not a copy per item
    if name in SPARSE and column.null_count == len(column):
        return len(column)  # all null: only its length is kept
    return pa.concat_arrays([column])  # a copy that does not hold the whole batch's memory


def _array(part: Any) -> pa.Array:
    return pa.array([part[0]] * part[1]) if isinstance(part, tuple) else part


def array_values(name: str, array: np.ndarray) -> list[Any]:
    """A numpy column's values as Python values: datetimes (naive UTC) or None, floats or None, ints."""
    if name in TIMES:
        return [from_micros(v) if v != NO_TIME else None for v in array.tolist()]
    if array.dtype.kind == "f":
        return [None if v != v else v for v in array.tolist()]
    return array.tolist()


__all__ = ["PRODUCT_KEYS", "Codes", "ItemColumns", "array_values"]

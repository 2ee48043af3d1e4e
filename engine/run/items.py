"""A batch's items as loaded from the store: one Arrow read kept as a few columns, not a Python object per row.

Loading a 10,000-item batch happens while the API answers status polls. Building a dict or an
object per row held the GIL for tens of milliseconds and left tens of thousands of long-lived
objects for the cyclic garbage collector to walk; a list per column costs neither.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

PRODUCT_KEYS = ("product_id", "category", "brand", "model", "variant")


class ItemColumns:
    """The rows of ``Store.item_table`` (seq order), read column by column; columns are converted once, on first use."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.seqs: list[int] = table.column("seq").to_pylist()
        self.position: dict[int, int] = dict(zip(self.seqs, range(len(self.seqs))))
        self._lists: dict[str, list[Any]] = {}
        self._products: list[list[Any]] | None = None

    @classmethod
    def from_records(cls, records: Iterable[dict[str, Any]]) -> ItemColumns:
        """From plain row dicts (``Store.item_records``), for callers that already hold them."""
        rows = list(records)
        return cls(pa.Table.from_pylist(rows) if rows else pa.table({"seq": pa.array([], pa.int32())}))

    def column(self, name: str) -> list[Any]:
        """One column as a Python list (None where null)."""
        values = self._lists.get(name)
        if values is None:
            if name not in self.table.column_names:
                values = [None] * len(self.seqs)
            else:
                array = self.table.column(name)
                values = [None] * len(array) if array.null_count == len(array) else array.to_pylist()
            self._lists[name] = values
        return values

    def product(self, seq: int) -> dict[str, Any]:
        """The product an item is about, as planned."""
        if self._products is None:
            self._products = [self.column(key) for key in PRODUCT_KEYS]
        at = self.position[seq]
        return dict(zip(PRODUCT_KEYS, [column[at] for column in self._products]))

    def newest(self, state: str, n: int) -> list[dict[str, Any]]:
        """The ``n`` items in ``state`` that finished last, newest first, as dicts."""
        if not len(self.seqs) or "finished_at" not in self.table.column_names:
            return []
        chosen = self.table.filter(pc.equal(self.table.column("state"), state))
        if not chosen.num_rows:
            return []
        return chosen.sort_by([("finished_at", "descending")]).slice(0, n).to_pylist()

    def rows_where(self, name: str, value: Any) -> list[dict[str, Any]]:
        """Whole rows whose ``name`` equals ``value``, as dicts (for the few running items, say)."""
        if not len(self.seqs) or name not in self.table.column_names:
            return []
        return self.table.filter(pc.equal(self.table.column(name), value)).to_pylist()

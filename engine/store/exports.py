"""The Store's reads for analysts (issue 15): a batch's items for export, batches by state, and a snapshot copy.

Part of Store (engine/store/__init__.py); every read takes its own cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.core.errors import StoreError
from engine.store.reads import _batch_row
from engine.store.sql import (
    ATTACH_SNAPSHOT,
    COPY_DATABASE_TO_SNAPSHOT,
    DETACH_SNAPSHOT,
    SELECT_DATABASE_NAME,
    SELECT_EXPORT_ITEMS,
    SELECT_NEWEST_BATCHES_IN,
)


class Exports:
    """Reads of a Store for export and snapshots (needs its ``_cursor``)."""

    def newest_batches_in(self, states: Sequence[str]) -> list[dict[str, Any]]:
        """Every batch in one of ``states``, newest first."""
        with self._cursor() as cur:
            rows = cur.execute(SELECT_NEWEST_BATCHES_IN, [list(states)]).fetchall()
            names = [d[0] for d in cur.description]
        return [_batch_row(names, r) for r in rows]

    def export_items(self, batch_run_id: str) -> pa.Table:
        """A batch's items in run order with how each ran and the quality of its outcome, as one Arrow table
        (empty for an unknown batch: the service says NotFound first)."""
        with self._cursor() as cur:
            return cur.sql(SELECT_EXPORT_ITEMS, params=[batch_run_id]).to_arrow_table()

    def snapshot_to(self, dest: Path) -> None:
        """Copy the whole database, as of one moment, into a new DuckDB file ``dest`` (which must not exist):
        schema, rows and sequences, while the engine goes on writing (its commits are not held up)."""
        with self._cursor() as cur:
            name = cur.execute(SELECT_DATABASE_NAME).fetchone()[0]
            try:
                cur.execute(ATTACH_SNAPSHOT, [str(dest)])
            except duckdb.Error as exc:
                raise StoreError(f"cannot write a snapshot to {dest}: {str(exc).splitlines()[0]}", field="DEST") from None
            try:
                cur.execute(COPY_DATABASE_TO_SNAPSHOT.format(database='"' + name.replace('"', '""') + '"'))
            except duckdb.Error as exc:
                raise StoreError(f"the snapshot to {dest} failed: {str(exc).splitlines()[0]}", field="DEST") from None
            finally:
                cur.execute(DETACH_SNAPSHOT)

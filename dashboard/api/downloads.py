"""The REST API's file answers (issue 15): a batch's items as CSV or Parquet, and a snapshot of the database.

Not JSON: each answers the file itself as an attachment with a safe name (errors stay JSON bodies, as everywhere).
A snapshot is written by the service into the server's own snapshots directory (a client never names a path),
streamed, then removed: the copy the client asked for is the one it received.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tornado.iostream import StreamClosedError

from dashboard.api.base import ApiHandler
from dashboard.context import AppContext, get_context
from engine.service.exports import MEDIA_TYPES, check_format, export_name

CHUNK_BYTES = 1 << 20
SNAPSHOT_MEDIA_TYPE = "application/octet-stream"  # a DuckDB database file


def _attachment(handler: ApiHandler, media_type: str, name: str) -> None:
    handler.set_header("Content-Type", media_type)
    handler.set_header("Content-Disposition", f'attachment; filename="{name}"')


class ItemsExportHandler(ApiHandler):
    """GET items.csv | items.parquet: every item of the batch with its outcome's quality."""

    def initialize(self, fmt: str, context: Callable[[], AppContext] = get_context) -> None:
        super().initialize(context)
        self.fmt = check_format(fmt)

    async def get(self, batch_run_id: str) -> None:
        data = await self.call(self.ctx.service.export_items, batch_run_id, self.fmt)
        _attachment(self, MEDIA_TYPES[self.fmt], export_name(batch_run_id, self.fmt))
        self.finish(data)


class SnapshotHandler(ApiHandler):
    """POST snapshot: a consistent copy of the server's database, streamed as a DuckDB file."""

    async def post(self) -> None:
        path: Path = await self.call(self.ctx.service.snapshot)
        try:
            _attachment(self, SNAPSHOT_MEDIA_TYPE, path.name)
            self.set_header("X-IndexLab-Snapshot", path.name)
            with path.open("rb") as file:
                while chunk := await self.call(file.read, CHUNK_BYTES):
                    self.write(chunk)
                    await self.flush()
            self.finish()
        except StreamClosedError:  # the client went away mid-download: nothing to answer
            pass
        finally:
            await self.call(path.unlink, missing_ok=True)

"""Download buttons for a batch's items as CSV or Parquet (History's opened batch).

Panel's ``FileDownload`` with an async callback: the export (SQL and encoding, ``BatchService.export_items``) runs
off the event loop when the button is clicked, never before; the file is sent through the page's own websocket
(nothing is fetched from elsewhere). The file name is the service's safe one.
"""

from __future__ import annotations

import io
from typing import Any

import panel as pn
import param

from dashboard.views.offloop import off_loop
from engine.service.exports import FORMATS, export_name

LABELS = {"csv": "CSV", "parquet": "Parquet"}


class ItemDownloads(pn.viewable.Viewer):
    """One button per format for ``batch_run_id``'s items; disabled while no batch is open."""

    batch_run_id = param.String(default=None, allow_None=True, allow_refs=True,
                                doc="The batch whose items the buttons download (None: no batch open).")

    def __init__(self, service: Any, **params: Any) -> None:
        self.service = service
        super().__init__(**params)
        self.buttons = {fmt: self._button(fmt) for fmt in FORMATS}

    def _button(self, fmt: str) -> pn.widgets.FileDownload:
        async def data() -> io.BytesIO:
            return io.BytesIO(await off_loop(self.service.export_items, self.batch_run_id, fmt))

        return pn.widgets.FileDownload(
            callback=data, embed=False, label=f"Items as {LABELS[fmt]}", color="default", width=130,
            filename=self.param.batch_run_id.rx.pipe(lambda b: export_name(b, fmt) if b else f"items.{fmt}"),
            disabled=self.param.batch_run_id.rx.is_(None), css_classes=[f"download-{fmt}"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(*self.buttons.values(), margin=(4, 0))

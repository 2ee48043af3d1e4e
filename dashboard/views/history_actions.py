"""History's actions on the opened batch: Archive / Unarchive, and Delete after a confirmation.

Only a planned, completed or stopped batch may be archived or deleted: the buttons are disabled otherwise, and the
service refuses anyway (its message is shown as text). Every call runs off the event loop and is audited
(actor "dashboard").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import panel as pn
import param

from dashboard.views.formats import alert, esc
from dashboard.views.offloop import off_loop
from dashboard.views.theme import BUTTON_CSS, HTML_CSS
from engine.core.errors import IndexLabError

AT_REST = ("planned", "completed", "stopped")


class BatchActions(pn.viewable.Viewer):
    """Archive, unarchive or delete the batch ``detail`` describes (a ``BatchService.batch_with_counts`` row)."""

    detail = param.Dict(default={}, doc="The opened batch's row (state, name, item_count, archived_at).")
    confirming = param.Boolean(default=False, doc="Delete was pressed; the confirmation is shown.")
    message = param.String(default="", doc="What the last action did, or why it was refused (plain text).")
    failed = param.Boolean(default=False, doc="The last action was refused.")

    def __init__(self, service: Any, *, done: Callable[[str, str], Awaitable[None]], **params: Any) -> None:
        super().__init__(**params)
        self.service = service
        self._done = done  # (batch_run_id, action) -> re-read the list (and close a deleted batch)
        self._layout: pn.viewable.Viewable | None = None
        self._shown: str | None = None

    @param.depends("detail", watch=True)
    def _other_batch(self) -> None:
        """Another batch opened: a pending confirmation or an old message is not about it."""
        if self.detail.get("batch_run_id") != self._shown:
            self._shown = self.detail.get("batch_run_id")
            self.param.update(confirming=False, message="", failed=False)

    @property
    def _batch_run_id(self) -> str | None:
        return self.detail.get("batch_run_id") if self.detail and not self.detail.get("error") else None

    async def _call(self, action: str) -> None:
        batch_run_id = self._batch_run_id
        if not batch_run_id:
            return
        self.confirming = False
        try:
            await off_loop(getattr(self.service, action), batch_run_id, actor="dashboard")
        except IndexLabError as exc:
            self.param.update(message=exc.message, failed=True)
            return
        words = {"archive": "Archived", "unarchive": "Unarchived", "delete": "Deleted"}[action]
        news = f"{words} batch {self.detail.get('name') or batch_run_id}."
        await self._done(batch_run_id, action)  # a deleted batch is closed, which clears a message about another
        if self._batch_run_id in (batch_run_id, None):  # not if another batch was opened meanwhile
            self.param.update(message=news, failed=False)

    async def archive(self, _clicks: int = 0) -> None:
        await self._call("unarchive" if self.detail.get("archived_at") else "archive")

    def ask_delete(self, _clicks: int = 0) -> None:
        """A click that left the page before its button was disabled (no batch shown yet) asks about nothing."""
        if self._batch_run_id:
            self.confirming = True

    async def confirm_delete(self, _clicks: int = 0) -> None:
        await self._call("delete")

    def _confirm_html(self, confirming: bool, detail: dict[str, Any]) -> str:
        if not confirming:
            return ""
        return (f'<div class="alert danger">Delete batch <b>{esc(detail.get("name") or detail.get("batch_run_id"))}'
                f'</b> with its {int(detail.get("item_count") or 0):,} items, their outcomes and its events? This '
                "cannot be undone (an audit record of the deletion stays).</div>")

    def _message_html(self, message: str, failed: bool) -> str:
        return alert(message, "danger" if failed else "success") if message else ""

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = self._compose()
        return self._layout

    def _compose(self) -> pn.viewable.Viewable:
        busy = self.param.detail.rx.pipe(lambda d: not (d and not d.get("error") and d.get("state") in AT_REST))
        label = self.param.detail.rx.pipe(lambda d: "Unarchive" if d and d.get("archived_at") else "Archive")
        archive = pn.widgets.Button(label=label, color="default", variant="outline", width=105, disabled=busy,
                                    css_classes=["history-archive"], stylesheets=[BUTTON_CSS])
        delete = pn.widgets.Button(label="Delete…", color="danger", variant="outline", width=95, disabled=busy,
                                   css_classes=["history-delete"], stylesheets=[BUTTON_CSS])
        confirm = pn.widgets.Button(label="Delete batch", color="danger", width=120,
                                    css_classes=["history-delete-confirm"], stylesheets=[BUTTON_CSS])
        cancel = pn.widgets.Button(label="Cancel", color="default", variant="outline", width=85,
                                   css_classes=["history-delete-cancel"])
        pn.bind(self.archive, archive.param.clicks, watch=True)
        pn.bind(self.ask_delete, delete.param.clicks, watch=True)
        pn.bind(self.confirm_delete, confirm.param.clicks, watch=True)
        pn.bind(lambda _: setattr(self, "confirming", False), cancel.param.clicks, watch=True)
        question = pn.pane.HTML(pn.bind(self._confirm_html, self.param.confirming, self.param.detail),
                                stylesheets=[HTML_CSS], sizing_mode="stretch_width")
        note = pn.pane.HTML(pn.bind(self._message_html, self.param.message, self.param.failed),
                            stylesheets=[HTML_CSS], sizing_mode="stretch_width", css_classes=["history-action-message"])
        return pn.Column(pn.Row(archive, delete),
                         pn.Row(question, confirm, cancel, visible=self.param.confirming, sizing_mode="stretch_width"),
                         note, sizing_mode="stretch_width", margin=0)

"""The REST handlers that curate batches: rename, tags, archive, unarchive and delete (declared at the end of
``dashboard.api.operations``). Each runs one ``BatchService`` operation (audited, actor "api") and answers the batch
as the list shows it, or the record a delete leaves."""

from __future__ import annotations

from dashboard.api import models as m
from dashboard.api.base import ApiError, ApiHandler


class RenameHandler(ApiHandler):
    takes_body = True

    async def post(self, batch_run_id: str) -> None:
        body = self.body(m.RenameBody)
        self.send(m.BatchSummary.model_validate(await self.call(self.ctx.service.rename, batch_run_id, body.name,
                                                                 actor="api")))


class TagsHandler(ApiHandler):
    takes_body = True

    async def post(self, batch_run_id: str) -> None:
        body = self.body(m.TagsBody)
        summary = await self.call(self.ctx.service.set_tags, batch_run_id, body.tags, add=body.add, remove=body.remove,
                                  actor="api")
        self.send(m.BatchSummary.model_validate(summary))


class ArchiveHandler(ApiHandler):
    """POST archive | unarchive (``action``) with an empty JSON object."""

    takes_body = True

    def initialize(self, action: str, **kwargs) -> None:
        super().initialize(**kwargs)
        self.action = action

    async def post(self, batch_run_id: str) -> None:
        self.body(m.NoBody)
        summary = await self.call(getattr(self.ctx.service, self.action), batch_run_id, actor="api")
        self.send(m.BatchSummary.model_validate(summary))


class DeleteHandler(ApiHandler):
    takes_body = True

    async def post(self, batch_run_id: str) -> None:
        body = self.body(m.DeleteBody)
        if body.confirm != batch_run_id:
            raise ApiError(422, "confirmation_required", f"confirm holds {body.confirm[:64]!r}, not this batch's id "
                           f"{batch_run_id[:64]!r}: send the id again to delete the batch", "confirm")
        self.send(m.DeletedResponse.model_validate(await self.call(self.ctx.service.delete, batch_run_id, actor="api")))

"""The REST handlers of many batches at once: a batch's priority and workers, its place in the queue, and the queue
(each through ``ctx.service``, on a worker thread; a change answers the batch's status after it)."""

from __future__ import annotations

from dashboard.api import models as m
from dashboard.api.base import ApiHandler
from dashboard.api.endpoints import _forget_status, _status, _status_cache


class PriorityHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        body = self.body(m.PriorityBody)
        await self.call(self.ctx.service.set_priority, body.batch_run_id, body.priority, actor="api")
        _forget_status(body.batch_run_id)
        self.send(await self.call(_status, self.ctx, body.batch_run_id))


class WorkersHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        body = self.body(m.WorkersBody)
        await self.call(self.ctx.service.set_workers, body.batch_run_id, body.workers, actor="api")
        _forget_status(body.batch_run_id)
        self.send(await self.call(_status, self.ctx, body.batch_run_id))


class QueueMoveHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        body = self.body(m.QueueMoveBody)
        await self.call(self.ctx.service.move_in_queue, body.batch_run_id, body.position, actor="api")
        for batch_run_id in [body.batch_run_id, *_status_cache]:  # every queued batch's place may have moved
            _forget_status(batch_run_id)
        self.send(await self.call(_status, self.ctx, body.batch_run_id))


class QueueHandler(ApiHandler):
    async def get(self) -> None:
        self.send(await self.call(self.ctx.service.queue))

"""The REST API's operation handlers: each reads or acts through ``ctx.service`` (the one door) on a worker
thread and answers one of the service's read models (``engine.service.models``) or a response built from them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Hashable

from dashboard.api import models as m
from dashboard.api.base import ApiHandler
from dashboard.api.policy import _plan_settings
from dashboard.context import AppContext, get_context
from engine.core.plan import PlanRequest
from engine.service import SavedPlan, runners


def _status(ctx: AppContext, batch_run_id: str) -> m.BatchStatus:
    return ctx.service.batch_status(batch_run_id)

def _plan_response(saved: SavedPlan) -> m.PlanResponse:
    return m.PlanResponse(batch_run_id=saved.batch_run_id, state=saved.state, created_at=saved.created_at,
                          **saved.summary.model_dump(exclude={"settings"}), settings=saved.summary.settings)


def _plan_request(handler: ApiHandler) -> PlanRequest:
    """The request's PlanBody as a plan request, its settings over the server's defaults and held to its policy."""
    body = handler.body(m.PlanBody)
    changes = body.settings.model_dump(exclude_unset=True, exclude_none=True)
    settings = _plan_settings(changes, handler.ctx.service.defaults, handler.ctx.api_allow)
    return PlanRequest(**body.model_dump(exclude={"settings"}), settings=settings)


class PlanHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        saved = await self.call(self.ctx.service.plan, _plan_request(self), actor="api")
        self.send(_plan_response(saved), 201)


class PreviewHandler(ApiHandler):
    """The plan a body would save, as Plan Preview shows it (totals, brands in run order, first items, estimate,
    settings snapshot, warnings), checked as a plan is; writes nothing."""

    takes_body = True

    async def post(self) -> None:
        plan = await self.call(self.ctx.service.preview, _plan_request(self))
        self.send(m.PreviewResponse.model_validate(plan.summary.model_dump()))


class SettingsHandler(ApiHandler):
    """The server's default settings: what a plan's left-out settings (and the dashboard's form) start from."""

    async def get(self) -> None:
        self.send(self.ctx.service.defaults)


class RunnersHandler(ApiHandler):
    """The runners settings.runner may name here: built-ins and installed plugins (the dashboard's Runner list)."""

    async def get(self) -> None:
        self.send(await self.call(runners))


class LifecycleHandler(ApiHandler):
    """POST start | pause | resume | stop: the batch's live status after the committed move."""

    takes_body = True

    def initialize(self, action: str, context: Callable[[], AppContext] = get_context) -> None:
        super().initialize(context)
        self.action = action

    async def post(self) -> None:
        if self.action == "stop":
            body = self.body(m.StopBody)
            await self.call(self.ctx.service.stop, body.batch_run_id, force=body.force, actor="api")
        else:
            body = self.body(m.BatchRef)
            await self.call(getattr(self.ctx.service, self.action), body.batch_run_id, actor="api")
        _forget_status(body.batch_run_id)
        self.send(await self.call(_status, self.ctx, body.batch_run_id))


class RetryHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        body = self.body(m.RetryBody)
        count = await self.call(self.ctx.service.retry_failed, body.batch_run_id, body.seqs, reason=body.reason,
                                actor="api")
        _forget_status(body.batch_run_id)
        status = await self.call(_status, self.ctx, body.batch_run_id)
        self.send(m.CountResponse(batch_run_id=body.batch_run_id, count=count, status=status.model_dump()))


def _rerun(ctx: AppContext, batch_run_id: str, body: m.RerunBody) -> m.PlanResponse:
    changes = body.settings.model_dump(exclude_unset=True, exclude_none=True)
    own = ctx.service.batch_settings(batch_run_id)
    _plan_settings(changes, ctx.service.defaults, ctx.api_allow, base=own)  # the plan's policy, or 403/422
    saved = ctx.service.rerun(batch_run_id, which=body.which, reason=body.reason, settings=changes, actor="api")
    return _plan_response(saved)


class RerunHandler(ApiHandler):
    """POST: a new planned batch of a batch's needs-review or failed products (201, as a plan)."""

    takes_body = True

    async def post(self, batch_run_id: str) -> None:
        body = self.body(m.RerunBody)
        self.send(await self.call(_rerun, self.ctx, batch_run_id, body), 201)


class SkipHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        body = self.body(m.SkipBody)
        count = await self.call(self.ctx.service.skip, body.batch_run_id, body.seqs, actor="api")
        _forget_status(body.batch_run_id)
        status = await self.call(_status, self.ctx, body.batch_run_id)
        self.send(m.CountResponse(batch_run_id=body.batch_run_id, count=count, status=status.model_dump()))


STATUS_TTL_S = 0.2  # pollers share one serialised status per batch for this long, while its state stays the same
# batch_run_id -> (when computed, monotonic; the service's status_version then; the JSON body)
_status_cache: dict[str, tuple[float, Hashable | None, str]] = {}
_status_pending: dict[str, asyncio.Future[str]] = {}  # the one refresh in flight per batch: pollers wait for it


def _forget_status(batch_run_id: str) -> None:
    """After a lifecycle call: the next poll reads the engine again, and a refresh begun before the call is not cached."""
    _status_cache.pop(batch_run_id, None)
    _status_pending.pop(batch_run_id, None)


def _status_body(ctx: AppContext, batch_run_id: str) -> str:
    return _status(ctx, batch_run_id).model_dump_json()


def _version(ctx: AppContext, batch_run_id: str) -> Hashable | None:
    version = getattr(ctx.service, "status_version", None)
    return version(batch_run_id) if version is not None else None


async def _refresh_status(handler: ApiHandler, batch_run_id: str) -> str:
    began, version = time.monotonic(), _version(handler.ctx, batch_run_id)
    me = asyncio.current_task()
    try:
        body = await handler.call(_status_body, handler.ctx, batch_run_id)
    finally:
        if _status_pending.get(batch_run_id) is me:
            del _status_pending[batch_run_id]
        else:
            me = None  # forgotten meanwhile: a lifecycle call may have changed what this body says
    if me is not None:
        _status_cache[batch_run_id] = (began, version, body)
        if len(_status_cache) > 64:
            _status_cache.pop(next(iter(_status_cache)))
    return body


class StatusHandler(ApiHandler):
    """The most polled endpoint: clients within STATUS_TTL_S share one serialised answer, and one refresh at a time.
    A copy is served only while the batch's ``status_version`` is the one it was made at: a state another face (the
    dashboard, the engine itself) changed meanwhile is never shown stale; counters may lag by STATUS_TTL_S."""

    async def get(self, batch_run_id: str) -> None:
        cached = _status_cache.get(batch_run_id)
        if (cached is not None and time.monotonic() - cached[0] <= STATUS_TTL_S
                and cached[1] == _version(self.ctx, batch_run_id)):
            self.finish(cached[2])
            return
        refresh = _status_pending.get(batch_run_id)
        if refresh is None:
            refresh = _status_pending[batch_run_id] = asyncio.ensure_future(_refresh_status(self, batch_run_id))
        self.finish(await refresh)


def _items(ctx: AppContext, batch_run_id: str, q: m.ItemsQuery) -> m.ItemPage:
    return ctx.service.item_page(batch_run_id, state=q.state.value if q.state else None, brand=q.brand,
                                 search=q.search or None, reason=q.reason or None, gate=q.gate,
                                 offset=q.offset, limit=q.limit)


class ItemsHandler(ApiHandler):
    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_items, self.ctx, batch_run_id, self.query(m.ItemsQuery)))


def _events(ctx: AppContext, batch_run_id: str, q: m.EventsQuery) -> m.EventPage:
    return ctx.service.event_page(batch_run_id, seq=q.seq, offset=q.offset, limit=q.limit)


class EventsHandler(ApiHandler):
    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_events, self.ctx, batch_run_id, self.query(m.EventsQuery)))


def _failures(ctx: AppContext, batch_run_id: str, q: m.FailuresQuery) -> m.FailureReport:
    return ctx.service.failure_report(batch_run_id, limit=q.limit)


class FailuresHandler(ApiHandler):
    """Failed items grouped by reason, largest group first."""

    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_failures, self.ctx, batch_run_id, self.query(m.FailuresQuery)))


class NeedsReviewHandler(ApiHandler):
    """Completed products below the quality gate: how many, and the required fields they lack."""

    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(self.ctx.service.review_report, batch_run_id))


class BatchHandler(ApiHandler):
    """One batch as the list shows it: its row, counts per state, outcomes and result."""

    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(self.ctx.service.batch_summary, batch_run_id))


class BatchListHandler(ApiHandler):
    async def get(self) -> None:
        q = self.query(m.BatchListQuery)
        self.send(await self.call(self.ctx.service.batch_page, **q.model_dump(exclude={"state"}),
                                  state=q.state.value if q.state else None))


class ProductsHandler(ApiHandler):
    async def get(self) -> None:
        q = self.query(m.ProductsQuery)
        self.send(await self.call(self.ctx.service.product_page, search=q.search, brand=q.brand, category=q.category,
                                  status=q.status, offset=q.offset, limit=q.limit))


class OutcomeHandler(ApiHandler):
    """A product's outcome: every field with its evidence (the source's words, URL and tier) and its batch."""

    async def get(self, product_id: str) -> None:
        q = self.query(m.OutcomeQuery)
        self.send(await self.call(self.ctx.service.product_outcome, product_id, q.batch_run_id))


class HealthHandler(ApiHandler):
    """200 when the server can serve and write; 503 with the cause while its writes fail."""

    async def get(self) -> None:
        health = await self.call(self.ctx.service.health_report)
        self.send(health, 200 if health.writable else 503)


"""REST API under /api/v1 on the dashboard's own Tornado server (also a ``panel serve --plugins`` module).

Handlers never block the event loop: every engine or store call runs on a small thread pool.
Bodies and queries are validated by the pydantic models in ``dashboard.api.models``; a client's
mistake is a 4xx with ``{"error": {"code", "message", "field"}}``, never a 500, never a partial write.
Before a body is read, ``prepare`` refuses requests from the network without auth, with a Host or Origin
that is not this server's, over the size limit (on ``Content-Length``), without the token, or not JSON.
"""

from __future__ import annotations

import asyncio
import hmac
from http import HTTPStatus
import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler, stream_request_body

from dashboard.api import models as m
from dashboard import guard
from dashboard.context import AppContext, get_context
from engine.core.errors import (ConfirmationRequired, IllegalTransition, IndexLabError, NotFound, PlanError,
                           StoreError, StoreRejected)
from engine.core.plan import PlanRequest
from engine.service import SavedPlan
from engine.core.settings import ApiAllow, BatchSettings, with_defaults

log = logging.getLogger("indexlab.api")
PREFIX = "/api/v1/indexlab"
MAX_BODY_BYTES = 1_000_000
JSON_MEDIA_TYPE = "application/json"
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="indexlab-api")
ModelT = TypeVar("ModelT", bound=BaseModel)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _status_for(error: IndexLabError) -> int:
    if isinstance(error, NotFound):
        return 404
    if isinstance(error, (IllegalTransition, ConfirmationRequired)):
        return 409
    if isinstance(error, (PlanError, StoreRejected)):
        return 422
    if isinstance(error, StoreError):
        return 503
    return 400


def _validation_error(exc: ValidationError, where: str) -> ApiError:
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    code = "unknown_field" if first["type"] == "extra_forbidden" else "invalid"
    return ApiError(422, code, f"{where} {field or ''}: {first['msg']}".replace("  ", " "), field)


@stream_request_body  # prepare() runs on the headers alone, so a refused body is never read
class ApiHandler(RequestHandler):
    """JSON in, JSON out, errors as bodies; the context is the process's one store, catalog and engine."""

    takes_body = False  # POST bodies must be application/json

    def initialize(self, context: Callable[[], AppContext] = get_context) -> None:
        self._context = context

    @property
    def ctx(self) -> AppContext:
        return self._context()

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    def prepare(self) -> None:
        self._received = bytearray()
        if (error := self._refusal()) is not None:
            self._refuse(error)

    def _refusal(self) -> ApiError | None:
        """What is wrong with this request judging by its headers (and the socket it came on), if anything."""
        headers = self.request.headers
        address, port = guard.local_socket(self.request.connection)
        if why := guard.network_refusal(address, login=guard.has_login(self.application)):
            return ApiError(403, "network_refused", why)
        allowed = guard.configured_hosts() | guard.own_hosts(address, port)
        host = headers.get("Host")  # DNS rebinding: a page whose name now resolves here, calling "its own" server
        if host is not None and port is not None and host.lower() not in allowed:
            return ApiError(403, "forbidden_host", f"Host {host[:200]!r} is not this server (a name that resolves "
                            f"here is not enough): use {' or '.join(sorted(allowed))}, or list it in "
                            f"{guard.ORIGINS_ENV}", "Host")
        origin = headers.get("Origin")  # sent by browsers on every cross-origin POST and fetch; curl sends none
        if origin is not None and guard.origin_netloc(origin) not in allowed:
            return ApiError(403, "forbidden_origin", f"requests from the page at {origin[:200]!r} are refused: only this "
                            f"server's own pages (or origins listed in {guard.ORIGINS_ENV}) may call its API", "Origin")
        length = headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) > MAX_BODY_BYTES:
            return ApiError(413, "body_too_large", f"request body is larger than {MAX_BODY_BYTES} bytes")
        token = guard.api_token()
        if token and self.request.method not in ("GET", "HEAD", "OPTIONS"):
            given = headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                self.set_header("WWW-Authenticate", "Bearer")
                return ApiError(401, "unauthorized", "this call needs 'Authorization: Bearer <INDEXLAB_API_TOKEN>'")
        media_type = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if self.takes_body and self.request.method == "POST" and media_type != JSON_MEDIA_TYPE:
            return ApiError(415, "unsupported_media_type", f"request body must be {JSON_MEDIA_TYPE} (sent as "
                            f"{media_type or 'no Content-Type'}): send the header 'Content-Type: {JSON_MEDIA_TYPE}'",
                            "Content-Type")
        return None

    def data_received(self, chunk: bytes) -> None:
        self._received += chunk
        if len(self._received) > MAX_BODY_BYTES:  # a body without Content-Length (chunked) that grew too large
            self._received.clear()
            self._refuse(ApiError(413, "body_too_large", f"request body is larger than {MAX_BODY_BYTES} bytes"))

    def _refuse(self, error: ApiError) -> None:
        """Answer before the body is read. Tornado then passes no more of it here, runs no handler method and
        closes the connection once the answer is written."""
        self.set_header("Connection", "close")
        self.request.connection.set_max_body_size(2**62)  # Tornado's own "too long" answer must not follow ours
        self._fail(error)

    # ------------------------------------------------------------------ helpers
    def body(self, model: type[ModelT]) -> ModelT:
        try:
            data = json.loads(self._received or b"null")
        except RecursionError:
            raise ApiError(400, "malformed_json", "request body is not valid JSON: it is nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, an integer of more than 4300 digits
            raise ApiError(400, "malformed_json", f"request body is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ApiError(422, "invalid", "request body must be a JSON object")
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(exc, "body") from None

    def query(self, model: type[ModelT]) -> ModelT:
        lists = {name for name, f in model.model_fields.items() if "list" in str(f.annotation)}
        raw: dict[str, Any] = {}
        for key, values in self.request.query_arguments.items():
            decoded = [v.decode("utf-8", "replace") for v in values]
            raw[key] = decoded if key in lists else decoded[-1]
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(exc, "query") from None

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run engine/store work off the event loop, mapping product errors to HTTP ones."""
        try:
            return await IOLoop.current().run_in_executor(_POOL, lambda: fn(*args, **kwargs))
        except IndexLabError as exc:
            raise ApiError(_status_for(exc), exc.code, exc.message, exc.field) from None

    def send(self, payload: BaseModel | dict[str, Any], status: int = 200) -> None:
        self.set_status(status)
        self.finish(payload.model_dump_json() if isinstance(payload, BaseModel) else json.dumps(payload))

    def _fail(self, error: ApiError) -> None:
        self.set_status(error.status)
        if error.status == 405:
            allowed = [name.upper() for name in ("get", "post") if getattr(type(self), name) is not getattr(RequestHandler, name)]
            self.set_header("Allow", ", ".join(allowed))
        self.finish(m.ErrorBody(error=m.ErrorDetail(code=error.code, message=error.message, field=error.field)).model_dump_json())

    def _handle_request_exception(self, e: BaseException) -> None:
        if isinstance(e, HTTPError) and e.status_code < 500:  # Tornado's own: 405, 400 on a bad request line
            e = ApiError(e.status_code, f"http_{e.status_code}",
                         e.log_message or f"{self.request.method} is not allowed on {self.request.path}"
                         if e.status_code == 405 else (e.log_message or HTTPStatus(e.status_code).phrase))
        if isinstance(e, ApiError):
            if not self._finished:
                self._fail(e)
            return
        log.exception("unexpected error in %s %s", self.request.method, self.request.path)
        if not self._finished:
            self._fail(ApiError(500, "internal", "the server failed; the error is in its log"))


def _status(ctx: AppContext, batch_run_id: str) -> m.StatusResponse:
    return m.StatusResponse.model_validate(ctx.service.status(batch_run_id))


PROGRAMS_AND_PATHS = ("Programs and paths come from the server's --settings file (command, corpus, api_allow.commands, "
                      "api_allow.corpora); the CLI on the server may use any, and a server on 127.0.0.1 started with "
                      f"{guard.ALLOW_COMMAND_ENV}=1 lets API clients name any")
ENDPOINTS = ("LLM endpoints come from the server's --settings file (llm_base_url, api_allow.llm_endpoints); the CLI on "
             "the server may use any")
KEYS = "Each LLM endpoint of the server's --settings file has its own key: send llm_base_url and llm_api_key_env together"


def _refuse_server_side(settings: BatchSettings, defaults: BatchSettings, allow: ApiAllow) -> None:
    """Settings that name a program, a path, a network endpoint or a secret: the server's own or those its
    settings file offers, nothing else (403 naming the field). ``INDEXLAB_API_ALLOW_COMMAND`` opens programs
    and paths to a trusted local client, never endpoints or secrets."""
    def refuse(name: str, what: str, offered: list[Any], how: str) -> ApiError:
        listed = ", ".join(json.dumps(v) for v in offered) or "none"
        return ApiError(403, "forbidden_setting", f"settings.{name} {what} (it offers: {listed}). {how}",
                        f"settings.{name}")

    if not guard.allow_command():
        commands = [c for c in (defaults.command, *allow.commands) if c]
        if settings.command is not None and settings.command not in commands:
            raise refuse("command", "names a program this server does not offer", commands, PROGRAMS_AND_PATHS)
        corpora = [defaults.corpus, *allow.corpora]
        if settings.corpus not in corpora:
            raise refuse("corpus", "names a sources index this server does not offer", corpora, PROGRAMS_AND_PATHS)
    endpoints = allow.llm_endpoints_with(defaults)
    if settings.llm_base_url not in [e.base_url for e in endpoints]:
        raise refuse("llm_base_url", "is an LLM endpoint this server does not offer",
                     list(dict.fromkeys(e.base_url for e in endpoints)), ENDPOINTS)
    keys = [e.api_key_env for e in endpoints if e.base_url == settings.llm_base_url]
    if settings.llm_api_key_env not in keys:
        raise refuse("llm_api_key_env", f"names a key this server does not send to {settings.llm_base_url}", keys, KEYS)


def _plan_settings(changes: dict[str, Any], defaults: BatchSettings, allow: ApiAllow, *,
                   base: BatchSettings | None = None) -> BatchSettings:
    """``base`` (the server's defaults; for a re-run, its batch's settings) with a client's changes, refused (403)
    where the result names what the server does not offer. The whole result is checked, so a re-run neither
    names nor inherits a program, path, endpoint or key the server does not offer (a batch the CLI planned with
    its own command is re-run with the CLI: ``indexlab rerun``)."""
    base = base or defaults
    if changes.get("runner") == "command" and "command" not in changes and not base.command \
            and not guard.allow_command():
        raise ApiError(403, "forbidden_setting", "runner 'command' needs a command, and this server has none in its "
                       "--settings file: name one it offers under api_allow.commands, or plan with the CLI",
                       "settings.command")
    try:
        settings = with_defaults(base, changes)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(["settings", *(str(p) for p in first["loc"])])
        raise ApiError(422, "invalid", f"{field}: {first['msg']}", field) from None
    try:
        _refuse_server_side(settings, defaults, allow)
    except ApiError as exc:
        if base is not defaults and (exc.field or "").removeprefix("settings.") not in changes:
            exc.message = f"the batch's own {exc.message} (the server's API re-runs only what it offers)"
        raise
    return settings


def _plan_response(saved: SavedPlan) -> m.PlanResponse:
    return m.PlanResponse(batch_run_id=saved.batch_run_id, state=saved.state, created_at=saved.created_at,
                          **saved.summary.model_dump(exclude={"settings"}), settings=saved.summary.settings)


class PlanHandler(ApiHandler):
    takes_body = True

    async def post(self) -> None:
        body = self.body(m.PlanBody)
        changes = body.settings.model_dump(exclude_unset=True, exclude_none=True)
        settings = _plan_settings(changes, self.ctx.service.defaults, self.ctx.api_allow)
        request = PlanRequest(**body.model_dump(exclude={"settings"}), settings=settings)
        saved = await self.call(self.ctx.service.plan, request, actor="api")
        self.send(_plan_response(saved), 201)


class SettingsHandler(ApiHandler):
    """The server's default settings: what a plan's left-out settings (and the dashboard's form) start from."""

    async def get(self) -> None:
        self.send(self.ctx.service.defaults)


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
        self.send(m.CountResponse(batch_run_id=body.batch_run_id, count=count, status=status))


def _rerun(ctx: AppContext, batch_run_id: str, body: m.RerunBody) -> m.PlanResponse:
    changes = body.settings.model_dump(exclude_unset=True, exclude_none=True)
    own = BatchSettings(**ctx.service.batch(batch_run_id)["settings"])
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
        self.send(m.CountResponse(batch_run_id=body.batch_run_id, count=count, status=status))


STATUS_TTL_S = 0.2  # pollers share one serialised status per batch for this long
_status_cache: dict[str, tuple[float, str]] = {}  # batch_run_id -> (when computed, monotonic; the JSON body)
_status_pending: dict[str, asyncio.Future[str]] = {}  # the one refresh in flight per batch: pollers wait for it


def _forget_status(batch_run_id: str) -> None:
    """After a lifecycle call: the next poll reads the engine again, and a refresh begun before the call is not cached."""
    _status_cache.pop(batch_run_id, None)
    _status_pending.pop(batch_run_id, None)


def _status_body(ctx: AppContext, batch_run_id: str) -> str:
    return _status(ctx, batch_run_id).model_dump_json()


async def _refresh_status(handler: ApiHandler, batch_run_id: str) -> str:
    began = time.monotonic()
    me = asyncio.current_task()
    try:
        body = await handler.call(_status_body, handler.ctx, batch_run_id)
    finally:
        if _status_pending.get(batch_run_id) is me:
            del _status_pending[batch_run_id]
        else:
            me = None  # forgotten meanwhile: a lifecycle call may have changed what this body says
    if me is not None:
        _status_cache[batch_run_id] = (began, body)
        if len(_status_cache) > 64:
            _status_cache.pop(next(iter(_status_cache)))
    return body


class StatusHandler(ApiHandler):
    """The most polled endpoint: clients within STATUS_TTL_S share one serialised answer, and one refresh at a time."""

    async def get(self, batch_run_id: str) -> None:
        cached = _status_cache.get(batch_run_id)
        if cached is not None and time.monotonic() - cached[0] <= STATUS_TTL_S:
            self.finish(cached[1])
            return
        refresh = _status_pending.get(batch_run_id)
        if refresh is None:
            refresh = _status_pending[batch_run_id] = asyncio.ensure_future(_refresh_status(self, batch_run_id))
        self.finish(await refresh)


def _items(ctx: AppContext, batch_run_id: str, q: m.ItemsQuery) -> m.ItemsResponse:
    page, total = ctx.service.items(batch_run_id, state=q.state.value if q.state else None, brand=q.brand,
                                    search=q.search or None, reason=q.reason or None, gate=q.gate,
                                    offset=q.offset, limit=q.limit)
    records = page.drop(columns=["batch_run_id", "attempt_base"]).astype(object).where(page.notna(), None)
    items = []
    for row in records.to_dict("records"):
        row["outcome"] = json.loads(row["outcome"]) if row["outcome"] else None
        items.append(m.BatchItem.model_validate(row))
    return m.ItemsResponse(batch_run_id=batch_run_id, total=total, offset=q.offset, limit=q.limit, items=items)


class ItemsHandler(ApiHandler):
    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_items, self.ctx, batch_run_id, self.query(m.ItemsQuery)))


def _events(ctx: AppContext, batch_run_id: str, q: m.EventsQuery) -> m.EventsResponse:
    events, total = ctx.service.events(batch_run_id, seq=q.seq, offset=q.offset, limit=q.limit)
    return m.EventsResponse(batch_run_id=batch_run_id, total=total, offset=q.offset,
                            limit=q.limit, events=[m.Event.model_validate(e) for e in events])


class EventsHandler(ApiHandler):
    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_events, self.ctx, batch_run_id, self.query(m.EventsQuery)))


def _failures(ctx: AppContext, batch_run_id: str, q: m.FailuresQuery) -> m.FailuresResponse:
    groups = ctx.service.failure_groups(batch_run_id, limit=q.limit)
    failed = ctx.service.batch_with_counts(batch_run_id)["counts"].get("failed", 0)
    return m.FailuresResponse(batch_run_id=batch_run_id, group_by=q.group_by, failed=failed,
                              groups=[m.FailureGroup.model_validate(g) for g in groups])


class FailuresHandler(ApiHandler):
    """Failed items grouped by reason, largest group first."""

    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_failures, self.ctx, batch_run_id, self.query(m.FailuresQuery)))


def _needs_review(ctx: AppContext, batch_run_id: str) -> m.NeedsReviewResponse:
    return m.NeedsReviewResponse(batch_run_id=batch_run_id, **ctx.service.needs_review(batch_run_id))


class NeedsReviewHandler(ApiHandler):
    """Completed products below the quality gate: how many, and the required fields they lack."""

    async def get(self, batch_run_id: str) -> None:
        self.send(await self.call(_needs_review, self.ctx, batch_run_id))


class BatchHandler(ApiHandler):
    """One batch as the list shows it: its row, counts per state, outcomes and result."""

    async def get(self, batch_run_id: str) -> None:
        batch = await self.call(self.ctx.service.batch_with_counts, batch_run_id)
        self.send(m.BatchSummary.model_validate(batch))


class BatchListHandler(ApiHandler):
    async def get(self) -> None:
        q = self.query(m.PageQuery)
        batches = await self.call(self.ctx.service.batches, limit=q.limit, offset=q.offset)
        self.send(m.BatchListResponse(offset=q.offset, limit=q.limit,
                                      batches=[m.BatchSummary.model_validate(b) for b in batches]))


def _products(ctx: AppContext, q: m.ProductsQuery) -> m.ProductsResponse:
    view = ctx.service.catalog_view()
    mask = view["product_id"].notna()
    if q.search and q.search.strip():
        hay = view["brand"] + " " + view["model"] + " " + view["variant"] + " " + view["product_id"]
        mask &= hay.str.casefold().str.contains(q.search.strip().casefold(), regex=False)
    if q.brand:
        mask &= view["brand"].str.casefold().isin([b.casefold() for b in q.brand])
    if q.category:
        mask &= view["category"].str.casefold().isin([c.casefold() for c in q.category])
    if q.status:
        mask &= view["last_status"] == q.status
    chosen = view.loc[mask]
    page = chosen.iloc[q.offset:q.offset + q.limit]
    columns = list(m.Product.model_fields)
    records = page[columns].astype(object).where(page[columns].notna(), None).to_dict("records")
    return m.ProductsResponse(total=len(chosen), offset=q.offset, limit=q.limit,
                              products=[m.Product.model_validate(r) for r in records])


class ProductsHandler(ApiHandler):
    async def get(self) -> None:
        self.send(await self.call(_products, self.ctx, self.query(m.ProductsQuery)))


def _health(ctx: AppContext) -> m.Health:
    """Can the server write? A one-row write proves it; changes the engine holds back say it cannot yet."""
    health = ctx.service.health()
    return m.Health(status="ok" if health["writable"] else "degraded", time=datetime.now(UTC),
                    catalog_products=len(ctx.catalog.products), **health)


class HealthHandler(ApiHandler):
    """200 when the server can serve and write; 503 with the cause while its writes fail."""

    async def get(self) -> None:
        health = await self.call(_health, self.ctx)
        self.send(health, 200 if health.writable else 503)


class OpenApiHandler(ApiHandler):
    async def get(self) -> None:
        from dashboard.api.openapi import openapi_document

        self.send(openapi_document())


class NotFoundHandler(ApiHandler):
    async def get(self, *args: Any) -> None:
        raise ApiError(404, "no_route", f"no API route {self.request.method} {self.request.path}")

    post = get


def routes(context: Callable[[], AppContext] = get_context) -> list[tuple[str, type[RequestHandler], dict]]:
    """Tornado routes for ``pn.serve(extra_patterns=...)``."""
    c = {"context": context}
    batch = f"{PREFIX}/batch"
    id_ = r"(?P<batch_run_id>[^/]+)"
    table: list[tuple[str, type[RequestHandler], dict]] = [
        (f"{batch}/plan", PlanHandler, c),
        *[(f"{batch}/{action}", LifecycleHandler, {**c, "action": action})
          for action in ("start", "pause", "resume", "stop")],
        (f"{batch}/retry", RetryHandler, c),
        (f"{batch}/skip", SkipHandler, c),
        (f"{batch}/{id_}/status", StatusHandler, c),
        (f"{batch}/{id_}/items", ItemsHandler, c),
        (f"{batch}/{id_}/events", EventsHandler, c),
        (f"{batch}/{id_}/failures", FailuresHandler, c),
        (f"{batch}/{id_}/needs_review", NeedsReviewHandler, c),
        (f"{batch}/{id_}/rerun", RerunHandler, c),
        (f"{batch}/{id_}", BatchHandler, c),
        (batch, BatchListHandler, c),
        (f"{PREFIX}/products", ProductsHandler, c),
        (f"{PREFIX}/settings", SettingsHandler, c),
        ("/api/v1/openapi.json", OpenApiHandler, c),
        ("/healthz", HealthHandler, c),
        (r"/api/.*", NotFoundHandler, c),
    ]
    return table


# ``panel serve dashboard/views/app.py --plugins dashboard.api``: Panel reads ROUTES. Importing this module is also
# what installs the server guard there (network addresses need auth; bodies are capped) before Panel binds.
guard.install()
ROUTES = routes()

"""The REST API's base handler: JSON in, JSON out, errors as bodies, work off the event loop.

Bodies and queries are validated by the pydantic models in ``dashboard.api.models``; a client's
mistake is a 4xx with ``{"error": {"code", "message", "field"}}``, never a 500, never a partial write.
Before a body is read, ``prepare`` refuses requests from the network without auth, with a Host or Origin
that is not this server's, over the size limit (on ``Content-Length``), without the token, or not JSON.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from tornado.ioloop import IOLoop
from tornado.web import HTTPError, RequestHandler, stream_request_body

from dashboard import guard
from dashboard.api import models as m
from dashboard.context import AppContext, get_context
from engine.core.errors import (
    ConfirmationRequired,
    IllegalTransition,
    IndexLabError,
    NotFound,
    PlanError,
    StoreError,
    StoreRejected,
)

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


class NotFoundHandler(ApiHandler):
    async def get(self, *args: Any) -> None:
        raise ApiError(404, "no_route", f"no API route {self.request.method} {self.request.path}")

    post = get

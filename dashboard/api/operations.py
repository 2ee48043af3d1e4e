"""Every REST operation, declared once: method, path template, handler, body or query model, response model,
summary and error statuses. The Tornado routes (``dashboard.api.handlers``), the OpenAPI document's paths
(``dashboard.api.openapi``) and the HTTP client's URLs (``dashboard.client``) are all derived from here."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from tornado.web import RequestHandler

from dashboard.api import batch_admin as a
from dashboard.api import downloads as d
from dashboard.api import endpoints as h
from dashboard.api import models as m
from dashboard.api import queue as q
from dashboard.api.base import PREFIX
from engine.core.settings import BatchSettings

B = f"{PREFIX}/batch"
WRITE_ERRORS = (400, 404, 409, 413, 422, 503)


@dataclass(frozen=True)
class Operation:
    method: str  # "get" or "post"
    path: str  # a template: {batch_run_id} is a path parameter
    summary: str
    handler: type[RequestHandler]
    response: type[BaseModel] | None  # None: a file of ``media_type``
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    ok: int = 200
    errors: tuple[int, ...] = ()
    handler_kwargs: dict[str, Any] = field(default_factory=dict)
    media_type: str = "application/json"  # the answer's: a file's (text/csv, ...) when ``response`` is None

    @property
    def name(self) -> str:
        """The operationId: ``post_api_v1_indexlab_batch_plan``."""
        path = self.path.strip("/").replace("/", "_").replace(".", "_")
        return f"{self.method}_{path.replace('{', '').replace('}', '')}"

    @property
    def pattern(self) -> str:
        """The Tornado route: each ``{name}`` matches one path segment, passed to the handler by name."""
        parts = re.split(r"\{(\w+)\}", self.path)  # literal, name, literal, ...: literals matched as written
        return "".join(f"(?P<{part}>[^/]+)" if i % 2 else re.escape(part) for i, part in enumerate(parts))

    def url(self, **params: str) -> str:
        """The path with its parameters filled in (the client's URL)."""
        return self.path.format(**params)


def _lifecycle(action: str, summary: str, body: type[BaseModel]) -> Operation:
    return Operation("post", f"{B}/{action}", summary, h.LifecycleHandler, m.StatusResponse, body=body,
                     errors=WRITE_ERRORS, handler_kwargs={"action": action})


OPERATIONS: list[Operation] = [
    Operation("post", f"{B}/plan", "Save a plan: a planned batch with its queued items in run order", h.PlanHandler,
              m.PlanResponse, body=m.PlanBody, ok=201, errors=(400, 403, 409, 413, 422, 503)),
    Operation("post", f"{B}/preview", "Preview a plan as Plan Preview shows it (brands in run order, first items, "
              "estimate, settings snapshot); writes nothing", h.PreviewHandler, m.PreviewResponse, body=m.PlanBody,
              errors=(400, 403, 413, 422, 503)),
    _lifecycle("start", "Start a planned batch (or resume a paused or stopped one)", m.BatchRef),
    _lifecycle("pause", "Pause: no new dispatch; running items finish", m.BatchRef),
    _lifecycle("resume", "Resume a paused or stopped batch", m.BatchRef),
    _lifecycle("stop", "Stop gracefully, or force-stop with force=true", m.StopBody),
    Operation("post", f"{B}/retry", "Re-queue failed items (all, some seqs, or one reason group) with a fresh attempt "
              "budget", h.RetryHandler, m.CountResponse, body=m.RetryBody, errors=WRITE_ERRORS),
    Operation("post", f"{B}/skip", "Skip queued items", h.SkipHandler, m.CountResponse, body=m.SkipBody,
              errors=WRITE_ERRORS),
    Operation("post", f"{B}/{{batch_run_id}}/rerun", "Re-run a batch's needs-review or failed products as a new "
              "planned batch (its settings with the changes given)", h.RerunHandler, m.PlanResponse, body=m.RerunBody,
              ok=201, errors=(400, 404, 413, 422, 503)),
    Operation("get", f"{B}/{{batch_run_id}}/status", "Live status: counts, throughput, ETA, running items, failures, "
              "feed", h.StatusHandler, m.StatusResponse, errors=(404,)),
    Operation("get", f"{B}/{{batch_run_id}}/items", "Items in run order, filtered and paged", h.ItemsHandler,
              m.ItemsResponse, query=m.ItemsQuery, errors=(404, 422)),
    Operation("get", f"{B}/{{batch_run_id}}/events", "The batch's audit events (or one item's), paged",
              h.EventsHandler, m.EventsResponse, query=m.EventsQuery, errors=(404, 422)),
    Operation("get", f"{B}/{{batch_run_id}}/failures", "Failed items grouped by reason, largest group first",
              h.FailuresHandler, m.FailuresResponse, query=m.FailuresQuery, errors=(404, 422)),
    Operation("get", f"{B}/{{batch_run_id}}/needs_review", "Completed products below the quality gate and the fields "
              "they lack", h.NeedsReviewHandler, m.NeedsReviewResponse, errors=(404,)),
    Operation("get", f"{B}/{{batch_run_id}}", "One batch: its state, counts, outcomes, result and reason",
              h.BatchHandler, m.BatchSummary, errors=(404,)),
    Operation("get", B, "Batches, newest first, filtered (state, result, name, tag, created since/until; archived "
              "ones only with archived=true)", h.BatchListHandler, m.BatchListResponse, query=m.BatchListQuery,
              errors=(422,)),
    Operation("get", f"{PREFIX}/products", "The catalog with each product's last run status, time and quality",
              h.ProductsHandler, m.ProductsResponse, query=m.ProductsQuery, errors=(422,)),
    Operation("get", f"{PREFIX}/products/{{product_id}}/outcome", "A product's latest outcome (or its outcome in "
              "batch_run_id) with every field and its evidence: the source's words, URL and tier, and the batch it "
              "came from", h.OutcomeHandler, m.OutcomeResponse, query=m.OutcomeQuery, errors=(404, 422)),
    Operation("get", f"{PREFIX}/settings", "The server's default batch settings (what a plan's left-out settings "
              "take)", h.SettingsHandler, BatchSettings),
    Operation("get", f"{PREFIX}/runners", "The runners a plan's settings.runner may name: built-ins and the plugins "
              "installed with the server (docs/runners.md)", h.RunnersHandler, m.RunnerList),
    Operation("get", "/healthz", "Liveness, whether the server can write, and what it serves", h.HealthHandler,
              m.Health, errors=(503,)),
    # many batches at once: priority, workers, the batch queue
    Operation("post", f"{B}/priority", "Change a batch's priority (1..10, its weight in the fair share of the "
              "server's workers), audited", q.PriorityHandler, m.StatusResponse, body=m.PriorityBody, errors=WRITE_ERRORS),
    Operation("post", f"{B}/workers", "Change a batch's own workers cap (kept in its settings), audited",
              q.WorkersHandler, m.StatusResponse, body=m.WorkersBody, errors=WRITE_ERRORS),
    Operation("post", f"{B}/queue/move", "Move a queued batch to another place in the queue (1: admitted next), "
              "audited", q.QueueMoveHandler, m.StatusResponse, body=m.QueueMoveBody, errors=WRITE_ERRORS),
    Operation("get", f"{PREFIX}/queue", "The batch queue in admission order, the running batches and the server's "
              "worker budget", q.QueueHandler, m.QueueResponse),
    # names, tags, archive and delete (audited operator actions; archive and delete refuse an active batch: 409)
    Operation("post", f"{B}/{{batch_run_id}}/name", "Rename a batch (plain text, at most 120 characters)",
              a.RenameHandler, m.BatchSummary, body=m.RenameBody, errors=(400, 404, 413, 422, 503)),
    Operation("post", f"{B}/{{batch_run_id}}/tags", "Replace a batch's tags, or add and remove some", a.TagsHandler,
              m.BatchSummary, body=m.TagsBody, errors=(400, 404, 413, 422, 503)),
    Operation("post", f"{B}/{{batch_run_id}}/archive", "Archive a planned or finished batch: hidden from the list "
              "unless archived=true", a.ArchiveHandler, m.BatchSummary, body=m.NoBody, errors=WRITE_ERRORS,
              handler_kwargs={"action": "archive"}),
    Operation("post", f"{B}/{{batch_run_id}}/unarchive", "Show an archived batch in the list again", a.ArchiveHandler,
              m.BatchSummary, body=m.NoBody, errors=(400, 404, 413, 422, 503), handler_kwargs={"action": "unarchive"}),
    Operation("post", f"{B}/{{batch_run_id}}/delete", "Delete a planned or finished batch with its items, outcomes "
              "and events (confirm: its id); one batch_deleted audit record stays", a.DeleteHandler,
              m.DeletedResponse, body=m.DeleteBody, errors=WRITE_ERRORS),
    # issue 15, the CLI's exports: files, not JSON (errors are JSON bodies as everywhere)
    *(Operation("get", f"{B}/{{batch_run_id}}/items.{fmt}", f"The batch's items with their outcomes and quality as "
                f"{fmt.upper()}{' (UTF-8, spreadsheet-safe)' if fmt == 'csv' else ''}, an attachment",
                d.ItemsExportHandler, None, errors=(404,), media_type=media_type, handler_kwargs={"fmt": fmt})
      for fmt, media_type in (("csv", "text/csv"), ("parquet", "application/vnd.apache.parquet"))),
    Operation("post", f"{PREFIX}/snapshot", "A consistent copy of the server's database as a DuckDB file (the server "
              "chooses where it writes it), an attachment", d.SnapshotHandler, None, errors=(503,),
              media_type=d.SNAPSHOT_MEDIA_TYPE),
]
BY_NAME = {op.name: op for op in OPERATIONS}


def operation(method: str, path: str) -> Operation:
    """The operation declared for ``method`` on the path template ``path``."""
    return BY_NAME[Operation(method, path, "", RequestHandler, BaseModel).name]


def url(method: str, template: str, **params: str) -> str:
    """The URL path of the operation declared for ``method`` on ``template``, its parameters filled in
    (KeyError for an undeclared one)."""
    return operation(method, template).url(**params)

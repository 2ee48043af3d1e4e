"""The OpenAPI 3.1 document, generated from the pydantic models the handlers use."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dashboard.api import models as m
from dashboard.api.handlers import PREFIX
from engine.core.settings import BatchSettings

REF = "#/components/schemas/{model}"
B = f"{PREFIX}/batch"

# (method, path, summary, request body, query model, response model, success status, error statuses)
OPERATIONS: list[tuple[str, str, str, type[BaseModel] | None, type[BaseModel] | None, type[BaseModel], int, tuple[int, ...]]] = [
    ("post", f"{B}/plan", "Save a plan: a planned batch with its queued items in run order", m.PlanBody, None,
     m.PlanResponse, 201, (400, 403, 409, 413, 422, 503)),
    ("post", f"{B}/start", "Start a planned batch (or resume a paused or stopped one)", m.BatchRef, None,
     m.StatusResponse, 200, (400, 404, 409, 413, 422, 503)),
    ("post", f"{B}/pause", "Pause: no new dispatch; running items finish", m.BatchRef, None, m.StatusResponse, 200,
     (400, 404, 409, 413, 422, 503)),
    ("post", f"{B}/resume", "Resume a paused or stopped batch", m.BatchRef, None, m.StatusResponse, 200,
     (400, 404, 409, 413, 422, 503)),
    ("post", f"{B}/stop", "Stop gracefully, or force-stop with force=true", m.StopBody, None, m.StatusResponse, 200,
     (400, 404, 409, 413, 422, 503)),
    ("post", f"{B}/retry", "Re-queue failed items (all, some seqs, or one reason group) with a fresh attempt budget", m.RetryBody, None, m.CountResponse,
     200, (400, 404, 409, 413, 422, 503)),
    ("post", f"{B}/skip", "Skip queued items", m.SkipBody, None, m.CountResponse, 200, (400, 404, 409, 413, 422, 503)),
    ("post", f"{B}/{{batch_run_id}}/rerun", "Re-run a batch's needs-review or failed products as a new planned batch "
     "(its settings with the changes given)", m.RerunBody, None, m.PlanResponse, 201, (400, 404, 413, 422, 503)),
    ("get", f"{B}/{{batch_run_id}}/status", "Live status: counts, throughput, ETA, running items, failures, feed",
     None, None, m.StatusResponse, 200, (404,)),
    ("get", f"{B}/{{batch_run_id}}/items", "Items in run order, filtered and paged", None, m.ItemsQuery,
     m.ItemsResponse, 200, (404, 422)),
    ("get", f"{B}/{{batch_run_id}}/events", "The batch's audit events (or one item's), paged", None, m.EventsQuery,
     m.EventsResponse, 200, (404, 422)),
    ("get", f"{B}/{{batch_run_id}}/failures", "Failed items grouped by reason, largest group first", None,
     m.FailuresQuery, m.FailuresResponse, 200, (404, 422)),
    ("get", f"{B}/{{batch_run_id}}/needs_review", "Completed products below the quality gate and the fields they lack",
     None, None, m.NeedsReviewResponse, 200, (404,)),
    ("get", f"{B}/{{batch_run_id}}", "One batch: its state, counts, outcomes, result and reason", None, None,
     m.BatchSummary, 200, (404,)),
    ("get", B, "Batches, newest first", None, m.PageQuery, m.BatchListResponse, 200, (422,)),
    ("get", f"{PREFIX}/products", "The catalog with each product's last run status, time and quality", None,
     m.ProductsQuery, m.ProductsResponse, 200, (422,)),
    ("get", f"{PREFIX}/settings", "The server's default batch settings (what a plan's left-out settings take)", None,
     None, BatchSettings, 200, ()),
    ("get", "/healthz", "Liveness, whether the server can write, and what it serves", None, None, m.Health, 200,
     (503,)),
]
ERROR_TEXT = {400: "Malformed JSON", 401: "Missing or wrong API token",
              403: "A Host or Origin that is not this server's, a network request to a server without auth, or (plan) "
                   "a setting naming a program, path, LLM endpoint or key the server does not offer",
              404: "Unknown batch (retry: or a reason group with no failed items)", 409: "Illegal lifecycle move, another batch running, or a large plan without confirm_large",
              413: "Body too large", 415: "Body not application/json", 422: "Invalid field, unknown field, empty selection, or nothing to re-run",
              503: "The database cannot be written now (disk full, read-only): nothing was changed; retry later"}


def _query_parameters(model: type[BaseModel], schema: dict[str, Any]) -> list[dict[str, Any]]:
    props = schema.get("properties", {})
    params = []
    for name, prop in props.items():
        param: dict[str, Any] = {"name": name, "in": "query", "required": False, "schema": prop}
        if prop.get("type") == "array":
            param.update(style="form", explode=True)
        params.append(param)
    return params


def _operation_id(method: str, path: str) -> str:
    return f"{method}_{path.strip('/').replace('/', '_').replace('{', '').replace('}', '')}"


def _links() -> dict[str, Any]:
    batch_id = "$response.body#/batch_run_id"
    links: dict[str, Any] = {}
    for method, path, *_ in OPERATIONS:
        name = path.rsplit("/", 1)[-1].replace("{batch_run_id}", "batch").capitalize()
        if "{batch_run_id}" in path:
            links[name] = {"operationId": _operation_id(method, path), "parameters": {"batch_run_id": batch_id}}
        elif method == "post" and path != f"{B}/plan":
            links[name] = {"operationId": _operation_id(method, path), "requestBody": {"batch_run_id": batch_id}}
    return links


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    bodies = {op[3] for op in OPERATIONS if op[3]} | {op[5] for op in OPERATIONS} | {m.ErrorBody}
    _, top = models_json_schema([(model, "validation" if model in {op[3] for op in OPERATIONS} else "serialization")
                                 for model in sorted(bodies, key=lambda c: c.__name__)], ref_template=REF)
    schemas = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for method, path, summary, body, query, response, ok, errors in OPERATIONS:
        op: dict[str, Any] = {"summary": summary, "operationId": _operation_id(method, path),
                              "responses": {str(ok): {"description": "OK", "content": {"application/json": {"schema": {"$ref": REF.format(model=response.__name__)}}}}}}
        if "{batch_run_id}" in path:
            op["parameters"] = [{"name": "batch_run_id", "in": "path", "required": True, "schema": {"type": "string"}}]
        if query is not None:
            query_schema = query.model_json_schema(ref_template=REF)
            op.setdefault("parameters", []).extend(_query_parameters(query, query_schema))
            schemas.update(query_schema.get("$defs", {}))
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=body.__name__)}}}}
            op["security"] = [{}, {"bearer": []}]
        for status in sorted({*errors, 403, *((415,) if body else ())}):  # every route checks Host and Origin
            op["responses"][str(status)] = {"description": ERROR_TEXT[status], "content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}
        if response in (m.PlanResponse, m.StatusResponse):  # follow the batch id to what can be done next
            op["responses"][str(ok)]["links"] = _links()
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "IndexLab Batch API", "version": "1",
                 "description": "Plan, run and watch multi-product spec-harvest batches. Timestamps are ISO-8601 UTC."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": schemas,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                                      "description": "INDEXLAB_API_TOKEN, required on POST when the server sets it"}}},
    }

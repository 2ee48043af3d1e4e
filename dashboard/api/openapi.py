"""The OpenAPI 3.1 document, generated from the operations declared in ``dashboard.api.operations`` and the
pydantic models they name."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from dashboard.api import models as m
from dashboard.api.operations import OPERATIONS, B

REF = "#/components/schemas/{model}"
ERROR_TEXT = {400: "Malformed JSON", 401: "Missing or wrong API token",
              403: "A Host or Origin that is not this server's, a network request to a server without auth, or (plan) "
                   "a setting naming a program, path, LLM endpoint or key the server does not offer",
              404: "Unknown batch (retry: or a reason group with no failed items; outcome: a product with no recorded outcome)",
              409: "Illegal lifecycle move (a queued batch started again, a batch not queued moved in the queue), or "
                   "a large plan without confirm_large",
              413: "Body too large", 415: "Body not application/json",
              422: "Invalid field (a priority outside 1..10, say), unknown field, empty selection, or nothing to re-run",
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


def _links() -> dict[str, Any]:
    batch_id = "$response.body#/batch_run_id"
    links: dict[str, Any] = {}
    for op in OPERATIONS:
        name = op.path.rsplit("/", 1)[-1].replace("{batch_run_id}", "batch").capitalize()
        if "{batch_run_id}" in op.path:
            links[name] = {"operationId": op.name, "parameters": {"batch_run_id": batch_id}}
        elif op.method == "post" and op.body is not None and op.path != f"{B}/plan":
            links[name] = {"operationId": op.name, "requestBody": {"batch_run_id": batch_id}}
    return links


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    requests = {op.body for op in OPERATIONS if op.body}
    bodies = requests | {op.response for op in OPERATIONS if op.response} | {m.ErrorBody}
    _, top = models_json_schema([(model, "validation" if model in requests else "serialization")
                                 for model in sorted(bodies, key=lambda c: c.__name__)], ref_template=REF)
    schemas = top.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        method, path, body, query, response, ok = (operation.method, operation.path, operation.body, operation.query,
                                                   operation.response, operation.ok)
        schema = ({"$ref": REF.format(model=response.__name__)} if response is not None
                  else {"type": "string"} if operation.media_type.startswith("text/")
                  else {"type": "string", "format": "binary"})
        op: dict[str, Any] = {"summary": operation.summary, "operationId": operation.name,
                              "responses": {str(ok): {"description": "OK", "content": {
                                  operation.media_type: {"schema": schema}}}}}
        names = re.findall(r"\{(\w+)\}", path)
        if names:
            op["parameters"] = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                                for name in names]
        if query is not None:
            query_schema = query.model_json_schema(ref_template=REF)
            op.setdefault("parameters", []).extend(_query_parameters(query, query_schema))
            schemas.update(query_schema.get("$defs", {}))
        if body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": {"$ref": REF.format(model=body.__name__)}}}}
        if method == "post":
            op["security"] = [{}, {"bearer": []}]
        for status in sorted({*operation.errors, 403, *((415,) if body else ())}):  # every route checks Host and Origin
            op["responses"][str(status)] = {"description": ERROR_TEXT[status], "content": {
                "application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}
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

"""Request and response bodies of the REST API. The OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema, create_model, model_validator

from engine.core.naming import Name, TagList
from engine.core.plan import PlanSummary, Selection
from engine.core.settings import BatchSettings
from engine.core.states import BatchState, ItemState
from engine.service.models import (
    BatchPage,
    BatchQueue,
    BatchStatus,
    DeletedBatch,
    EventPage,
    FailureReport,
    Gate,
    ItemPage,
    NeedsReview,
    ProductOutcome,
    ProductPage,
    Result,
)
from engine.service.models import BatchSummary as BatchSummary  # response bodies as they are
from engine.service.models import Health as Health
from engine.service.models import RunnerList as RunnerList

MAX_PAGE = 1000
MAX_OFFSET = 2**31 - 1  # larger offsets overflow the store's INTEGER arithmetic
MAX_REASON = 4000  # a reason group: a fingerprint (at most 200), or the whole error of an item failed before them


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests
def _changes_of(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional (same types and bounds): the fields a client changes."""
    fields: dict[str, Any] = {
        field: ((Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation) | None,
                Field(None, description=info.description))
        for field, info in model.model_fields.items()
    }
    return create_model(name, __config__=ConfigDict(extra="forbid"), __doc__=(
        "Batch settings to change; the fields left out take the server's defaults "
        "(GET /api/v1/indexlab/settings)."), **fields)


SettingsChanges = _changes_of(BatchSettings, "SettingsChanges")


class PlanBody(Strict):
    """Selection, order and settings of a new batch (settings not given take the server's defaults)."""

    selection: Selection
    brand_order: list[str] = Field(default_factory=list, max_length=1000)
    pinned_brands: list[str] = Field(default_factory=list, max_length=1000)
    settings: SettingsChanges = Field(default_factory=SettingsChanges)  # type: ignore[valid-type]
    confirm_large: bool = False
    name: Name | None = Field(None, description="The batch's name; default: from its selection.")
    tags: TagList = Field(default_factory=list)


class BatchRef(Strict):
    batch_run_id: str = Field(min_length=1, max_length=64)


class StopBody(BatchRef):
    force: bool = Field(False, description="Cancel in-flight items now instead of letting them finish.")


class RetryBody(BatchRef):
    seqs: list[int] | None = Field(None, max_length=1_000_000, description="Only these items; default every failed item.")
    reason: str | None = Field(None, min_length=1, max_length=MAX_REASON, description=(
        "Only the failed items of this reason group (a `reason` of GET .../failures); not with seqs."))


class RerunBody(Strict):
    """Which products of a batch to run again, as a new planned batch, and the settings to change for it."""

    which: Literal["needs_review", "failed"] = Field(description=(
        "needs_review: completed products below the quality gate; failed: failed items (or one reason group)."))
    reason: str | None = Field(None, min_length=1, max_length=MAX_REASON,
                               description="With which=failed: only this reason group.")
    settings: SettingsChanges = Field(default_factory=SettingsChanges, description=(  # type: ignore[valid-type]
        "Settings to change from the batch's own (another profile, say); the rest are the batch's."))

    @model_validator(mode="after")
    def _reason_only_for_failed(self) -> RerunBody:
        if self.reason is not None and self.which != "failed":
            raise ValueError("a reason group selects failed items: send which='failed' with it")
        return self


class SkipBody(BatchRef):
    seqs: list[int] = Field(min_length=1, max_length=1_000_000)


class ItemsQuery(Strict):
    state: ItemState | None = None
    brand: str | None = Field(None, max_length=200)
    search: str | None = Field(None, max_length=200, description="Text in the product id, brand, model or variant.")
    reason: str | None = Field(None, max_length=MAX_REASON, description="Failed items of this reason group.")
    gate: Gate | None = Field(None, description="Completed items that passed or need review.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    limit: int = Field(100, ge=1, le=MAX_PAGE)


class PageQuery(Strict):
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    limit: int = Field(50, ge=1, le=MAX_PAGE)


def _when(value: Any) -> date | datetime:
    if isinstance(value, (date, datetime)):
        return value
    try:
        return date.fromisoformat(value) if len(value) == 10 else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise ValueError("not a date (YYYY-MM-DD) or a time (ISO 8601; UTC unless it names its offset)") from None


When = Annotated[date | datetime, PlainValidator(_when),
                 WithJsonSchema({"type": "string", "description": "A date (YYYY-MM-DD) or an ISO 8601 time."})]


class BatchListQuery(PageQuery):
    """Filters of the batch list; each narrows it (an unknown tag matches nothing)."""

    state: BatchState | None = None
    result: Result | None = Field(None, description="Finished batches with this result.")
    name: str | None = Field(None, max_length=200, description="Text in the name (any case), or the whole batch id.")
    tag: str | None = Field(None, max_length=200, description="Batches with this tag (any case).")
    since: When | None = Field(None, description="Created at or after (a date alone: its start, UTC).")
    until: When | None = Field(None, description="Created before (a date alone: the end of that day, UTC).")
    archived: bool = Field(False, description="Include archived batches.")


class EventsQuery(PageQuery):
    seq: int | None = Field(None, ge=0, le=MAX_OFFSET, description="Only this item's events.")


class FailuresQuery(Strict):
    group_by: Literal["reason"] = Field("reason", description="How failed items are grouped (by reason only, today).")
    limit: int = Field(100, ge=1, le=MAX_PAGE, description="At most this many groups, largest first.")


class ProductsQuery(Strict):
    search: str | None = Field(None, max_length=200)
    brand: list[str] = Field(default_factory=list)
    category: list[str] = Field(default_factory=list)
    status: str | None = Field(None, max_length=32, description="Last run status, or 'never run'.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    limit: int = Field(100, ge=1, le=MAX_PAGE)


class OutcomeQuery(Strict):
    batch_run_id: str | None = Field(None, max_length=200, description="Prefer the outcome this batch recorded for "
                                     "the product; without one there, the product's latest outcome is answered.")


# --------------------------------------------------------------------------- responses
class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class PreviewResponse(PlanSummary):
    """What a plan would save (Plan Preview): nothing is written; ``needs_confirmation`` says whether saving it needs
    confirm_large."""


class PlanResponse(PlanSummary):
    """The saved plan: the preview's summary plus the new batch's id, state and time."""

    batch_run_id: str
    state: BatchState
    created_at: datetime


# The service's read models are the response bodies (their schema is theirs); these name them for the API.
class StatusResponse(BatchStatus):
    pass


class ItemsResponse(ItemPage):
    pass


class EventsResponse(EventPage):
    pass


class BatchListResponse(BatchPage):
    pass


class CountResponse(BaseModel):
    batch_run_id: str
    count: int
    status: StatusResponse


class FailuresResponse(FailureReport):
    pass


class NeedsReviewResponse(NeedsReview):
    pass


class ProductsResponse(ProductPage):
    pass


class OutcomeResponse(ProductOutcome):
    pass


# --------------------------------------------------------------------------- many batches: priority, workers, queue
class PriorityBody(BatchRef):
    priority: int = Field(ge=1, le=10, description="Weight in the server's fair share of workers: 1..10, higher runs more.")


class WorkersBody(BatchRef):
    workers: int = Field(ge=1, le=64, description="The batch's own cap on products run at once (the server's "
                         "max_workers bounds all batches together).")


class QueueMoveBody(BatchRef):
    position: int = Field(ge=1, le=1_000_000, description="The queued batch's new place in the queue; 1: admitted next.")


class QueueResponse(BatchQueue):
    pass


# --------------------------------------------------------------------------- names, tags, archive, delete
class RenameBody(Strict):
    name: Name


class TagsBody(Strict):
    """Either the whole list (``tags``) or what to add and remove."""

    tags: list[str] | None = Field(None, max_length=1000, description="Replace every tag with these.")
    add: list[str] = Field(default_factory=list, max_length=1000)
    remove: list[str] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _one_way(self) -> TagsBody:
        if self.tags is not None and (self.add or self.remove):
            raise ValueError("send either tags (the whole list) or add/remove, not both")
        return self


class NoBody(Strict):
    """An empty JSON object: the batch is in the path."""


class DeleteBody(Strict):
    confirm: str = Field(min_length=1, max_length=64, description=(
        "The batch's id again: a delete cannot be undone (its items, outcomes and events go; one batch_deleted "
        "audit record stays)."))


class DeletedResponse(DeletedBatch):
    pass

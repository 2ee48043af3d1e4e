"""Request and response bodies of the REST API. The OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from engine.core.plan import PlanSummary, Selection
from engine.core.settings import BatchSettings
from engine.core.states import BatchState, ItemState
from engine.service.models import (
    BatchPage,
    BatchStatus,
    EventPage,
    FailureReport,
    Gate,
    ItemPage,
    NeedsReview,
    ProductPage,
)
from engine.service.models import BatchSummary as BatchSummary  # response bodies as they are
from engine.service.models import Health as Health

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


# --------------------------------------------------------------------------- responses
class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


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

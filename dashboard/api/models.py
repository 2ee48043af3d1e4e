"""Request and response bodies of the REST API. The OpenAPI document is generated from these."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from engine.core.plan import PlanSummary, Selection
from engine.core.settings import BatchSettings
from engine.core.states import BatchState, ItemState

MAX_PAGE = 1000
MAX_OFFSET = 2**31 - 1  # larger offsets overflow the store's INTEGER arithmetic
MAX_REASON = 4000  # a reason group: a fingerprint (at most 200), or the whole error of an item failed before them
Gate = Literal["passed", "needs_review"]
Result = Literal["succeeded", "partial", "failed"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- requests
def _changes_of(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional (same types and bounds): the fields a client changes."""
    fields: dict[str, Any] = {
        field: (Optional[Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation],
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
    def _reason_only_for_failed(self) -> "RerunBody":
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


class ItemRef(BaseModel):
    """Which product an item is (as planned)."""

    seq: int
    product_id: str | None = None
    brand: str | None = None
    model: str | None = None
    variant: str | None = None
    category: str | None = None


class RunningItem(ItemRef):
    attempt: int
    phase: str | None = None
    started_at: datetime | None = None


class Failure(ItemRef):
    attempt: int
    error: str
    final: bool
    at: datetime


class FeedEvent(BaseModel):
    occurred_at: datetime | None
    kind: str
    seq: int | None = None
    from_state: str | None = None
    to_state: str | None = None
    actor: str | None = None
    reason: str | None = None


class Throughput(BaseModel):
    recent_per_hour: float | None
    overall_per_hour: float | None
    window_seconds: float


class Eta(BaseModel):
    seconds: float
    low_seconds: float
    high_seconds: float


class Outcomes(BaseModel):
    """What came out of a batch's items, each in exactly one count."""

    succeeded: int = Field(description="Completed and passed the quality gate (or not gated).")
    needs_review: int = Field(description="Completed below the batch's min_required_coverage.")
    failed: int
    skipped: int
    stopped: int
    unfinished: int = Field(description="Queued or running: not run to an end yet.")


RESULT_TEXT = ("succeeded: every item completed and passed its quality gate; partial: some failed, were skipped "
               "or stopped, or need review; failed: none succeeded. null until the batch is completed or stopped.")


class StatusResponse(BaseModel):
    batch_run_id: str
    state: BatchState
    total: int
    counts: dict[ItemState, int]
    done: int
    progress: float
    throughput: Throughput
    eta: Eta | None
    running: list[RunningItem]
    current: RunningItem | None
    recent_failures: list[Failure]
    recent_events: list[FeedEvent]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    halted: str | None = Field(description="A live engine problem (the store cannot write), while there is one.")
    result: Result | None = Field(description=RESULT_TEXT)
    outcomes: Outcomes
    result_text: str = Field(description='The result in words, e.g. "Partial: 22 succeeded, 3 need review, 18 failed".')
    reason: str | None = Field(description="Why the batch is in its state: the reason of its last transition "
                               "(every item finished, fail-fast with its reason group, force stop, ...).")


class BatchItem(BaseModel):
    seq: int
    product_id: str
    category: str
    brand: str
    model: str
    variant: str
    state: ItemState
    attempts: int
    last_error: str | None
    phase: str | None
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    crashes: int = Field(0, description="Times this item was running when its process died.")
    outcome: Any = None
    gate: Gate | None = Field(None, description="A completed item's quality gate; null when not gated.")
    coverage: float | None = Field(None, description="Share of required fields its outcome found.")
    fingerprint: str | None = Field(None, description="A failed item's reason group.")


class ItemsResponse(BaseModel):
    batch_run_id: str
    total: int
    offset: int
    limit: int
    items: list[BatchItem]


class Event(BaseModel):
    event_id: int
    seq: int | None
    occurred_at: datetime
    kind: str
    from_state: str | None
    to_state: str | None
    attempt: int | None
    actor: str | None
    reason: str | None
    data: Any = None


class EventsResponse(BaseModel):
    batch_run_id: str
    total: int
    offset: int
    limit: int
    events: list[Event]


class BatchSummary(BaseModel):
    batch_run_id: str
    state: BatchState
    profile: str
    runner: str
    item_count: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    counts: dict[ItemState, int] = Field(description="Items per state.")
    outcomes: Outcomes
    result: Result | None = Field(description=RESULT_TEXT)
    result_text: str
    reason: str | None = Field(description="The reason of the batch's last transition.")


class BatchListResponse(BaseModel):
    total: int | None = None
    offset: int
    limit: int
    batches: list[BatchSummary]


class CountResponse(BaseModel):
    batch_run_id: str
    count: int
    status: StatusResponse


class FailureExample(BaseModel):
    seq: int
    product_id: str


class FailureGroup(BaseModel):
    reason: str = Field(description="The group: the error's first line with numbers, ids, URLs and the product's "
                        "own names masked (retry it with POST .../retry {reason}).")
    count: int
    first_seen: datetime | None
    last_seen: datetime | None
    example_error: str | None = Field(description="The newest error of the group, as the job said it.")
    examples: list[FailureExample] = Field(description="The group's first items in run order (at most 5).")


class FailuresResponse(BaseModel):
    batch_run_id: str
    group_by: Literal["reason"]
    failed: int = Field(description="Failed items in all groups.")
    groups: list[FailureGroup] = Field(description="Largest first.")


class MissingField(BaseModel):
    field: str
    products: int


class NeedsReviewResponse(BaseModel):
    batch_run_id: str
    count: int = Field(description="Completed items below the quality gate.")
    min_required_coverage: float = Field(description="The batch's gate (0: off).")
    missing_fields: list[MissingField] = Field(description="Required fields they lack, most often first.")


class Product(BaseModel):
    product_id: str
    category: str
    brand: str
    model: str
    variant: str
    last_status: str
    last_run_at: datetime | None
    last_batch_run_id: str | None
    coverage: float | None
    confidence: float | None
    conflicts: int | None


class ProductsResponse(BaseModel):
    total: int
    offset: int
    limit: int
    products: list[Product]


class Health(BaseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: the server cannot write its database now")
    writable: bool
    cause: str | None = Field(None, description="Why the database cannot be written, while it cannot.")
    held_changes: int = Field(0, description="Engine changes waiting for the database to be writable again.")
    time: datetime
    db: str = Field(description="The database file's name.")
    schema_version: int
    catalog_products: int
    active_batch_run_id: str | None

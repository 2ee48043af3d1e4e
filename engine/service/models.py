"""The read models the service hands to every face: the REST API (its response bodies are these or built from
them, so its OpenAPI schema derives from them), the dashboard's views and both CLIs.

They describe what a batch is and did; none of them knows about HTTP. Timestamps are UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from engine.core.states import BatchState, ItemState

Gate = Literal["passed", "needs_review"]
Result = Literal["succeeded", "partial", "failed"]
RESULT_TEXT = ("succeeded: every item completed and passed its quality gate; partial: some failed, were skipped "
               "or stopped, or need review; failed: none succeeded. null until the batch is completed or stopped.")


# --------------------------------------------------------------------------- a batch's live status
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


class ExecutorInfo(BaseModel):
    """Where the server runs product jobs (docs/scale-out.md)."""

    executor: Literal["local", "dask"] = Field(description="local: the server's own threads; dask: a Dask cluster.")
    max_workers: int = Field(description="The server's budget: products run at once, all batches together.")
    workers: int = Field(description="Worker processes (1: the server itself).")
    worker_threads: int = Field(description="Threads over those processes.")
    scheduler: str | None = Field(None, description="The Dask scheduler's address.")
    status: str | None = Field(None, description="The connection to it: running, or unreachable while it is away.")
    local_cluster: bool = Field(False, description="A LocalCluster the server started (no scheduler was given).")
    dashboard_link: str | None = Field(None, description="The Dask dashboard, when the scheduler serves one.")
    offered: list[Literal["local", "dask"]] = Field(default_factory=list, description=(
        "The executors a batch may choose on this server (its settings' executor), the server's default first."))


class BatchStatus(BaseModel):
    """A batch's live status: counts, throughput, ETA, running items, recent failures and feed, and its result."""

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
    priority: int = Field(5, ge=1, le=10, description="Its weight in the server's fair share of workers (1..10, "
                          "higher runs more).")
    workers: int | None = Field(None, description="Its own cap on products run at once (the server's max_workers "
                                "bounds all batches together).")
    queue_position: int | None = Field(None, description="Its place in the batch queue while queued (1: admitted next).")
    executor: ExecutorInfo | None = Field(None, description="Where this server runs product jobs (None: read from the "
                                          "database alone, without a server).")


class QueuedBatch(BaseModel):
    """A batch waiting in the queue for a running batch to pause, stop or complete."""

    position: int = Field(description="1: admitted next.")
    batch_run_id: str
    priority: int
    workers: int
    item_count: int
    created_at: datetime


class BatchQueue(BaseModel):
    """The batch queue in admission order, and the server's worker budget."""

    max_workers: int | None = Field(description="Products run at once by the whole server, all batches together "
                                    "(None: read without a server, from the database alone).")
    max_running_batches: int | None = Field(description="Batches running at once; starting one more queues it.")
    running: list[str] = Field(description="The batches running now, highest priority first.")
    queued: list[QueuedBatch]
    executor: ExecutorInfo | None = Field(None, description="Where this server runs product jobs.")


# --------------------------------------------------------------------------- items and events
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


class ItemPage(BaseModel):
    """A page of a batch's items in run order, and how many match the filters in all."""

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


class EventPage(BaseModel):
    """A page of a batch's audit events in order, and how many there are."""

    batch_run_id: str
    total: int
    offset: int
    limit: int
    events: list[Event]


# --------------------------------------------------------------------------- batches and what came out
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
    name: str | None = Field(None, description="The batch's name (plain text); null for a batch planned before names.")
    tags: list[str] = Field(default_factory=list, description="Its tags, case-folded.")
    archived_at: datetime | None = Field(None, description="When it was archived (hidden from lists by default).")
    running_s: float | None = Field(None, description="Seconds it has spent running (paused and queued time left out).")
    items_per_minute: float | None = Field(None, description="Items completed or failed per minute of running time.")


class DeletedBatch(BaseModel):
    """What a deleted batch leaves: its audit record (a ``batch_deleted`` event under its id)."""

    batch_run_id: str
    deleted: bool = True
    name: str | None
    state: BatchState
    item_count: int
    tags: list[str]
    actor: str


class BatchPage(BaseModel):
    """Batches, newest first, each with its counts, outcomes and result."""

    total: int | None = Field(None, description="Batches matching the filters in all pages.")
    offset: int
    limit: int
    batches: list[BatchSummary]


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


class FailureReport(BaseModel):
    """A batch's failed items grouped by reason, largest group first."""

    batch_run_id: str
    group_by: Literal["reason"]
    failed: int = Field(description="Failed items in all groups.")
    groups: list[FailureGroup] = Field(description="Largest first.")


class MissingField(BaseModel):
    field: str
    products: int


class NeedsReview(BaseModel):
    """Completed products below the batch's quality gate: how many, and which required fields they lack."""

    batch_run_id: str
    count: int = Field(description="Completed items below the quality gate.")
    min_required_coverage: float = Field(description="The batch's gate (0: off).")
    missing_fields: list[MissingField] = Field(description="Required fields they lack, most often first.")


class OutcomeField(BaseModel):
    field: str
    value: Any = None
    unit: str | None = None
    confidence: float | None = None
    tier: str | None = None
    source_url: str | None = None
    snippet_id: str | None = None
    snippet: str | None = Field(None, description="The source's words the value was read from (at most 1,000 "
                                "characters; longer ones are cut and end in '…'); null when the runner gave none, "
                                "or for outcomes stored before snippets were kept.")
    conflict: bool = False


class ProductOutcome(BaseModel):
    """A product's latest recorded outcome with every field and its evidence."""

    batch_run_id: str
    seq: int
    product_id: str
    attempt: int | None = None
    recorded_at: datetime | None = None
    coverage: float | None = None
    confidence: float | None = None
    conflicts: int | None = None
    summary: dict[str, Any] = Field(default_factory=dict)
    fields: list[OutcomeField] = Field(default_factory=list)


# --------------------------------------------------------------------------- the catalog and the server
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


class ProductPage(BaseModel):
    """A page of the catalog with each product's last run, and how many products match in all."""

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
    active_batch_run_id: str | None = Field(description="One batch the engine holds: the highest-priority running "
                                             "one, else one it has loaded (paused, say); null when none.")
    running_batch_run_ids: list[str] = Field(default_factory=list, description="Every batch running or stopping "
                                             "now, highest priority first (several run at once).")
    executor: ExecutorInfo | None = Field(None, description="Where product jobs run; on Dask, ``status`` "
                                          "``unreachable`` while the scheduler is away (its batches are paused).")


# --------------------------------------------------------------------------- runners
class RunnerEntry(BaseModel):
    """A runner this server's process can run: a built-in, or a plugin an installed distribution offers."""

    name: str = Field(description="What settings.runner names.")
    origin: Literal["built-in", "plugin"] = Field(description="plugin: from the indexlab.runners entry-point group "
                                                  "of an installed distribution (docs/runners.md).")
    distribution: str | None = Field(None, description="A plugin's distribution.")
    version: str | None = Field(None, description="A plugin's distribution's version.")
    entry_point: str | None = Field(None, description="A plugin's callable, as module:attribute.")
    problem: str | None = Field(None, description="Why it cannot run here (a plugin whose import fails), once "
                                "that is known: when a batch or a check asked for it.")


class RunnerList(BaseModel):
    runners: list[RunnerEntry]

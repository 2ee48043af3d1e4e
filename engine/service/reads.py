"""The service's typed reads: what a face shows of batches, items, events, failures and the catalog, as the read
models of ``engine.service.models``. ``BatchService`` has these methods; they read through its store and engine."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pandas as pd

from engine.core.catalog import Catalog
from engine.core.settings import BatchSettings
from engine.core.states import ItemState
from engine.service.models import (
    BatchItem,
    BatchPage,
    BatchStatus,
    BatchSummary,
    Event,
    EventPage,
    Failure,
    FailureGroup,
    FailureReport,
    FeedEvent,
    Health,
    ItemPage,
    MissingField,
    NeedsReview,
    Product,
    ProductOutcome,
    ProductPage,
)
from engine.store import Store

if TYPE_CHECKING:
    from engine.run.engine import BatchEngine

FEED_KINDS = frozenset({"batch_transition", "operator_action", "bulk_transition"})  # the operator's feed
FEED_FIRST_EVENTS = 50  # the batch's first events, read for the feed when a batch is followed
FEED_SEED_EVENTS = 2_000  # and its newest ones
FAILURES_KEEP = 20  # as many as the engine's live status keeps (engine.run.live.MAX_FAILURES)
_PRODUCT_COLUMNS = list(Product.model_fields)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts with None (not NaN or NaT) for missing values."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


class TypedReads:
    """The read-model methods of ``BatchService`` (a mixin: it brings the store, catalog and engine)."""

    store: Store
    catalog: Catalog | None
    engine: BatchEngine | None

    # the untyped reads these build on (BatchService's own)
    def status(self, batch_run_id: str) -> dict[str, Any]: ...  # pragma: no cover
    def batch_with_counts(self, batch_run_id: str) -> dict[str, Any]: ...  # pragma: no cover
    def batch_list(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> tuple[list[dict[str, Any]], int]: ...  # pragma: no cover
    def needs_review(self, batch_run_id: str) -> dict[str, Any]: ...  # pragma: no cover
    def health(self) -> dict[str, Any]: ...  # pragma: no cover
    def catalog_view(self) -> pd.DataFrame: ...  # pragma: no cover

    def batch_status(self, batch_run_id: str) -> BatchStatus:
        """The live status from the engine, or (no engine here) as the store last recorded it."""
        return BatchStatus.model_validate(self.status(batch_run_id))

    def batch_summary(self, batch_run_id: str) -> BatchSummary:
        """One batch as the list shows it: its row, items per state, outcomes, result and reason."""
        return BatchSummary.model_validate(self.batch_with_counts(batch_run_id))

    def batch_page(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> BatchPage:
        """Batches, newest first, with their counts and results, filtered (see ``batch_list``), and how many match."""
        batches, total = self.batch_list(limit=limit, offset=offset, **filters)
        return BatchPage(offset=offset, limit=limit, total=total,
                         batches=[BatchSummary.model_validate(b) for b in batches])

    def batch_settings(self, batch_run_id: str) -> BatchSettings:
        """The settings a batch was planned with."""
        return BatchSettings(**self.store.get_batch(batch_run_id)["settings"])

    def item_page(self, batch_run_id: str, *, offset: int = 0, limit: int = 100, **where: str | None) -> ItemPage:
        """A page of a batch's items in run order, and how many match ``where`` in all (see ``items``)."""
        self.store.get_batch(batch_run_id)  # NotFound for an unknown batch, not an empty page
        page = self.store.items(batch_run_id, offset=offset, limit=limit, **where)
        items = []
        for row in _records(page.drop(columns=["batch_run_id", "attempt_base"])):
            row["outcome"] = json.loads(row["outcome"]) if row["outcome"] else None
            items.append(BatchItem.model_validate(row))
        return ItemPage(batch_run_id=batch_run_id, total=self.store.count_items(batch_run_id, **where),
                        offset=offset, limit=limit, items=items)

    def event_page(self, batch_run_id: str, *, seq: int | None = None, offset: int = 0, limit: int = 100) -> EventPage:
        """A page of the batch's audit events in order (one item's with ``seq``), and how many there are."""
        self.store.get_batch(batch_run_id)
        events = self.store.events(batch_run_id, seq=seq, offset=offset, limit=limit)
        return EventPage(batch_run_id=batch_run_id, total=self.store.count_events(batch_run_id, seq=seq),
                         offset=offset, limit=limit, events=[Event.model_validate(e) for e in events])

    def failure_report(self, batch_run_id: str, *, limit: int = 100) -> FailureReport:
        """Failed items grouped by reason (at most ``limit`` groups, largest first), and how many failed in all."""
        summary = self.batch_with_counts(batch_run_id)  # NotFound for an unknown batch
        groups = self.store.failure_groups(batch_run_id, limit=limit)
        return FailureReport(batch_run_id=batch_run_id, group_by="reason",
                             failed=summary["counts"].get(ItemState.FAILED.value, 0),
                             groups=[FailureGroup.model_validate(g) for g in groups])

    def review_report(self, batch_run_id: str) -> NeedsReview:
        """Completed products below the batch's quality gate: how many, and which required fields they lack."""
        review = self.needs_review(batch_run_id)
        return NeedsReview(batch_run_id=batch_run_id, count=review["count"],
                           min_required_coverage=review["min_required_coverage"],
                           missing_fields=[MissingField.model_validate(f) for f in review["missing_fields"]])

    def product_outcome(self, product_id: str, prefer_batch: str | None = None) -> ProductOutcome:
        """A product's latest recorded outcome with its fields and evidence, its outcome in ``prefer_batch`` when that
        batch recorded one (NotFound if it never recorded one)."""
        return ProductOutcome.model_validate(self.store.latest_outcome(product_id, prefer_batch))

    def product_page(self, *, search: str | None = None, brand: list[str] | None = None,
                     category: list[str] | None = None, status: str | None = None,
                     offset: int = 0, limit: int = 100) -> ProductPage:
        """A page of the catalog with each product's last run: ``search`` in brand, model, variant or id, brands
        and categories (any case), last run status ('never run' too)."""
        view = self.catalog_view()
        mask = view["product_id"].notna()
        if search and search.strip():
            hay = view["brand"] + " " + view["model"] + " " + view["variant"] + " " + view["product_id"]
            mask &= hay.str.casefold().str.contains(search.strip().casefold(), regex=False)
        if brand:
            mask &= view["brand"].str.casefold().isin([b.casefold() for b in brand])
        if category:
            mask &= view["category"].str.casefold().isin([c.casefold() for c in category])
        if status:
            mask &= view["last_status"] == status
        chosen = view.loc[mask]
        page = chosen.iloc[offset:offset + limit]
        return ProductPage(total=len(chosen), offset=offset, limit=limit,
                           products=[Product.model_validate(r) for r in _records(page[_PRODUCT_COLUMNS])])

    def health_report(self) -> Health:
        """Can the server write? A one-row write proves it; changes the engine holds back say it cannot yet."""
        health = self.health()
        return Health(status="ok" if health["writable"] else "degraded", time=datetime.now(UTC),
                      catalog_products=len(self.catalog.products) if self.catalog is not None else 0, **health)

    # ------------------------------------------------------------------ what following a batch starts from
    def feed_seed(self, batch_run_id: str) -> list[FeedEvent]:
        """The feed's start: batch moves and operator actions among the first and the newest stored events
        (the engine's live status holds only the last 50, in memory)."""
        self.store.get_batch(batch_run_id)
        events = self.store.events(batch_run_id, offset=0, limit=FEED_FIRST_EVENTS)
        total = self.store.count_events(batch_run_id)
        if total > FEED_FIRST_EVENTS:
            events += self.store.events(batch_run_id, offset=max(FEED_FIRST_EVENTS, total - FEED_SEED_EVENTS),
                                        limit=FEED_SEED_EVENTS)
        return [FeedEvent.model_validate(e) for e in events if e.get("kind") in FEED_KINDS]

    def failures_seed(self, batch_run_id: str, *, keep: int = FAILURES_KEEP) -> list[Failure]:
        """The newest failed items as failures, newest first: the engine's own list lives in memory and starts
        empty after a restart."""
        self.store.get_batch(batch_run_id)
        page = self.store.items(batch_run_id, state=ItemState.FAILED.value)
        if page.empty:
            return []
        page = page.sort_values("finished_at", ascending=False, kind="stable").head(keep)
        return [Failure(seq=int(r["seq"]), product_id=r["product_id"], brand=r["brand"], model=r["model"],
                        variant=r["variant"], attempt=int(r["attempts"]), error=r["last_error"] or "", final=True,
                        at=r["finished_at"] or datetime.now(UTC)) for r in _records(page)]

    def finish_times(self, batch_run_id: str) -> pd.DataFrame:
        """``state`` and ``finished_at`` (UTC) of the batch's completed and failed items, in finishing order."""
        self.store.get_batch(batch_run_id)
        frames = [self.store.items(batch_run_id, state=state)[["state", "finished_at"]]
                  for state in (ItemState.COMPLETED.value, ItemState.FAILED.value)]
        done = pd.concat(frames, ignore_index=True).dropna(subset=["finished_at"])
        return done.sort_values("finished_at", kind="stable").reset_index(drop=True)

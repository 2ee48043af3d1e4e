"""The operations both faces (CLI, dashboard, REST API) call; none of them talks to the store directly."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa

from engine.core.catalog import Catalog
from engine.core.errors import ConfirmationRequired, IndexLabError, NotFound, PlanError
from engine.core.ids import new_batch_run_id
from engine.core.naming import default_name
from engine.core.plan import (
    HISTORY_DAYS,
    LARGE_BATCH_THRESHOLD,
    BatchPlan,
    PlanRequest,
    PlanSummary,
    Selection,
    build_plan,
)
from engine.core.settings import BatchSettings, with_defaults
from engine.core.states import ACTIVE_BATCH_STATES, BatchState
from engine.core.triage import NEEDS_REVIEW
from engine.run.live import stored_status
from engine.run.queue import change_stored_batch, move_stored_in_queue
from engine.runners import get_runner
from engine.service.exports import Exports
from engine.service.models import BatchQueue, QueuedBatch
from engine.service.names import BatchNames, with_result
from engine.service.reads import TypedReads
from engine.store import Store, utcnow

if TYPE_CHECKING:
    from engine.run.engine import BatchEngine

_ITEM_SCHEMA = pa.schema([
    ("seq", pa.int32()), ("product_id", pa.string()), ("category", pa.string()),
    ("brand", pa.string()), ("model", pa.string()), ("variant", pa.string()),
])


@dataclass(frozen=True)
class SavedPlan:
    batch_run_id: str
    state: BatchState
    created_at: datetime
    summary: PlanSummary


class BatchService(BatchNames, TypedReads, Exports):  # Exports: CSV/Parquet and snapshots
    """One per process: owns nothing but the store and the catalog it was given."""

    def __init__(self, store: Store, catalog: Catalog | None, engine: BatchEngine | None = None,
                 defaults: BatchSettings | None = None, *, owns: bool = False) -> None:
        self.store = store
        self.catalog = catalog
        self.engine = engine
        self.defaults = defaults or BatchSettings()  # the server's settings for what a new plan leaves out
        self._owns = owns  # opened by open_service: close() stops the engine and closes the store

    # ------------------------------------------------------------------ lifetime (open_service)
    def close(self) -> None:
        """Stop dispatching (states stay as they are: the next start recovers them) and close the database."""
        if not self._owns:
            return
        self._owns = False
        try:
            if self.engine is not None:
                self.engine.close()
        finally:
            self.store.close()

    @property
    def db_path(self) -> Path:
        return self.store.path

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until the engine has nothing left to dispatch (the headless CLI, tests)."""
        return self._engine().wait_idle(timeout)

    def active_batch_id(self) -> str | None:
        """The batch this process's engine is dispatching, if any."""
        return self.engine.active_batch_id() if self.engine is not None else None

    def latest_batch_id(self, states: tuple[BatchState, ...] | None = None) -> str | None:
        """The newest batch (in one of ``states``), if any."""
        batch = self.store.latest_batch([s.value for s in states] if states else None)
        return batch["batch_run_id"] if batch else None

    def batches_in(self, states: tuple[BatchState, ...]) -> list[dict[str, Any]]:
        """Every batch in one of ``states``, newest first (``run --resume`` lists those it could mean)."""
        return self.store.newest_batches_in([s.value for s in states])

    def preview(self, request: PlanRequest) -> BatchPlan:
        """The plan as it would be saved, estimated from this store's history; writes nothing."""
        s = request.settings
        since = utcnow() - timedelta(days=HISTORY_DAYS)
        durations = self.store.completed_durations(s.profile.value, s.runner, since=since)
        budget = where = None
        if self.engine is not None:  # the server's budget bounds how many run at once: a cluster's threads on Dask
            self.engine.offered_executor(s.executor)  # PlanError: this server has no such executor
            executor = self.engine.executor_info(s.executor)
            budget = executor["max_workers"]
            where = (f"the Dask cluster ({executor['workers']} workers, {executor['worker_threads']} threads)"
                     if executor["executor"] == "dask" else "this server's threads")
        plan = build_plan(self.catalog.products, request, durations=durations, budget=budget, where=where)
        try:
            get_runner(s.runner)
        except IndexLabError as exc:  # a plan may name a runner another process has; starting it here fails
            plan.summary.warnings.append(f"{exc.message}: this process cannot start the batch")
        return plan

    def plan(self, request: PlanRequest, *, actor: str = "operator") -> SavedPlan:
        """Save a plan as a new ``planned`` batch with its ``queued`` items, in one transaction."""
        plan = self.preview(request)
        if plan.summary.needs_confirmation and not request.confirm_large:
            raise ConfirmationRequired(
                f"this batch has {plan.summary.total} items, more than {LARGE_BATCH_THRESHOLD}: "
                "confirm it (confirm_large / --confirm-large) to save it",
                field="confirm_large",
            )
        batch_run_id = new_batch_run_id()
        settings = request.settings
        batch = {
            "batch_run_id": batch_run_id,
            "state": BatchState.PLANNED.value,
            "profile": settings.profile.value,
            "runner": settings.runner,
            "item_count": plan.summary.total,
            "name": request.name or default_name(plan.items["brand"], plan.items["category"]),
            "tags": request.tags,
            "catalog_source": self.catalog.source,
            "settings": settings.model_dump(mode="json"),
            "plan": {
                "request": request.model_dump(mode="json", exclude={"settings", "name", "tags"}),
                "summary": plan.summary.model_dump(mode="json", exclude={"settings"}),
            },
        }
        table = pa.Table.from_pandas(plan.items, schema=_ITEM_SCHEMA, preserve_index=False)
        self.store.save_plan(batch, table, actor=actor, reason=f"planned {plan.summary.total} items")
        saved = self.store.get_batch(batch_run_id)
        return SavedPlan(batch_run_id, BatchState(saved["state"]), saved["created_at"], plan.summary)

    def save_selection(self, user: str, product_ids: list[str], brand_order: list[str], pinned: list[str]) -> None:
        """Keep ``user``'s builder selection for this catalog (the dashboard saves it after each change)."""
        self.store.save_selection(user, self.catalog.source, product_ids, brand_order, pinned)

    def saved_selection(self, user: str) -> dict[str, Any] | None:
        """``user``'s last saved builder selection for this catalog; ids no longer in the catalog are dropped."""
        saved = self.store.load_selection(user, self.catalog.source)
        if saved is not None:
            known = set(self.catalog.products["product_id"])
            saved["product_ids"] = [p for p in saved["product_ids"] if p in known]
        return saved

    def catalog_view(self) -> pd.DataFrame:
        """The catalog with each product's last run status, last run time and quality (coverage, confidence)."""
        runs = self.store.product_runs()
        view = self.catalog.products.merge(runs, on="product_id", how="left")
        view["last_status"] = view["last_status"].fillna("never run")
        return view

    def outcome(self, product_id: str, prefer_batch: str | None = None) -> dict[str, Any]:
        """The product's latest outcome; its outcome in ``prefer_batch`` when that batch recorded one."""
        return self.store.latest_outcome(product_id, prefer_batch)

    def batch(self, batch_run_id: str) -> dict[str, Any]:
        return self.store.get_batch(batch_run_id)

    def batch_with_counts(self, batch_run_id: str) -> dict[str, Any]:
        """The batch's stored row, its items per state, and what came out (``outcomes``, ``result``)."""
        batch = self.store.get_batch(batch_run_id)
        return with_result(batch, *self.store.outcome_counts([batch_run_id])[batch_run_id],
                           running_s=self.store.running_seconds([batch_run_id])[batch_run_id])

    def batches(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> list[dict[str, Any]]:
        """Batches, newest first, each with its items per state and its result: one query for the page's counts.
        ``filters``: state, result, name, tag, since, until, archived (see ``batch_list``; archived ones are left
        out unless archived=True)."""
        return self.batch_list(limit=limit, offset=offset, **filters)[0]

    def failure_groups(self, batch_run_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """Failed items grouped by reason (a normalised fingerprint of the error), largest group first."""
        self.store.get_batch(batch_run_id)
        return self.store.failure_groups(batch_run_id, limit=limit)

    def needs_review(self, batch_run_id: str) -> dict[str, Any]:
        """Completed products below the batch's quality gate: how many, and which required fields they lack."""
        batch = self.store.get_batch(batch_run_id)
        return {"count": self.store.count_items(batch_run_id, gate=NEEDS_REVIEW),
                "min_required_coverage": BatchSettings(**batch["settings"]).min_required_coverage,
                "missing_fields": [{"field": f, "products": n} for f, n in self.store.missing_fields(batch_run_id)]}

    def rerun(self, batch_run_id: str, *, which: str = "needs_review", reason: str | None = None,
              settings: dict[str, Any] | None = None, actor: str = "operator") -> SavedPlan:
        """A new planned batch of some of a batch's products, with its settings changed by ``settings``
        (another profile, say): ``which`` is ``needs_review`` or ``failed`` (optionally one ``reason`` group)."""
        batch = self.store.get_batch(batch_run_id)
        if which not in ("needs_review", "failed"):
            raise PlanError(f"re-run which items? 'needs_review' or 'failed', not {which!r}", field="which")
        where = {"gate": NEEDS_REVIEW} if which == "needs_review" else {"state": "failed", "reason": reason}
        ids = [product_id for _, product_id in self.store.item_ids(batch_run_id, **where)]
        if not ids:
            raise PlanError(f"batch {batch_run_id} has no {which.replace('_', ' ')} items to re-run", field="which")
        request = PlanRequest(selection=Selection(product_ids=ids),
                              brand_order=batch["plan"].get("request", {}).get("brand_order", []),
                              settings=with_defaults(BatchSettings(**batch["settings"]), settings or {}),
                              confirm_large=True)
        return self.plan(request, actor=actor)

    def recent_batches(self, *, limit: int = 30) -> list[dict[str, Any]]:
        """Batches as stored, newest first, without their counts (one cheap read: the Summary's batch picker)."""
        return self.store.list_batches(limit=limit)

    def latest_batch(self) -> dict[str, Any] | None:
        """The batch a new page shows: the newest running, paused or stopping one, else the newest."""
        return self.store.latest_batch([s.value for s in ACTIVE_BATCH_STATES]) or self.store.latest_batch()

    def events(self, batch_run_id: str, *, seq: int | None = None, offset: int = 0,
               limit: int = 100) -> tuple[list[dict[str, Any]], int]:
        """A page of the batch's audit events in order (one item's with ``seq``), and how many there are."""
        self.store.get_batch(batch_run_id)  # NotFound for an unknown batch
        return (self.store.events(batch_run_id, seq=seq, offset=offset, limit=limit),
                self.store.count_events(batch_run_id, seq=seq))

    def health(self) -> dict[str, Any]:
        """Whether the database can be written now (a one-row write proves it) and what the engine holds back."""
        cause = self.store.probe() or (self.engine.writer.degraded if self.engine else None)
        return {"writable": cause is None, "cause": cause,
                "held_changes": self.engine.writer.backlog if self.engine else 0,
                "db": self.store.path.name, "schema_version": self.store.version,
                "active_batch_run_id": self.engine.active_batch_id() if self.engine else None,
                "running_batch_run_ids": self.engine.running_batch_ids() if self.engine else [],
                "executor": self.engine.executor_info() if self.engine else None}

    def items(self, batch_run_id: str, *, offset: int = 0, limit: int | None = None,
              **where: str | None) -> tuple[pd.DataFrame, int]:
        """A page of a batch's items in run order, and how many match the filters in all.

        ``where``: state, brand, search (in id, brand, model, variant), reason (a failure group), gate.
        """
        self.store.get_batch(batch_run_id)  # NotFound for an unknown batch, not an empty page
        page = self.store.items(batch_run_id, offset=offset, limit=limit, **where)
        return page, self.store.count_items(batch_run_id, **where)

    # ------------------------------------------------------------------ lifecycle (needs the engine)
    def _engine(self) -> BatchEngine:
        if self.engine is None:
            raise IndexLabError("no batch engine in this process: use `indexlab run` or a running `indexlab serve`")
        return self.engine

    def start(self, batch_run_id: str, *, actor: str = "operator") -> dict[str, Any]:
        return self._engine().start(batch_run_id, actor=actor)

    def pause(self, batch_run_id: str, *, actor: str = "operator") -> dict[str, Any]:
        return self._engine().pause(batch_run_id, actor=actor)

    def resume(self, batch_run_id: str, *, actor: str = "operator") -> dict[str, Any]:
        return self._engine().resume(batch_run_id, actor=actor)

    def stop(self, batch_run_id: str, *, force: bool = False, actor: str = "operator",
             reason: str | None = None) -> dict[str, Any]:
        return self._engine().stop(batch_run_id, force=force, actor=actor, reason=reason)

    def retry_failed(self, batch_run_id: str, seqs: list[int] | None = None, *, reason: str | None = None,
                     actor: str = "operator") -> int:
        """Re-queue failed items: all, ``seqs``, or every item of one failure group (``reason``)."""
        if reason is not None:
            if seqs is not None:
                raise PlanError("retry either seqs or a reason group, not both", field="reason")
            seqs = [seq for seq, _ in self.store.item_ids(batch_run_id, state="failed", reason=reason)]
            if not seqs:
                raise NotFound(f"batch {batch_run_id} has no failed items in reason group {reason!r}", field="reason")
        return self._engine().retry_failed(batch_run_id, seqs, actor=actor)

    def skip(self, batch_run_id: str, seqs: list[int], *, actor: str = "operator") -> int:
        return self._engine().skip(batch_run_id, seqs, actor=actor)

    def status(self, batch_run_id: str) -> dict[str, Any]:
        """The live status from the engine, or (no engine here) as the store last recorded it."""
        if self.engine is not None:
            view = self.engine.status(batch_run_id)
            return {**view, "executor": self.engine.executor_info(view.get("executor"))}  # where this batch runs
        return {**stored_status(self.store, self.store.get_batch(batch_run_id)), "executor": None}

    def executor_kinds(self) -> list[str]:
        """The executors a batch's settings may choose here, the server's default first (without an engine here:
        local only; the server that starts the batch decides)."""
        return list(self.engine.pools.kinds) if self.engine is not None else ["local"]

    def status_version(self, batch_run_id: str) -> Hashable | None:
        """A value that changes whenever ``status`` may say something new about the batch as a whole (its state,
        settings, queue place), whoever changed it; None without an engine here. Cheap and lock-free: a cache of
        statuses (the REST API's) checks it on the event loop before it serves a copy."""
        return self.engine.status_version(batch_run_id) if self.engine is not None else None

    # ------------------------------------------------------------------ many batches: priority, workers, queue
    def set_priority(self, batch_run_id: str, priority: int, *, actor: str = "operator") -> dict[str, Any]:
        """A batch's weight in the server's fair share of workers (1..10, higher runs more); audited."""
        if self.engine is None:
            change_stored_batch(self.store, batch_run_id, actor=actor, priority=priority)
            return self.status(batch_run_id)
        return self.engine.set_priority(batch_run_id, priority, actor=actor)

    def set_workers(self, batch_run_id: str, workers: int, *, actor: str = "operator") -> dict[str, Any]:
        """A batch's own cap on products run at once (kept in its settings); audited."""
        if self.engine is None:
            change_stored_batch(self.store, batch_run_id, actor=actor, workers=workers)
            return self.status(batch_run_id)
        return self.engine.set_workers(batch_run_id, workers, actor=actor)

    def move_in_queue(self, batch_run_id: str, position: int, *, actor: str = "operator") -> dict[str, Any]:
        """Move a queued batch to ``position`` of the queue (1: admitted next); audited."""
        if self.engine is None:
            move_stored_in_queue(self.store, batch_run_id, position, actor=actor)
            return self.status(batch_run_id)
        return self.engine.move_in_queue(batch_run_id, position, actor=actor)

    def queue(self) -> BatchQueue:
        """The batch queue in admission order, the running batches and (with an engine here) the server's budget."""
        if self.engine is None:
            queued_ids = [b["batch_run_id"] for b in self.store.batches_in([BatchState.QUEUED.value])]
            running = [b["batch_run_id"] for b in self.store.batches_in([BatchState.RUNNING.value,
                                                                          BatchState.STOPPING.value])]
            capacity = None
        else:
            queued_ids, running, capacity = self.engine.queue(), self.engine.running_batch_ids(), self.engine.capacity
        queued = []
        for position, batch_run_id in enumerate(queued_ids, start=1):
            batch = self.store.get_batch(batch_run_id)
            queued.append(QueuedBatch(position=position, batch_run_id=batch_run_id, priority=batch["priority"],
                                      workers=batch["settings"]["workers"], item_count=batch["item_count"],
                                      created_at=batch["created_at"]))
        return BatchQueue(max_workers=capacity.max_workers if capacity else None,
                          max_running_batches=capacity.max_running_batches if capacity else None,
                          running=running, queued=queued,
                          executor=self.engine.executor_info() if self.engine is not None else None)

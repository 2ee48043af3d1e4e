"""Batch names and tags, the filtered batch list, archive and delete: the operations of ``BatchService`` that
curate batches rather than run them (a mixin: it brings the store and engine).

Every change is an audited operator action (an ``operator_action`` event saying what changed from what to what).
Archive and delete apply to a planned or finished batch only (never a queued, running, paused or stopping one).
Delete removes the batch, its items, outcomes, outcome fields and events in one transaction and leaves one
``batch_deleted`` event under the batch's id that keeps its name, state, item count, tags, creation time and who
deleted it (``Store.deleted_batches`` reads them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from engine.core.errors import PlanError
from engine.core.naming import check_name, check_tag, check_tags
from engine.core.states import ACTIVE_BATCH_STATES, BatchState, ItemState
from engine.core.text import storable
from engine.core.triage import BatchResult, batch_result, result_counts, result_words
from engine.store import Store

if TYPE_CHECKING:
    from engine.run.engine import BatchEngine

# Batches an operator may archive or delete: nothing will dispatch them without a new start.
AT_REST_STATES = tuple(s.value for s in BatchState if s not in ACTIVE_BATCH_STATES)
_AT_REST_WORDS = "a planned, completed or stopped batch"


def with_result(batch: dict[str, Any], counts: dict[str, int], needs_review: int,
                running_s: float | None = None) -> dict[str, Any]:
    """A batch row with its items per state, what came out, its result, its running time and throughput."""
    outcomes = result_counts(counts, needs_review)
    result = batch_result(batch["state"], outcomes)
    processed = int(counts.get(ItemState.COMPLETED.value, 0)) + int(counts.get(ItemState.FAILED.value, 0))
    per_minute = processed / running_s * 60 if running_s else None
    return {**batch, "counts": counts, "outcomes": outcomes, "result": result.value if result else None,
            "result_text": result_words(result, outcomes), "running_s": running_s, "items_per_minute": per_minute}


def _bound(value: date | datetime | None, *, end: bool) -> datetime | None:
    """A date filter as an instant (UTC): a date alone is its start (``since``) or the end of that day (``until``)."""
    if value is None or isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if isinstance(value, datetime) and value.tzinfo is None else value
    start = datetime.combine(value, time(), tzinfo=UTC)
    return start + timedelta(days=1) if end else start


def _choice(value: str | None, allowed: list[str], field: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise PlanError(f"{field} {value[:40]!r} is not one of {', '.join(allowed)}", field=field)
    return value


def _quoted(text: str | None) -> str:
    return "(no name)" if text is None else repr(text)


class BatchNames:
    """The curating operations of ``BatchService``."""

    store: Store
    engine: BatchEngine | None

    # ------------------------------------------------------------------ the list
    def batch_list(self, *, limit: int = 50, offset: int = 0, state: str | None = None, result: str | None = None,
                   name: str | None = None, tag: str | None = None, since: date | datetime | None = None,
                   until: date | datetime | None = None, archived: bool = False) -> tuple[list[dict[str, Any]], int]:
        """Batches newest first matching every filter given, each with counts, result, running time and throughput,
        and how many match in all. ``name``: text in the name (any case) or the whole id; ``tag``: one tag (an
        unknown or malformed one matches nothing); ``since``/``until``: creation time (a date alone means from the
        start / to the end of that day); ``archived``: include archived batches."""
        state = _choice(state, [s.value for s in BatchState], "state")
        result = _choice(result, [r.value for r in BatchResult], "result")
        name = storable(" ".join((name or "").split())) or None  # lone surrogates (undecodable argv) as U+FFFD
        if tag is not None and tag.strip():
            try:
                tag = check_tag(tag)
            except ValueError:
                return [], 0  # no batch can hold a tag that is not one
        else:
            tag = None
        rows, total = self.store.batch_page(state=state, result=result, name=name, tag=tag,
                                            since=_bound(since, end=False), until=_bound(until, end=True),
                                            archived=archived, limit=limit, offset=offset)
        return self._summaries(rows), total

    def _summaries(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [b["batch_run_id"] for b in rows]
        counts = self.store.outcome_counts(ids)
        seconds = self.store.running_seconds(ids) if ids else {}
        return [with_result(b, *counts[b["batch_run_id"]], running_s=seconds[b["batch_run_id"]]) for b in rows]

    # ------------------------------------------------------------------ names and tags
    def rename(self, batch_run_id: str, name: str, *, actor: str = "operator") -> dict[str, Any]:
        """Give a batch another name (audited); PlanError naming ``name`` for one that is not plain text."""
        try:
            name = check_name(name)
        except ValueError as exc:
            raise PlanError(str(exc), field="name") from None

        def change(before: dict[str, Any], _now: datetime) -> tuple[Any, str, dict[str, Any]]:
            return name, f"renamed from {_quoted(before['name'])} to {name!r}", {"name": {"from": before["name"],
                                                                                          "to": name}}

        self.store.change_batch(batch_run_id, "name", change, actor=actor)
        return self._summaries([self.store.get_batch(batch_run_id)])[0]

    def set_tags(self, batch_run_id: str, tags: list[str] | None = None, *, add: list[str] | None = None,
                 remove: list[str] | None = None, actor: str = "operator") -> dict[str, Any]:
        """Replace a batch's tags (``tags``), or add and remove some (audited). Tags are normalised (stripped,
        case-folded); PlanError naming ``tags`` for a bad one or more than 20."""
        try:
            new = check_tags(tags) if tags is not None else None
            added, removed = check_tags(add or []), set(check_tags(remove or []))
        except ValueError as exc:
            raise PlanError(str(exc), field="tags") from None

        def change(before: dict[str, Any], _now: datetime) -> tuple[Any, str, dict[str, Any]]:
            old = before["tags"]
            after = new if new is not None else [t for t in [*old, *added] if t not in removed]
            try:
                after = check_tags(after)
            except ValueError as exc:
                raise PlanError(str(exc), field="tags") from None
            return after, f"tags changed from {old or '(none)'} to {after or '(none)'}", {"tags": {"from": old,
                                                                                              "to": after}}

        self.store.change_batch(batch_run_id, "tags", change, actor=actor)
        return self._summaries([self.store.get_batch(batch_run_id)])[0]

    # ------------------------------------------------------------------ archive and delete
    def _refusal(self, verb: str) -> str:
        return (f"batch {{batch_run_id}} is {{state}}: only {_AT_REST_WORDS} can be {verb} "
                "(stop it first, and wait until it has stopped)")

    def archive(self, batch_run_id: str, *, actor: str = "operator") -> dict[str, Any]:
        """Hide a planned or finished batch from History and the lists (``archived=True`` shows it); audited."""

        def change(before: dict[str, Any], now: datetime) -> tuple[Any, str, dict[str, Any]]:
            return (before["archived_at"] or now, "archived" if before["archived_at"] is None else "archived (again)",
                    {"archived": True})

        self.store.change_batch(batch_run_id, "archived_at", change, actor=actor, states=AT_REST_STATES,
                                refusal=self._refusal("archived"))
        return self._summaries([self.store.get_batch(batch_run_id)])[0]

    def unarchive(self, batch_run_id: str, *, actor: str = "operator") -> dict[str, Any]:
        """Show an archived batch in History and the lists again; audited."""
        def change(before: dict[str, Any], _now: datetime) -> tuple[Any, str, dict[str, Any]]:
            return None, "unarchived" if before["archived_at"] is not None else "unarchived (was not archived)", {
                "archived": False}

        self.store.change_batch(batch_run_id, "archived_at", change, actor=actor)
        return self._summaries([self.store.get_batch(batch_run_id)])[0]

    def delete(self, batch_run_id: str, *, actor: str = "operator") -> dict[str, Any]:
        """Delete a planned or finished batch with its items, outcomes and events in one transaction; what is
        left is its ``batch_deleted`` audit record, returned (batch_run_id, name, state, item_count, tags, actor)."""
        kept: dict[str, Any] = {}

        def describe(before: dict[str, Any]) -> tuple[str, dict[str, Any]]:
            kept.update(name=before["name"], state=before["state"], item_count=before["item_count"],
                        tags=before["tags"])
            return (f"deleted {before['state']} batch {_quoted(before['name'])} with {before['item_count']:,} items "
                    "and its outcomes and events"), dict(kept)

        def delete() -> None:
            self.store.delete_batch(batch_run_id, actor=actor, describe=describe, states=AT_REST_STATES,
                                    refusal=self._refusal("deleted"))

        if self.engine is not None:  # under its lifecycle lock; then it forgets the batch
            self.engine.forget(batch_run_id, delete)
        else:
            delete()
        return {"batch_run_id": batch_run_id, "deleted": True, "actor": actor, **kept}

"""The one exception family of IndexLab Batch.

Every error a user can cause is an ``IndexLabError``: the CLI prints its message and
exits non-zero, the API maps it to a 4xx JSON body. Messages say what is wrong, where,
and what to do about it.
"""

from __future__ import annotations

from dataclasses import dataclass


class IndexLabError(Exception):
    """Base of every expected error. ``code`` is stable and machine-readable."""

    code = "indexlab_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class CatalogProblem:
    """One thing wrong in a catalog, located as precisely as the format allows."""

    source: str  # file path (or catalog path for whole-catalog problems)
    line: int | None  # 1-based line (JSON, CSV, JSONL) or row number (Parquet)
    field: str | None  # offending field, when one is to blame
    message: str
    product_id: str | None = None

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


class CatalogError(IndexLabError):
    """The catalog cannot be used at all (missing, unreadable, empty, or strict mode refused it)."""

    code = "catalog_invalid"

    def __init__(self, message: str, problems: list[CatalogProblem] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        lines = [self.message, *(f"  {p}" for p in self.problems[:50])]
        if len(self.problems) > 50:
            lines.append(f"  ... and {len(self.problems) - 50} more problems")
        return "\n".join(lines)


class PlanError(IndexLabError):
    """A plan request that cannot become a batch (empty selection, unknown products, ...)."""

    code = "plan_invalid"


class ConfirmationRequired(PlanError):
    """A large batch was planned without explicit confirmation."""

    code = "confirmation_required"


class NotFound(IndexLabError):
    """A batch, item or product id that does not exist."""

    code = "not_found"


class IllegalTransition(IndexLabError):
    """A state change the transition table does not allow; nothing was written."""

    code = "illegal_transition"


class StoreError(IndexLabError):
    """The database cannot be used (locked by another process, too new, corrupt)."""

    code = "store_unavailable"


class StoreUnavailable(StoreError):
    """The database cannot be written now (disk full, read-only directory, I/O error); nothing was changed.

    Writes succeed again once the cause is gone: the store keeps its connection (or reopens it).
    """

    code = "store_write_failed"


class StoreRejected(StoreError):
    """The database refused the data itself (a value it cannot hold); nothing was changed."""

    code = "store_rejected"


class StoreLocked(StoreError):
    code = "store_locked"

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


class SchemaTooNew(StoreError):
    code = "schema_too_new"


class InvalidValue(IndexLabError):
    """A value out of its allowed range (a priority of 11, 0 workers); the message names the field and the range."""

    code = "invalid_value"

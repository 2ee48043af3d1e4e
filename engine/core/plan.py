"""From a selection, a brand order and settings to a batch plan: what will run, in what order, and why.

The run order is derived, never stored by hand: brand priority (pinned brands, then the
operator's brand order, then the remaining selected brands A to Z), then within a brand a
natural, case-insensitive sort of model, then variant, then product_id. The same inputs
give the same order, whatever order the products were selected in.
"""

from __future__ import annotations

import difflib
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field

from engine.core.errors import PlanError
from engine.core.naming import Name, TagList
from engine.core.settings import PROFILE_SECONDS_PER_PRODUCT, BatchSettings, Profile

LARGE_BATCH_THRESHOLD = 200  # more items than this need an explicit confirmation
FIRST_ITEMS = 20  # how many items of the resolved order a summary shows
MIN_HISTORY_SAMPLES = 5  # completed durations before an estimate from history stops saying it is rough
HISTORY_DAYS = 30  # estimates learn from runs this recent (the service reads them)

_DIGITS = re.compile(r"\d+")


def _number_token(match: re.Match[str]) -> str:
    digits = match.group().lstrip("0") or "0"
    # "\0" sorts before any printable character, then the length: longer numbers are larger.
    return f"\0{chr(0x20 + len(digits))}{digits}"


@lru_cache(maxsize=1_000_000)
def natural_key(text: str) -> str:
    """A string whose plain order is the natural, case-insensitive order: "G305" < "G502" < "G502 X", "2" < "10".

    Cached: catalogs repeat the same model and variant names in every plan and preview.
    """
    return _DIGITS.sub(_number_token, text.casefold())


class Selection(BaseModel):
    """Which products: filters of different kinds narrow each other; values of one kind add up."""

    model_config = ConfigDict(extra="forbid")

    all: bool = Field(False, description="Start from the whole catalog.")
    product_ids: list[str] = Field(default_factory=list, description="Only these products.")
    brands: list[str] = Field(default_factory=list, description="Only products of these brands (case-insensitive).")
    categories: list[str] = Field(default_factory=list, description="Only products of these categories.")
    search: str | None = Field(None, max_length=200, description=(
        "Only products whose brand, model, variant or id contains this text (case-insensitive)."))

    @property
    def is_empty_request(self) -> bool:
        return not (self.all or self.product_ids or self.brands or self.categories or self.search)


class PlanRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    selection: Selection
    brand_order: list[str] = Field(default_factory=list, description="Brands in the order they should run.")
    pinned_brands: list[str] = Field(default_factory=list, description="Brands that run before all others, in this order.")
    settings: BatchSettings = Field(default_factory=BatchSettings)
    confirm_large: bool = Field(False, description=f"Required to save a plan of more than {LARGE_BATCH_THRESHOLD} items.")
    name: Name | None = Field(None, description="The batch's name; default: from its selection, e.g. "
                              "'Razer + Logitech mice, 240 products'.")
    tags: TagList = Field(default_factory=list)


class BrandCount(BaseModel):
    position: int
    brand: str
    count: int
    pinned: bool


class PlanItem(BaseModel):
    seq: int
    product_id: str
    category: str
    brand: str
    model: str
    variant: str


class Estimate(BaseModel):
    job_count: int = Field(description="Product runs the batch will make (one per item).")
    max_job_count: int = Field(description="Upper bound counting every retry (items x max_attempts).")
    profile: Profile = Field(description="The runtime band.")
    seconds_per_product_low: float
    seconds_per_product_high: float
    basis: Literal["history", "profile_default"]
    basis_text: str = Field("", description="Where the per-product time comes from, in words.")
    history_samples: int
    workers: int
    runtime_seconds_low: float
    runtime_seconds_high: float
    runtime_text: str


class PlanSummary(BaseModel):
    total: int
    brands: list[BrandCount] = Field(description="Counts per brand, in run order.")
    categories: dict[str, int]
    first_items: list[PlanItem]
    estimate: Estimate
    settings: BatchSettings
    warnings: list[str]
    needs_confirmation: bool


@dataclass(frozen=True)
class BatchPlan:
    summary: PlanSummary
    items: pd.DataFrame  # seq, product_id, category, brand, model, variant in run order


# --------------------------------------------------------------------------- ordering
def brand_priority(selected: Iterable[str], brand_order: Sequence[str] = (), pinned: Sequence[str] = ()) -> list[str]:
    """Selected brands in run order: pinned first (pin order), then ``brand_order``, then A to Z."""
    present = set(selected)
    ranked: list[str] = []
    for brand in [*pinned, *brand_order]:
        if brand in present and brand not in ranked:
            ranked.append(brand)
    rest = sorted(present.difference(ranked), key=lambda b: (b.casefold(), b))
    return ranked + rest


# Text is sorted as Arrow strings (UTF-8 bytes compare in code point order, as Python's str do), never as a numpy
# fixed-width unicode array: that holds every value at the longest one's width, 4 bytes a character (one 83-character
# id among 100k products made the ids alone 33 MB, and a plan's peak ~70 MB more than its result).
def _text_rank(values: pd.Series | list[str]) -> np.ndarray:
    """Each value's rank in code point order (equal values rank the same)."""
    array = pa.array(values) if isinstance(values, list) else pa.Array.from_pandas(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.rank(array, sort_keys="ascending", tiebreaker="min").to_numpy()


def _natural_rank(values: pd.Series) -> np.ndarray:
    """Each value's position in the natural, case-insensitive order of the distinct values."""
    codes, uniques = pd.factorize(values, sort=False)
    names = uniques.tolist()
    keys = [natural_key(n) for n in names]
    order = np.lexsort((_text_rank(names), _text_rank(keys)))  # the raw text breaks ties ("02" vs "2")
    rank = np.empty(len(names), dtype=np.int64)
    rank[order] = np.arange(len(names))
    return rank[codes]


def order_items(products: pd.DataFrame, priority: Sequence[str]) -> pd.DataFrame:
    """Sort products into run order and number them with ``seq`` from 1."""
    brand_rank = pd.Series(range(len(priority)), index=list(priority))
    keys = (
        _text_rank(products["product_id"]),
        _natural_rank(products["variant"]),
        _natural_rank(products["model"]),
        products["brand"].map(brand_rank).to_numpy(),
    )
    ordered = products.iloc[np.lexsort(keys)].reset_index(drop=True)
    ordered.insert(0, "seq", np.arange(1, len(ordered) + 1, dtype=np.int32))
    return ordered


# --------------------------------------------------------------------------- selection
def _resolve(names: Sequence[str], known: Iterable[str], what: str, field: str) -> list[str]:
    """Catalog spellings of ``names`` (case-insensitive); an unknown name is an error with a hint."""
    by_fold = {k.casefold(): k for k in known}
    resolved, unknown = [], []
    for name in names:
        match = by_fold.get(name.strip().casefold())
        (resolved if match else unknown).append(match or name)
    if unknown:
        hints = []
        for name in unknown[:5]:
            close = difflib.get_close_matches(name.casefold(), list(by_fold), n=1)
            hints.append(f"{name!r}" + (f" (did you mean {by_fold[close[0]]!r}?)" if close else ""))
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise PlanError(f"unknown {what}: {', '.join(hints)}{more}", field=field)
    return resolved


def select_products(products: pd.DataFrame, selection: Selection) -> pd.DataFrame:
    if selection.is_empty_request:
        raise PlanError("nothing selected: choose products, brands or categories (or all)", field="selection")
    mask = np.ones(len(products), dtype=bool)
    if selection.product_ids:
        ids = pd.Index(selection.product_ids)
        unknown = ids.difference(products["product_id"])
        if len(unknown):
            shown = ", ".join(repr(i) for i in unknown[:10])
            more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
            raise PlanError(f"{len(unknown)} product id(s) not in the catalog: {shown}{more}", field="selection.product_ids")
        mask &= products["product_id"].isin(ids).to_numpy()
    if selection.brands:
        brands = _resolve(selection.brands, products["brand"].unique(), "brand", "selection.brands")
        mask &= products["brand"].isin(brands).to_numpy()
    if selection.categories:
        cats = _resolve(selection.categories, products["category"].unique(), "category", "selection.categories")
        mask &= products["category"].isin(cats).to_numpy()
    if selection.search and selection.search.strip():
        needle = selection.search.strip().casefold()
        hay = products["brand"] + " " + products["model"] + " " + products["variant"] + " " + products["product_id"]
        mask &= hay.str.casefold().str.contains(needle, regex=False).to_numpy()
    chosen = products.loc[mask]
    if chosen.empty:
        raise PlanError("the selection matches no products: widen the filters", field="selection")
    return chosen


# --------------------------------------------------------------------------- estimates
def _duration_text(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, _ = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def estimate(count: int, settings: BatchSettings, durations: Sequence[float] = (), *, budget: int | None = None,
             where: str | None = None) -> Estimate:
    """Runtime range: per-product seconds from history (p25..p75) when there is any, else profile defaults.

    Products run ``settings.workers`` at a time, or fewer when the server's budget (``budget``: its threads, or a Dask
    cluster's, engine/dask) is smaller; ``where`` names what runs them (said in the basis).

    Fewer than MIN_HISTORY_SAMPLES runs still beat the profile's guess (a fast local job ran in 2 s where the
    profile said 2-6 min), but the words say how little they rest on; no history at all is "a rough guess".
    """
    profile = settings.profile.value
    if durations:
        low, high = (float(v) for v in np.percentile(np.asarray(durations, dtype=float), [25, 75]))
        basis: Literal["history", "profile_default"] = "history"
        few = len(durations) < MIN_HISTORY_SAMPLES
        runs = f"{len(durations):,} run{'s' if len(durations) != 1 else ''}"
        basis_text = (f"{'only ' if few else ''}from {runs} of the {profile} profile with runner {settings.runner} in "
                      f"the last {HISTORY_DAYS} days (middle half: {_duration_text(low)} - {_duration_text(high)} each)"
                      + (f": a rough estimate until {MIN_HISTORY_SAMPLES} runs" if few else ""))
    else:
        low, high = PROFILE_SECONDS_PER_PRODUCT[settings.profile]
        basis = "profile_default"
        basis_text = (f"no history: rough guess from the {profile} profile's usual {_duration_text(low)} - "
                      f"{_duration_text(high)} per product (no completed run of runner {settings.runner} with this "
                      f"profile in the last {HISTORY_DAYS} days)")
    workers = min(settings.workers, budget) if budget else settings.workers
    if where:
        basis_text += f"; {workers} at a time on {where}"
    waves = math.ceil(count / workers)  # products run ``workers`` at a time
    run_low, run_high = waves * low, waves * high
    return Estimate(
        job_count=count, max_job_count=count * settings.max_attempts, profile=settings.profile,
        seconds_per_product_low=low, seconds_per_product_high=high, basis=basis, basis_text=basis_text,
        history_samples=len(durations), workers=workers,
        runtime_seconds_low=run_low, runtime_seconds_high=run_high,
        runtime_text=f"{_duration_text(run_low)} - {_duration_text(run_high)} ({settings.profile.value})",
    )


# --------------------------------------------------------------------------- the plan
def build_plan(products: pd.DataFrame, request: PlanRequest, *, durations: Sequence[float] = (),
               env: Mapping[str, str] | None = None, budget: int | None = None, where: str | None = None) -> BatchPlan:
    """Resolve, order and estimate a plan (``budget``, ``where``: see ``estimate``); raises PlanError for a request
    that cannot run."""
    env = os.environ if env is None else env
    chosen = select_products(products, request.selection)
    present = chosen["brand"].unique()
    catalog_brands = products["brand"].unique()
    pinned = _resolve(request.pinned_brands, catalog_brands, "pinned brand", "pinned_brands")
    order = _resolve(request.brand_order, catalog_brands, "brand in brand order", "brand_order")
    warnings = [
        f"brand {b!r} is in the brand order but has no selected products"
        for b in dict.fromkeys([*pinned, *order]) if b not in set(present)
    ]
    settings = request.settings
    if settings.needs_provider_key and not env.get(settings.llm_api_key_env):
        warnings.append(
            f"profile {settings.profile.value!r} asks {settings.llm_provider} ({settings.llm_model}) for missing fields, "
            f"but {settings.llm_api_key_env} is not set: those calls will be skipped"
        )
    priority = brand_priority(present, order, pinned)
    items = order_items(chosen[["product_id", "category", "brand", "model", "variant"]], priority)
    counts = items["brand"].value_counts()
    pinned_set = set(pinned)
    summary = PlanSummary(
        total=len(items),
        brands=[BrandCount(position=i, brand=b, count=int(counts[b]), pinned=b in pinned_set)
                for i, b in enumerate(priority, start=1)],
        categories={k: int(v) for k, v in items["category"].value_counts().sort_index().items()},
        first_items=[PlanItem(**row) for row in items.head(FIRST_ITEMS).to_dict("records")],
        estimate=estimate(len(items), settings, durations, budget=budget, where=where),
        settings=settings,
        warnings=warnings,
        needs_confirmation=len(items) > LARGE_BATCH_THRESHOLD,
    )
    return BatchPlan(summary=summary, items=items)

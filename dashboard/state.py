"""The Batch Run Builder's state: selection, filters, brand order and settings, as params.

Views only render this object and call its methods; everything the preview shows is derived
here from params, so a change anywhere (a selection, a brand moved up) flows to the preview.
Nothing here is Panel-specific beyond ``param``: it is tested without a browser.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import param

from engine.errors import IndexLabError
from engine.plan import BatchPlan, PlanRequest, Selection, brand_priority
from engine.service import BatchService
from engine.settings import BatchSettings, Profile

NEVER_RUN = "never run"


class BuilderState(param.Parameterized):
    """What the operator is building: which products, in which brand order, with which settings."""

    # ---- filters (what the grid shows) ----
    search = param.String(default="", doc="Case-insensitive text matched against brand, model, variant and product_id.")
    brand_filter = param.List(default=[], item_type=str, doc="Brand chips: show only these brands (empty: all).")
    category_filter = param.List(default=[], item_type=str, doc="Show only these categories (empty: all).")

    # ---- selection (what will run) ----
    selected = param.List(default=[], item_type=str, doc="Selected product_ids, in no particular order.")

    # ---- order ----
    brand_order = param.List(default=[], item_type=str, doc="Selected brands in run order (pinned ones lead).")
    pinned = param.List(default=[], item_type=str, doc="Pinned brands: always first, in pin order.")

    # ---- settings snapshot to be ----
    profile = param.Selector(default=Profile.STANDARD.value, objects=[p.value for p in Profile], doc="Runtime band.")
    runner = param.String(default="harvest", doc="The product job.")
    llm_provider = param.String(default="openai", label="LLM provider", doc="LLM provider for the thorough profile.")
    llm_model = param.String(default="gpt-4o-mini", label="LLM model", doc="LLM model for the thorough profile.")
    workers = param.Integer(default=2, bounds=(1, 64), doc="Products run at once.")
    max_run_seconds = param.Number(default=600.0, bounds=(1, 86_400), doc="Per product attempt.")
    max_attempts = param.Integer(default=3, bounds=(1, 20), doc="Attempts per product.")
    domain_cooldown_seconds = param.Number(default=1.0, bounds=(0, 3_600), label="Domain cooldown (s)", doc="Gap between requests to a domain.")

    # ---- derived (read-only for views) ----
    filtered = param.DataFrame(default=None, doc="The catalog rows the filters show, in catalog order.")
    selected_brands = param.List(default=[], doc="Brands with at least one selected product, A to Z.")
    preview = param.Parameter(default=None, doc="The BatchPlan the selection would save (None when empty).")
    preview_error = param.String(default="", doc="Why there is no preview (empty selection, bad settings).")
    summary_line = param.String(default="0 selected", doc='"N selected across M brands".')

    def __init__(self, service: BatchService, **params) -> None:
        self.service = service
        self.catalog = service.catalog_view()
        self._haystack = (self.catalog["brand"] + " " + self.catalog["model"] + " " + self.catalog["variant"] + " "
                          + self.catalog["product_id"]).str.casefold()
        super().__init__(**params)
        self._refilter()
        self._reselect()

    # ------------------------------------------------------------------ derived values
    @param.depends("search", "brand_filter", "category_filter", watch=True)
    def _refilter(self) -> None:
        self.filtered = self.catalog.loc[self._filter_mask()]

    def _filter_mask(self) -> np.ndarray:
        mask = np.ones(len(self.catalog), dtype=bool)
        text = self.search.strip().casefold()
        if text:
            mask &= self._haystack.str.contains(text, regex=False).to_numpy()
        if self.brand_filter:
            mask &= self.catalog["brand"].isin(self.brand_filter).to_numpy()
        if self.category_filter:
            mask &= self.catalog["category"].isin(self.category_filter).to_numpy()
        return mask

    @param.depends("selected", watch=True)
    def _reselect(self) -> None:
        chosen = self.catalog.loc[self.catalog["product_id"].isin(self.selected)]
        brands = sorted(chosen["brand"].unique(), key=lambda b: (b.casefold(), b))
        present = set(brands)
        pinned = [p for p in self.pinned if p in present]
        order = brand_priority(brands, [b for b in self.brand_order if b in present], pinned)
        n = len(chosen)
        changed = order != self.brand_order or pinned != self.pinned
        self.param.update(  # one batch of events: the preview is rebuilt once
            selected_brands=brands, brand_order=order, pinned=pinned,
            summary_line=f"{n:,} selected across {len(brands)} brand{'s' if len(brands) != 1 else ''}")
        if not changed:
            self._replan()

    @param.depends("brand_order", "pinned", "profile", "runner", "llm_provider", "llm_model", "workers",
                   "max_run_seconds", "max_attempts", "domain_cooldown_seconds", watch=True)
    def _replan(self) -> None:
        if not self.selected:
            self.preview, self.preview_error = None, "Select products to see what will run."
            return
        try:
            self.preview = self.service.preview(self.plan_request())
            self.preview_error = ""
        except (IndexLabError, ValueError) as exc:
            self.preview, self.preview_error = None, str(exc)

    def settings(self) -> BatchSettings:
        return BatchSettings(profile=self.profile, runner=self.runner, llm_provider=self.llm_provider,
                             llm_model=self.llm_model, workers=self.workers, max_run_seconds=self.max_run_seconds,
                             max_attempts=self.max_attempts, domain_cooldown_seconds=self.domain_cooldown_seconds)

    def plan_request(self, confirm_large: bool = False) -> PlanRequest:
        return PlanRequest(selection=Selection(product_ids=sorted(self.selected)), brand_order=list(self.brand_order),
                           pinned_brands=list(self.pinned), settings=self.settings(), confirm_large=confirm_large)

    @property
    def preview_plan(self) -> BatchPlan | None:
        return self.preview

    # ------------------------------------------------------------------ selection actions
    def _set_selected(self, ids: set[str]) -> None:
        self.selected = sorted(ids)

    def visible_ids(self) -> pd.Series:
        return self.filtered["product_id"]

    def select_all(self) -> None:
        """Every product the filters show, on every page."""
        self._set_selected(set(self.selected) | set(self.visible_ids()))

    def clear_all(self) -> None:
        self.selected = []

    def select_brand(self, brand: str) -> None:
        """Add every product of ``brand`` (whatever the filters show)."""
        ids = self.catalog.loc[self.catalog["brand"] == brand, "product_id"]
        self._set_selected(set(self.selected) | set(ids))

    def invert_selection(self) -> None:
        """Within the filter: selected become unselected and the rest selected; outside it nothing changes."""
        visible = set(self.visible_ids())
        current = set(self.selected)
        self._set_selected((current - visible) | (visible - current))

    def set_visible_selection(self, ids_on_view: set[str], view_ids: set[str]) -> None:
        """The grid reports which of the rows it shows are checked: merge that into the selection."""
        current = set(self.selected)
        self._set_selected((current - view_ids) | ids_on_view)

    def exclude_recent(self, days: int) -> None:
        """Drop products completed in the last ``days`` days."""
        cutoff = pd.Timestamp(datetime.now(UTC) - timedelta(days=days))
        recent = self.catalog.loc[(self.catalog["last_status"] == "completed")
                                  & (self.catalog["last_run_at"] >= cutoff), "product_id"]
        self._set_selected(set(self.selected) - set(recent))

    def only_never_run(self) -> None:
        never = self.catalog.loc[self.catalog["last_status"] == NEVER_RUN, "product_id"]
        self._set_selected(set(self.selected) & set(never))

    def exclude_variants(self) -> None:
        variants = self.catalog.loc[self.catalog["variant"] != "", "product_id"]
        self._set_selected(set(self.selected) - set(variants))

    # ------------------------------------------------------------------ brand order actions
    def move(self, brand: str, offset: int) -> None:
        """Move a brand up (-1) or down (+1) among the unpinned ones; pinned brands stay in front."""
        order = list(self.brand_order)
        if brand not in order or brand in self.pinned:
            return
        i = order.index(brand)
        j = max(len(self.pinned), min(len(order) - 1, i + offset))
        order.insert(j, order.pop(i))
        self.brand_order = order

    def to_top(self, brand: str) -> None:
        if brand in self.brand_order and brand not in self.pinned:
            order = [b for b in self.brand_order if b != brand]
            order.insert(len(self.pinned), brand)
            self.brand_order = order

    def toggle_pin(self, brand: str) -> None:
        if brand not in self.brand_order:
            return
        pinned = [p for p in self.pinned if p != brand] if brand in self.pinned else [*self.pinned, brand]
        rest = [b for b in self.brand_order if b not in pinned]
        self.pinned = pinned
        self.brand_order = pinned + rest

    def refresh_catalog(self) -> None:
        """Reload last run status and quality (after a batch) without losing the selection."""
        self.catalog = self.service.catalog_view()
        self._refilter()

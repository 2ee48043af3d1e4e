"""History's filter bar: state, result, name (contains), tag, created since/until and "show archived".

The filters are applied by the store (SQL, parameterised) with the page, so a page of filtered batches is read
however many batches there are. ``HistoryFilters.changed`` tells the owner to read the list again from page 1.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import panel as pn
import param

from engine.core.states import BatchState
from engine.core.triage import BatchResult

ANY = "any"


class HistoryFilters(pn.viewable.Viewer):
    """What the History list shows; every face's filters (API, CLI) are the same ones."""

    state = param.Selector(default=ANY, objects=[ANY, *(s.value for s in BatchState)], doc="Only batches in this state.")
    result = param.Selector(default=ANY, objects=[ANY, *(r.value for r in BatchResult)],
                            doc="Only finished batches with this result.")
    contains = param.String(default="", doc="Text in the name (any case), or a whole batch id.")
    tag = param.String(default="", doc="Only batches with this tag (any case); an unknown tag shows none.")
    since = param.CalendarDate(default=None, allow_None=True, doc="Created on or after this day (UTC).")
    until = param.CalendarDate(default=None, allow_None=True, doc="Created on or before this day (UTC).")
    archived = param.Boolean(default=False, doc="Show archived batches too.")

    def __init__(self, on_change: Callable[[], None] | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._on_change = on_change
        self.param.watch(self._changed, ["state", "result", "contains", "tag", "since", "until", "archived"])
        self._layout: pn.viewable.Viewable | None = None

    def _changed(self, *_events: Any) -> None:
        if self._on_change is not None:
            self._on_change()

    def as_kwargs(self) -> dict[str, Any]:
        """The filters as ``BatchService.batch_list`` takes them."""
        return {"state": None if self.state == ANY else self.state, "result": None if self.result == ANY else self.result,
                "name": self.contains.strip() or None, "tag": self.tag.strip() or None, "since": self.since,
                "until": self.until, "archived": self.archived}

    @property
    def active(self) -> bool:
        return any(v not in (None, False) for v in self.as_kwargs().values())

    def clear(self) -> None:
        self.param.update(state=ANY, result=ANY, contains="", tag="", since=None, until=None, archived=False)

    def __panel__(self) -> pn.viewable.Viewable:
        if self._layout is None:
            self._layout = self._compose()
        return self._layout

    def _compose(self) -> pn.viewable.Viewable:
        widgets = {
            "state": pn.widgets.Select.from_param(self.param.state, name="State", width=120),
            "result": pn.widgets.Select.from_param(self.param.result, name="Result", width=110),
            "name": pn.widgets.TextInput.from_param(self.param.contains, name="Name contains", width=200,
                                                    placeholder="name or batch id"),
            "tag": pn.widgets.TextInput.from_param(self.param.tag, name="Tag", width=120, placeholder="tag"),
            "since": pn.widgets.DatePicker.from_param(self.param.since, name="Created from", width=135,
                                                      end=date(2999, 12, 31)),
            "until": pn.widgets.DatePicker.from_param(self.param.until, name="to", width=135, end=date(2999, 12, 31)),
            "archived": pn.widgets.Checkbox.from_param(self.param.archived, name="Show archived", align="end",
                                                       margin=(0, 10, 12, 10)),
        }
        clear = pn.widgets.Button(label="Clear filters", color="default", variant="outline", width=110, align="end")
        pn.bind(lambda _: self.clear(), clear.param.clicks, watch=True)
        for key, widget in widgets.items():
            widget.css_classes = [f"history-filter-{key}"]
        clear.css_classes = ["history-filter-clear"]
        return pn.Row(*widgets.values(), clear, sizing_mode="stretch_width", css_classes=["history-filters"])

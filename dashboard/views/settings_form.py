"""Plan Preview's settings form: each field checked against the same pydantic ``BatchSettings`` the API uses, its
error shown under the field, and a refused value never reaches the builder state (so never the frozen snapshot).

The numeric inputs carry no start/end: a browser that clamps 500 to 64 would hide the mistake, and a value the
state's param refused was dropped with only a log line (workers 0 read 0 on screen while the snapshot kept 2).
"""

from __future__ import annotations

import html
from typing import Any

import panel as pn
import param
from pydantic import ValidationError

from dashboard.views.state import UI_SETTINGS, BuilderState
from engine.core.settings import with_defaults

NUMBER_STEPS = {"domain_cooldown_seconds": 0.1, "min_required_coverage": 0.05}
ERROR_CSS = ":host { color: var(--il-red-700); font-size: 12.5px; }"


def field_error(state: BuilderState, name: str, value: Any) -> str:
    """Why ``value`` cannot be the setting ``name`` (empty: it can), in the API's words (pydantic's)."""
    if value is None or value == "":
        return f"{name}: a value is needed"
    current = {n: getattr(state, n) for n in UI_SETTINGS}
    try:
        with_defaults(state.service.defaults, {**current, name: value})
    except ValidationError as exc:
        problems = [e for e in exc.errors() if e.get("loc") and e["loc"][0] == name] or exc.errors()
        return "; ".join(f"{name}: {e['msg']} (got {value!r})" for e in problems[:2])
    return ""


class SettingsForm(pn.viewable.Viewer):
    """The form's widgets over ``state``; ``errors`` holds the fields whose typed value was refused."""

    state = param.ClassSelector(class_=BuilderState, doc="The builder state the form edits.")
    errors = param.Dict(default={}, doc="Field name -> why its typed value was refused (the state keeps the last good).")

    def __init__(self, runners: list[str], **params: Any) -> None:
        super().__init__(**params)
        self._widgets = {name: self._make(name, runners) for name in UI_SETTINGS}
        self._messages = {name: pn.pane.HTML("", visible=False, margin=(0, 10, 4, 10), stylesheets=[ERROR_CSS],
                                             css_classes=["setting-error", f"setting-error-{name}"])
                          for name in UI_SETTINGS}
        for name, widget in self._widgets.items():
            widget.param.watch(lambda event, n=name: self._typed(n, event.new), "value")
        self.state.param.watch(self._state_changed, list(UI_SETTINGS))
        offered = self.state.service.executor_kinds()  # a server with a Dask cluster offers its threads too
        self.executor = pn.widgets.Select(
            label="Executor", options={f"the server's default ({offered[0]})": "", **{k: k for k in offered}},
            value=self.state.executor if self.state.executor in ("", *offered) else "",
            description=self.state.param.executor.doc, sizing_mode="stretch_width", css_classes=["setting-executor"],
            visible=len(offered) > 1)
        self.executor.link(self.state, value="executor")

    def _make(self, name: str, runners: list[str]) -> pn.widgets.Widget:
        p = self.state.param[name]
        common = {"label": p.label, "value": getattr(self.state, name), "description": p.doc,
                  "sizing_mode": "stretch_width", "css_classes": [f"setting-{name}"]}
        if name == "runner":
            return pn.widgets.Select(options=runners, **common)
        if name == "profile":
            return pn.widgets.Select(options=list(p.objects), **common)
        if isinstance(p, param.Integer):
            return pn.widgets.IntInput(**common)
        if isinstance(p, param.Number):
            return pn.widgets.FloatInput(step=NUMBER_STEPS.get(name, 1.0), **common)
        return pn.widgets.TextInput(**common)

    def widget(self, name: str) -> pn.widgets.Widget:
        return self._widgets[name]

    def _typed(self, name: str, value: Any) -> None:
        error = field_error(self.state, name, value)
        errors = {k: v for k, v in self.errors.items() if k != name}
        if error:
            errors[name] = error
        else:
            setattr(self.state, name, value)
        self.errors = errors  # replaced, not mutated: watchers fire
        message = self._messages[name]
        message.param.update(object=html.escape(error), visible=bool(error))

    def _state_changed(self, *events: param.parameterized.Event) -> None:
        """A setting changed elsewhere (a restored session): the box shows it, unless it holds a refused value."""
        for event in events:
            widget = self._widgets[event.name]
            if event.name not in self.errors and widget.value != event.new:
                widget.value = event.new

    def __panel__(self) -> pn.viewable.Viewable:
        rows = []
        for name in UI_SETTINGS:
            rows += [self._widgets[name], self._messages[name]]
        rows.append(self.executor)
        return pn.Column(*rows, sizing_mode="stretch_width", css_classes=["settings-form"])

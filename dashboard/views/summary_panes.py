"""The Batch Run Summary's panes and layout (``SummaryPanes``, a mixin of ``dashboard.views.summary.BatchRunSummary``).

``_build`` makes every pane bound to the state it shows (header, controls and the Force Stop confirmation, message,
counters, progress, charts, running items, failures, action feed, items table, failure groups, needs review, one
item's events); ``_compose`` lays them out in cards. What the panes need from the view (``run``, its params,
``_charts``, ``_fetch_items`` and the actions the buttons call) is the view's own: it lives in ``summary.py``,
which imports this module and never the other way round. The counters' numbers and tones are here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import panel as pn
import param

from dashboard.views import summary_html as html
from dashboard.views.formats import alert, as_datetime, section
from dashboard.views.paged import PagedTable
from dashboard.views.plain import TEXT_TOOLTIP
from dashboard.views.run_reads import EPOCH
from dashboard.views.run_state import GROUPS_READ, ITEM_STATES
from dashboard.views.summary_tables import GROUPS_CSS, ITEM_COLUMNS, groups_for_display
from dashboard.views.theme import BUTTON_CSS, CARD_STYLES, HTML_CSS, PAGE_STYLES, ROOT_CSS, hex_of, var

COUNTERS = [*ITEM_STATES[:3], "needs_review", *ITEM_STATES[3:]]  # "needs review" beside "completed"
COUNTER_TONES = {"queued": "slate-500", "running": "blue-600", "completed": "green-600", "needs_review": "yellow-600",
                 "failed": "red-600", "skipped": "purple-600", "stopped": "orange-600"}
ZERO_TONE = "slate-400"  # a zero is grey: "Completed 0" is not success
GROUPS_SHOWN = 10  # failure groups listed on the summary (largest first)


def _html(text: Any = "", **kw: Any) -> pn.pane.HTML:
    kw.setdefault("sizing_mode", "stretch_width")
    return pn.pane.HTML(text, stylesheets=[HTML_CSS], **kw)


def _card(*objects: Any, styles: dict[str, str] | None = None, **kw: Any) -> pn.Column:
    return pn.Column(*objects, styles=dict(styles or CARD_STYLES), sizing_mode="stretch_width", margin=(6, 6), **kw)


def counts_shown(status: dict[str, Any]) -> dict[str, int]:
    """The counters' numbers: items per state, and the completed ones that need review."""
    counts = {**(status.get("counts") or {}), "needs_review": (status.get("outcomes") or {}).get("needs_review", 0)}
    return {state: int(counts.get(state, 0)) for state in COUNTERS}


def counter_tone(state: str, value: int) -> str:
    return COUNTER_TONES[state] if value else ZERO_TONE


class SummaryPanes:
    """The panes of ``BatchRunSummary`` (built once, each bound to ``run`` or the view's params) and the layout
    that composes them. A mixin: it has no params or watchers of its own (those stay on the view)."""

    # ------------------------------------------------------------------ building (every pane bound to state)
    def _build(self) -> None:
        run, rx = self.run, self.run.param
        self.header = _html(margin=(0, 0),
                            css_classes=["summary-header"], sizing_mode=None,
                            styles={"flex": "1 1 420px", "min-width": "0"})
        self.buttons = {
            "start": self._button("Start Batch", rx.can_start, run.start, "primary"),
            "pause": self._button("Pause Batch", rx.can_pause, run.pause, "warning"),
            "resume": self._button("Resume Batch", rx.can_resume, run.resume, "success"),
            "stop": self._button("Stop Batch", rx.can_stop, run.stop, "danger", outline=True),
            "force_stop": self._button("Force Stop", rx.can_force_stop, self.ask_force_stop, "danger"),
            "retry_failed": self._button("Retry failed", rx.can_retry_failed, run.retry_failed, "primary",
                                         outline=True),
        }
        self.picker = pn.widgets.Select(options={}, width=430, margin=(4, 8, 4, 0),
                                        css_classes=["summary-picker"])
        self.follow_toggle = pn.widgets.Checkbox.from_param(run.param.follow_latest, name="Follow the latest batch",
                                                            margin=(12, 8, 4, 0), css_classes=["summary-follow"])
        newer = rx.newer.rx.pipe(bool)
        self.newer_banner = _html(rx.newer.rx.pipe(html.newer_html), margin=(6, 10), css_classes=["summary-newer"])
        view = pn.widgets.Button(label="View it", color="primary", width=90, margin=(6, 6), stylesheets=[BUTTON_CSS],
                                 css_classes=["summary-view-newer"])
        pn.bind(self.view_newer, view.param.clicks, watch=True)
        self._newer_row = pn.Row(self.newer_banner, view, visible=newer, sizing_mode="stretch_width",
                                 styles={"background": var("blue-50"), "border": f"1px solid {var('blue-200')}",
                                         "border-radius": "8px"})
        confirm = pn.widgets.Button(label="Confirm force stop", color="danger", width=170)
        cancel = pn.widgets.Button(label="Cancel", color="light", width=90)
        pn.bind(self.confirm_force_stop, confirm.param.clicks, watch=True)
        pn.bind(self._cancel_force_stop, cancel.param.clicks, watch=True)
        self.confirm_text = _html(pn.bind(self._confirm_html, self.param.confirming_force_stop), margin=(8, 10),
                                  css_classes=["summary-confirm"])
        self._confirm_bar = pn.Row(self.confirm_text, confirm, cancel, visible=self.param.confirming_force_stop,
                                   sizing_mode="stretch_width",
                                   styles={"background": var("red-50"), "border": f"1px solid {var('red-200')}",
                                           "border-radius": "8px"})
        shown = rx.message.rx.pipe(bool)
        self.alert = _html(pn.bind(lambda m, k: alert(m, k) if m else "", rx.message, rx.message_kind),
                           visible=shown, margin=(0, 0), css_classes=["summary-alert"])
        dismiss = pn.widgets.Button(label="Dismiss", color="light", width=90)
        pn.bind(lambda _: self.run.dismiss(), dismiss.param.clicks, watch=True)
        self._alert_row = pn.Row(self.alert, dismiss, visible=shown, sizing_mode="stretch_width")
        counts = rx.status.rx.pipe(counts_shown)
        self.counters = {}
        for s in COUNTERS:
            value = counts.rx.pipe(lambda c, s=s: c[s])
            tone = value.rx.pipe(lambda v, s=s: counter_tone(s, v))
            self.counters[s] = pn.indicators.Number(
                label=s.replace("_", " ").capitalize(), value=value, format="{value:,}", font_size="26pt",
                title_size="10.5pt", default_color=tone.rx.pipe(hex_of), sizing_mode="stretch_width", margin=(6, 6),
                css_classes=[f"summary-count-{s}"],
                styles=tone.rx.pipe(lambda t: {**CARD_STYLES, "border-left": f"5px solid {var(t)}"}))
        self.bar = _html(margin=(0, 0), css_classes=["summary-bar"])
        self.progress_text = _html(margin=(0, 0), css_classes=["summary-progress"])
        self._speed_pane = pn.pane.Bokeh(self._charts.speed, sizing_mode="stretch_width", height=250)
        self._done_pane = pn.pane.Bokeh(self._charts.done, sizing_mode="stretch_width", height=250)
        self.running = _html(margin=(0, 0), css_classes=["summary-running"])
        self.failures = _html(rx.failures.rx.pipe(html.failures_html), margin=(0, 0), css_classes=["summary-failures"])
        self.feed = _html(pn.bind(self._feed_html, rx.feed, rx.status, self.param.show_item_moves), margin=(0, 0),
                          css_classes=["summary-feed"])
        self.items = PagedTable(
            self._fetch_items, page_size=20, empty_text="No items match.", css_classes=["summary-items"],
            columns=ITEM_COLUMNS, on_click=lambda row: self.show_item(int(row["seq"])),
            titles={"seq": "#", "duration": "duration", "finished": "finished (UTC)", "last_error": "last error",
                    "gate": "quality"},
            widths={"seq": 55, "state": 95, "attempts": 80, "phase": 90, "duration": 80, "finished": 120,
                    "gate": 105, "product_id": 230},
        )
        self.groups_head = _html(pn.bind(self._groups_head_html, rx.failure_groups), margin=(0, 0),
                                 css_classes=["summary-groups-head"])
        # Tabulator cells are plain text (the reasons and product ids are the jobs' and the catalog's words);
        # a click on a row's last cell ("Retry this group") retries that group.
        self.groups_table = pn.widgets.Tabulator(
            rx.failure_groups.rx.pipe(lambda g: groups_for_display(g[:GROUPS_SHOWN])), show_index=False,
            disabled=True, pagination=None, layout="fit_columns", sizing_mode="stretch_width",
            selectable=False, header_align="left", css_classes=["summary-groups"], max_height=260,
            titles={"count": "items", "reason": "reason", "seen": "first – last (UTC)",
                    "examples": "examples", "retry": ""},
            widths={"count": 82, "seen": 175, "examples": 180, "retry": 130},  # titles whole at 1280 px
            formatters={"reason": {"type": "textarea"}, "seen": {"type": "textarea"}, "examples": {"type": "textarea"}},
            configuration={"columnDefaults": {"headerSort": False, "tooltip": TEXT_TOOLTIP},
                           "placeholder": "No failures."},
            stylesheets=[GROUPS_CSS])
        async def group_cell_clicked(event: Any) -> None:
            await self.group_clicked(event.row, event.column)

        self.groups_table.on_click(group_cell_clicked)
        self.review = _html(rx.needs_review.rx.pipe(
            lambda r: html.review_html(r) if r else '<div class="empty">No product needs review.</div>'),
            margin=(0, 0), css_classes=["summary-review"])
        self._rerun = pn.widgets.Button(label="Re-run needs review", color="primary", variant="outline", width=190,
                                        margin=(4, 4), stylesheets=[BUTTON_CSS],
                                        disabled=rx.needs_review.rx.pipe(lambda r: not (r or {}).get("count"))
                                        | rx.busy)
        pn.bind(self.rerun_needs_review, self._rerun.param.clicks, watch=True)
        self.item_events = _html(self.param.item_read.rx.pipe(lambda r: html.item_events_html(*r) if r else ""),
                                 margin=(0, 0), css_classes=["summary-item-events"])

    def _button(self, label: str, enabled: param.Parameter, action: Callable[[], Any], kind: str, *,
                outline: bool = False) -> pn.widgets.Button:
        button = pn.widgets.Button(label=label, color=kind, variant="outline" if outline else "solid",
                                   disabled=enabled.rx.not_(), width=128, margin=(4, 4), stylesheets=[BUTTON_CSS])

        async def clicked(_clicks: int) -> None:
            await action()

        pn.bind(clicked, button.param.clicks, watch=True)
        return button

    # ------------------------------------------------------------------ what the bound panes show
    def _confirm_html(self, confirming: bool) -> str:
        running = len(self.run.status.get("running") or []) if confirming else 0
        return (f'<b>Force stop?</b> The {running} running product{"s" if running != 1 else ""} '
                'are cancelled now (external jobs are killed) and become stopped; queued ones become stopped too.')

    def _feed_html(self, feed: list[dict[str, Any]], status: dict[str, Any], show_item_moves: bool) -> str:
        events = list(feed)
        if show_item_moves:
            moves = [e for e in status.get("recent_events") or [] if e.get("kind") == "item_transition"]
            events = sorted(events + moves, key=lambda e: as_datetime(e.get("occurred_at")) or EPOCH, reverse=True)
        return html.feed_html(events)

    def _groups_head_html(self, groups: list[dict[str, Any]]) -> str:
        failed = int((self.run.status.get("counts") or {}).get("failed", 0))
        note = (f"{failed:,} failed item{'s' if failed != 1 else ''} in {len(groups)}"
                f"{'+' if len(groups) >= GROUPS_READ else ''} reason group{'s' if len(groups) != 1 else ''}"
                if groups else "")
        head = section("Failure groups", note or "none")
        if len(groups) > GROUPS_SHOWN:
            head += (f'<div class="meta">the {GROUPS_SHOWN} largest shown; filter the items by '
                     'any group below</div>')
        return head

    def _compose(self) -> pn.viewable.Viewable:
        controls = pn.Row(*self.buttons.values(), margin=(0, 0))
        head = pn.FlexBox(self.header, controls, flex_wrap="wrap", justify_content="space-between",
                          align_items="flex-end", gap="6px 12px", sizing_mode="stretch_width", margin=0)
        choose = pn.Row(_html('<span class="meta">batch</span>', margin=(12, 6, 4, 0), sizing_mode=None, width=40),
                        self.picker, self.follow_toggle, sizing_mode="stretch_width", margin=0)
        top = _card(head, choose, self._newer_row, self._confirm_bar, self._alert_row)
        counters = pn.Row(*self.counters.values(), sizing_mode="stretch_width", margin=(0, 0))
        progress = _card(self.bar, self.progress_text)
        charts = pn.Row(_card(self._speed_pane), _card(self._done_pane), sizing_mode="stretch_width", margin=0)
        scroll = {"max-height": "270px", "overflow-y": "auto"}
        feed_toggle = pn.widgets.Checkbox.from_param(self.param.show_item_moves, label="show item moves", margin=(2, 0),
                                                     css_classes=["summary-feed-toggle"])

        def listing(title: Any, body: pn.viewable.Viewable) -> pn.Column:
            return _card(title, pn.Column(body, styles=scroll, sizing_mode="stretch_width", margin=0), height=330)

        lists = pn.Row(
            listing(_html(section("Now running", "product · phase cursor"), margin=(0, 0, 6, 0)), self.running),
            listing(_html(section("Recent failures", "newest first"), margin=(0, 0, 6, 0)), self.failures),
            listing(pn.Row(_html(section("Action feed"), margin=(0, 0, 6, 0)), feed_toggle,
                           sizing_mode="stretch_width", margin=0), self.feed),
            sizing_mode="stretch_width", margin=0,
        )
        filter_ = pn.widgets.RadioButtonGroup.from_param(
            self.param.item_state, options={s.capitalize(): s for s in self.param.item_state.objects},
            color="light", variant="outline", margin=(4, 0))
        search = pn.widgets.TextInput.from_param(self.param.item_search, name="", placeholder="Search id, brand, model",
                                                 width=240, margin=(4, 8, 4, 0), css_classes=["summary-item-search"])
        brand = pn.widgets.Select.from_param(self.param.item_brand, name="", width=200, margin=(4, 8, 4, 0),
                                             css_classes=["summary-item-brand"])
        reason = pn.widgets.Select.from_param(self.param.item_reason, name="", width=380, margin=(4, 8, 4, 0),
                                              css_classes=["summary-item-reason"])
        items = _card(pn.Row(_html(section("Items", "click one for its events")), filter_,
                             sizing_mode="stretch_width"),
                      pn.Row(search, brand, reason, sizing_mode="stretch_width", margin=0), self.items,
                      self.item_events)
        profile = pn.widgets.Select.from_param(self.param.rerun_profile, name="", width=120, margin=(4, 4),
                                               css_classes=["summary-rerun-profile"])
        groups = _card(self.groups_head, self.groups_table, styles={**CARD_STYLES, "flex": "3 1 0%"})
        review = _card(_html(section("Needs review", "below the quality gate"), margin=(0, 0, 6, 0)),
                       pn.Column(self.review, styles=scroll, sizing_mode="stretch_width", margin=0),
                       pn.Row(_html('<span class="meta">re-run them with profile</span>', margin=(10, 0),
                                    sizing_mode=None, width=150), profile, self._rerun, margin=0),
                       styles={**CARD_STYLES, "flex": "2 1 0%"})
        triage = pn.Row(groups, review, sizing_mode="stretch_width", margin=0)
        return pn.Column(top, counters, progress, triage, charts, lists, items, sizing_mode="stretch_width",
                         styles=PAGE_STYLES, stylesheets=[ROOT_CSS], margin=0)

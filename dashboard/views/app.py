"""The dashboard: Batch Run Builder, Plan Preview, Batch Run Summary and History over one shared engine.

Served by ``indexlab serve`` (or ``panel serve dashboard/views/app.py --plugins dashboard.api``) and
embeddable in Jupyter through ``dashboard.app(db=..., catalog=...)``. Each browser session gets its
own builder and run state; all of them drive the one engine of the process.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import panel as pn

from dashboard import guard
from dashboard.context import AppContext, get_context
from dashboard.views.builder import BatchRunBuilder
from dashboard.views.history import History, OutcomeView
from dashboard.views.local_css import keep_css_local
from dashboard.views.preview import PlanPreview
from dashboard.views.run_state import RunState
from dashboard.views.running import RunningNow
from dashboard.views.sessions import track
from dashboard.views.state import BuilderState
from dashboard.views.summary import BatchRunSummary
from dashboard.views.theme import hex_of
from dashboard.views.user import keep_selection, session_actor, session_user

warnings.filterwarnings("ignore", category=DeprecationWarning, module="bokeh")  # Pandas4Warning on render
guard.install()  # `pn.serve` of the app: no network address without auth, bodies capped

LIVE_OR_PAUSED = ("running", "paused", "stopping")
TABS = ("Batch Run Builder", "Plan Preview", "Batch Run Summary", "Running & queued", "History")
ACCENT = hex_of("accent")  # the template draws it: a concrete colour


def build_tabs(context: AppContext) -> pn.Tabs:
    """The four tabs of one session, wired together."""
    state = BuilderState(context.service, live_preview=False)  # the builder computes previews off the loop
    keep_selection(state, session_user())  # the user's selection comes back on a reload
    actor = session_actor()  # the audit trail names this session's user (or session) for what it does
    run = RunState(context, actor=actor)
    tabs = pn.Tabs(dynamic=True, sizing_mode="stretch_width")  # render a tab when it is first shown

    async def started(batch_run_id: str) -> None:
        # Show the summary first, then follow the batch: with dynamic tabs Panel keeps updating a hidden
        # tab's models detached from the page, and resolves their stylesheets against its CDN, which the
        # browser would then try to fetch when the tab is shown.
        tabs.active = TABS.index("Batch Run Summary")
        await run.follow_async(batch_run_id)

    async def restore() -> None:
        """Page-load work, off the loop: follow the latest active or paused batch, with its counters and
        position; a restored session opens on the live batch."""
        await run.restore_async()
        if run.batch_state in LIVE_OR_PAUSED:
            tabs.active = TABS.index("Batch Run Summary")

    outcome = OutcomeView(context)  # the builder's own: History's, updated while hidden, named a CDN stylesheet
    builder = BatchRunBuilder(state=state, details=outcome)

    def show_outcome(product_id: str) -> None:
        """A product id clicked in the grid: its latest outcome with the evidence, in the builder (no tab change)."""
        outcome.show(product_id)
        builder.show_details()

    def show_summary() -> None:
        tabs.active = TABS.index("Batch Run Summary")

    builder.on_product_click(show_outcome)
    tabs.extend([
        (TABS[0], builder),
        (TABS[1], _when_shown(lambda: PlanPreview(state=state, on_started=started, actor=actor))),
        (TABS[2], _when_shown(lambda: BatchRunSummary(run=run, restore_on_load=False))),
        (TABS[3], _when_shown(lambda: _running_now(context, run, started, tabs))),
        (TABS[4], _when_shown(lambda: History(context, run_state=run, on_watch=show_summary))),
    ])
    pn.state.onload(restore)  # served: once the page is loaded; in a notebook or a test: now
    track(tabs, state, run, outcome, builder)  # each must die with its session
    return tabs


def _running_now(context: AppContext, run: RunState, on_view: Callable, tabs: pn.Tabs) -> RunningNow:
    """The Running & queued tab: it refreshes only while shown, and at once when shown again."""
    index = TABS.index("Running & queued")
    view = RunningNow(context, run_state=run, on_view=on_view, shown=lambda: tabs.active == index)
    tabs.param.watch(lambda e: view.refresh() if e.new == index else None, "active")
    return view


def session_refusal() -> str | None:
    """Why this session must not see the dashboard: it came over the network to a server without auth. This is
    the check for servers that bound their sockets before ``guard.install()`` ran (``panel serve dashboard/views/app.py``
    without the API plugin runs this module only when the first page is asked for). A loopback peer means the
    connection came over loopback; any other peer came over the network (this machine's own IP included)."""
    context = pn.state.curdoc.session_context if pn.state.curdoc else None
    try:  # the peer as the socket reported it (not X-Forwarded-For): a session made by a websocket has no socket left
        peer = context.request.connection.context.address
    except AttributeError:  # not served (a notebook)
        return None
    if not isinstance(peer, tuple) or not peer:  # a unix socket's peer: local
        return None
    return guard.network_refusal(peer[0], login=context.logout_url is not None, peer=True)  # Bokeh sets it when a login is on


def _when_shown(make: Callable[[], pn.viewable.Viewable]) -> pn.viewable.Viewable:
    """A tab's view, built when the tab is first shown: most page loads never open the other three
    tabs, whose widgets were two thirds of a session's objects (3 of 4.2 MB at 100k products)."""
    def view() -> pn.viewable.Viewable:
        made = make()
        track(made)
        return made

    # loading_indicator: Panel's spinner while the tab is built, where the tab once rendered blank
    return pn.param.ParamFunction(view, lazy=True, loading_indicator=True, sizing_mode="stretch_width",
                                  min_height=200)


def create_app(db: str | None = None, catalog: str | None = None, context: AppContext | None = None) -> pn.viewable.Viewable:
    """The served page: a Bootstrap template (it loads nothing from outside this server)."""
    if refusal := session_refusal():
        return pn.pane.Str(refusal)
    pn.extension("tabulator", notifications=True)
    keep_css_local(pn.state.curdoc)
    ctx = context or get_context(db=db, catalog=catalog)
    template = pn.template.BootstrapTemplate(title="IndexLab Batch", header_background=ACCENT, collapsed_sidebar=True)
    template.main.append(build_tabs(ctx))
    return template


def notebook_app(db: str | None = None, catalog: str | None = None) -> pn.viewable.Viewable:
    """The same tabs inline in a notebook cell. ``inline=True``: the notebook gets Bokeh's and Panel's scripts and
    stylesheets inline, as the server serves them, never from a CDN (an offline notebook would draw nothing)."""
    pn.extension("tabulator", notifications=True, inline=True)
    ctx = get_context(db=db, catalog=catalog)
    return pn.Column(pn.pane.Markdown("## IndexLab Batch"), build_tabs(ctx), sizing_mode="stretch_width")


if __name__.startswith("bokeh"):  # `panel serve dashboard/views/app.py --plugins dashboard.api`
    create_app().servable(title="IndexLab Batch")

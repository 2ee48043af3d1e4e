"""Who a session acts for, and that user's builder selection kept in the store across reloads.

With auth on, ``pn.state.user`` names the user: audit events carry it and the selection is theirs. Without auth the
server has one local user (everyone on this machine shares the selection), and each session's actions are told
apart in the audit trail by the session id: ``dashboard:<session id>``.
"""

from __future__ import annotations

import logging

import panel as pn
import param

from dashboard.views.offloop import off_loop, schedule
from dashboard.views.state import BuilderState
from engine.core.errors import IndexLabError

LOCAL_USER = "local"
log = logging.getLogger("indexlab.dashboard")


def session_user() -> str:
    """The user this session belongs to: ``pn.state.user`` when auth is on, else the one local user."""
    return pn.state.user or LOCAL_USER


def session_actor() -> str:
    """The actor of the audit events this session causes: the user when auth is on, else ``dashboard:<session id>``."""
    if pn.state.user:
        return str(pn.state.user)
    context = pn.state.curdoc.session_context if pn.state.curdoc else None
    session = getattr(context, "id", None)
    return f"dashboard:{session}" if session else "dashboard"


def keep_selection(state: BuilderState, user: str) -> None:
    """Restore ``user``'s saved selection once (off the loop), then save each change of it (coalesced, off the loop).

    Nothing is saved before the saved one is read, so an empty page never overwrites it.
    """
    flags = {"loaded": False, "saving": False, "again": False}

    async def load() -> None:
        try:
            saved = await off_loop(state.service.saved_selection, user)
        except IndexLabError as exc:
            log.warning("could not read the saved selection of %r: %s", user, exc.message)
            saved = None
        if saved and not state.selected:
            state.restore(saved["product_ids"], saved["brand_order"], saved["pinned"])
        flags["loaded"] = True

    async def save() -> None:
        if not flags["loaded"] or flags["saving"]:
            flags["again"] = flags["loaded"]
            return
        flags["saving"] = True
        try:
            while True:
                flags["again"] = False
                try:
                    await off_loop(state.service.save_selection, user, list(state.selected), list(state.brand_order),
                                   list(state.pinned))
                except IndexLabError as exc:
                    log.warning("could not save the selection of %r: %s", user, exc.message)
                if not flags["again"]:
                    break
        finally:
            flags["saving"] = False

    def changed(*_events: param.parameterized.Event) -> None:
        schedule(save)

    state.param.watch(changed, ["selected", "brand_order", "pinned"])
    pn.state.onload(load)

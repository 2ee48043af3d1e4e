"""A served session without a server or a browser: what its page would receive, in the order it would receive it.

``served(root)`` puts ``root`` in a Document whose (fake) session has one connected page, the page already holding the
document as it was then (the PULL-DOC). The page's websocket is busy writing a message, as on a loaded machine: Panel
then serializes each change at once and queues it (``panel.io.document.schedule_write_events``), to write when the
socket's write lock is free; a change made outside Panel's context takes Bokeh's own path
(``ServerSession._document_patched`` -> ``send_patch_document``), a message that waits on that write lock itself and so
goes out before Panel's queue. ``Page.arrivals()`` is that order; ``Page.unknown_references()`` replays it as BokehJS
decodes it and names every model a message refers to before any message defined it ("reference p1214 isn't known").
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import panel as pn
import panel.io.document as panel_document
from bokeh.document import Document
from bokeh.protocol import Protocol
from bokeh.server.session import ServerSession
from panel.io.state import set_curdoc, state


class BusySocket:
    """A websocket in the middle of writing a message: its write lock is taken (what Panel looks at)."""

    write_lock = SimpleNamespace(_block=SimpleNamespace(_value=0))


@dataclass
class Connection:
    """The page's connection: what Bokeh's own path sends is kept in ``by_bokeh``, in order."""

    _socket: BusySocket = field(default_factory=BusySocket)
    protocol: Protocol = field(default_factory=Protocol)
    by_bokeh: list[Any] = field(default_factory=list)

    def send_patch_document(self, event: Any) -> None:
        self.by_bokeh.append(self.protocol.create("PATCH-DOC", [event]))

    __hash__ = object.__hash__


class SessionContext:
    """Just what Panel and Bokeh ask of a served session's context."""

    def __init__(self, session: ServerSession) -> None:
        self.session = session
        self.id = session.id
        self.server_context = SimpleNamespace(sessions=[session])
        self.request = SimpleNamespace(headers={}, cookies={}, arguments={})
        self.destroyed = False
        self.logout_url = None


@dataclass
class Page:
    doc: Document
    connection: Connection
    known: set[str]  # the ids the page got with the document

    def arrivals(self) -> list[Any]:
        """The PATCH-DOC messages sent since, as the page gets them: Bokeh's, then Panel's queue."""
        queued = panel_document._WRITE_MSGS.get(self.doc, {}).get(self.connection, [])
        return [*self.connection.by_bokeh, *queued]

    def unknown_references(self) -> list[tuple[str, list[str]]]:
        """(what a message changed, the ids it names that the page never got), for each message that has any."""
        known, bad = set(self.known), []
        for message in self.arrivals():
            content = json.loads(message.content_json)  # as the page reads it
            defined, refs = _ids(content)
            known |= defined
            if missing := sorted(refs - known):
                events = [f"{e['kind']} {e.get('attr', '')}".strip() for e in content.get("events", [])]
                bad.append((", ".join(events), missing))
        return bad


def _ids(obj: Any, defined: set[str] | None = None, refs: set[str] | None = None) -> tuple[set[str], set[str]]:
    """Models defined in a message, and models it refers to by id (a buffer's id is neither)."""
    defined = set() if defined is None else defined
    refs = set() if refs is None else refs
    if isinstance(obj, dict):
        if obj.get("type") == "bytes":
            return defined, refs
        if obj.get("type") == "object" and "id" in obj:
            defined.add(obj["id"])
        elif set(obj) == {"id"}:
            refs.add(obj["id"])
        for value in obj.values():
            _ids(value, defined, refs)
    elif isinstance(obj, list):
        for value in obj:
            _ids(value, defined, refs)
    return defined, refs


def _cancel(tasks: list[asyncio.Task]) -> None:
    """Panel's write tasks (on the thread's event loop, never run): cancelled, and let end, so none is left pending."""
    for task in tasks:
        task.cancel()
    if tasks:
        tasks[0].get_loop().run_until_complete(asyncio.gather(*tasks, return_exceptions=True))


@contextmanager
def served(root: pn.viewable.Viewable) -> Iterator[Page]:
    """``root`` rendered in a served, loaded session with one page connected; inside, the document is current and
    locked, as in a callback of the session (Panel's updates run at once, on this thread)."""
    doc = Document()
    session = ServerSession("page-order", doc)
    context = SessionContext(session)
    doc._session_context = weakref.ref(context)
    connection = Connection()
    session._pending_writes = []  # the document lock is held: Bokeh's path collects its writes here
    with set_curdoc(doc):
        state._thread_id_[doc] = state._current_thread
        model = root.get_root(doc)
        doc.add_root(model)
        doc.to_json()  # the page pulled the document: every model so far is the page's
        session._subscribed_connections.add(connection)
        state._loaded[doc] = True
        state._connected[doc] = True
        page = Page(doc, connection, {m.id for m in doc.models})
        try:
            yield page
        finally:
            panel_document._WRITE_MSGS.pop(doc, None)
            panel_document._WRITE_BLOCK.pop(doc, None)
            _cancel(panel_document._write_tasks.pop(doc, []))
            session._callbacks.remove_all_callbacks()  # Panel's write task (next tick): never run
            session._pending_writes = None
            root._cleanup(model)  # Panel forgets the view
            for mapping in (state._loaded, state._connected, state._thread_id_):
                mapping.pop(doc, None)

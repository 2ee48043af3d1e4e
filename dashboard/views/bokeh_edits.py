"""Changes our code makes to Bokeh models directly (the preview's and the summary's charts) reach the page in order.

Panel sends a served session's changes itself (``panel.io.unlocked``): straight to the websocket, or, while the
socket is busy writing, serialized at once and queued (``schedule_write_events``), the queue retried every 10 ms. A
change made to a Bokeh model outside that context takes Bokeh's own path instead (``ServerSession._document_patched``):
a message written when the locked callback ends, waiting on the socket's write lock, and nothing makes it wait for
Panel's queue. So it can overtake the message that first sends the models it names. A red CI run: "Select Brand",
then Plan Preview; the tab's models (the chart's figure, range and source among them) sat in Panel's queue when the
new preview arrived (``follow_preview``'s next-tick ``show``), and ``PlanPreview._draw_chart``'s three messages went
out first: the browser threw "reference p1214 isn't known" (the range), p1215 (the figure), p1211 (the source).
Upstream (Panel 1.9.4, Bokeh 3.9): Bokeh's writes do not wait for Panel's queue.

``in_panel_order()`` makes such changes inside Panel's context, so they join its queue behind what is already there
(and go straight out when nothing is). Outside a served session (a notebook, a script, a test) it changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import panel as pn


@contextmanager
def in_panel_order() -> Iterator[None]:
    """Change Bokeh models in the body; the page gets the changes after every message Panel has queued before them.
    Call it on the session's loop with its document current (a periodic or next-tick callback), as Panel's own
    updates run."""
    with pn.io.unlocked():
        yield

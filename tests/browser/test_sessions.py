"""Page loads and closes against a real `indexlab serve`: every closed page's session is given back.

The server counts the objects each session builds (``dashboard.views.sessions``, read at ``/debug/sessions``
when ``INDEXLAB_DEBUG_SESSIONS=1``); after the pages close the count must return to zero, and closing
pages must leave no traceback in the server's log.
"""

import httpx
import pytest

from tests.support.browser import watch
from tests.support.polling import wait_until
from tests.support.servers import start_server, stop_server

pytestmark = pytest.mark.browser

LOADS = 10
TABS = {"Plan Preview": "First items in run order", "Batch Run Summary": "Action feed",
        "History": "past batches, newest first", "Batch Run Builder": "Select All"}  # tab -> a text it shows


@pytest.fixture
def debug_server(tmp_path):
    srv = start_server(tmp_path / "sessions.duckdb", log=tmp_path / "server.log", env={"INDEXLAB_DEBUG_SESSIONS": "1"})
    yield srv
    stop_server(srv)


def live(server) -> dict:
    return httpx.get(server.url + "/debug/sessions", timeout=30).json()


def test_closed_pages_give_their_sessions_back(debug_server, browser):
    assert live(debug_server)["total"] == 0
    for n in range(LOADS):
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = watch(context)
        p = page.page
        p.goto(debug_server.url + "/")
        p.get_by_text("Select All", exact=True).first.wait_for(timeout=30_000)
        if n == 0:  # one page opens every tab: the summary's periodic callback and History's tables too
            for tab, shown in TABS.items():
                p.get_by_text(tab, exact=True).first.click()
                p.get_by_text(shown).first.wait_for(timeout=15_000)
        assert live(debug_server)["total"] > 0  # the open page's objects are counted
        assert page.errors == [] and page.outside_requests == []
        context.close()
    wait_until(lambda: live(debug_server)["total"] == 0, timeout=120, interval=0.5,
               message=lambda: f"sessions of closed pages still alive: {live(debug_server)}")
    log = debug_server.output()
    assert "Traceback" not in log, log

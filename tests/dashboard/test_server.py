"""dashboard.server: what `indexlab serve` does before it starts serving."""

import asyncio
import gc
import logging

from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError

from dashboard.server import quiet_closed_pages, settle_heap


def test_serve_settles_the_start_up_heap_out_of_the_collectors_sight():
    before = gc.get_freeze_count()
    try:
        settle_heap()
        assert gc.get_freeze_count() > before
    finally:
        gc.unfreeze()


def _task_failing_unseen(error: BaseException) -> None:
    """A task that fails and is dropped unawaited: asyncio logs "Task exception was never retrieved" when it goes."""
    loop = asyncio.new_event_loop()
    try:
        async def write() -> None:
            raise error

        task = loop.create_task(write())
        loop.run_until_complete(asyncio.wait([task]))
        del task
        gc.collect()
    finally:
        loop.close()


def test_a_write_to_a_page_the_browser_closed_logs_no_traceback(caplog):
    """Panel's unawaited write to a closed page's websocket (holoviz/panel#3341) is not an error of the server."""
    quiet_closed_pages()
    _task_failing_unseen(WebSocketClosedError())
    _task_failing_unseen(StreamClosedError())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def test_other_errors_of_unawaited_tasks_are_still_logged(caplog):
    quiet_closed_pages()
    _task_failing_unseen(ValueError("a real bug"))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "never retrieved" in errors[0].getMessage() and errors[0].exc_info[0] is ValueError

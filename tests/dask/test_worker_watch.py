"""The worker's side of a chunk (engine/dask/worker.py) in this process, without a cluster: the sentinel that starts
a chunk's watcher only for an attempt that runs long, and the give-back of attempts held up behind a slow one."""

from __future__ import annotations

import time

from engine.core.limits import CancelToken
from engine.dask.worker import TOPIC, _Sentinel, _Watcher
from engine.run.chunks import STALL_SECONDS
from tests.support.polling import wait_until


class Recorded(_Watcher):
    """A watcher whose polling thread is only counted (it would long-poll the scheduler)."""

    def __init__(self, size: int) -> None:
        self.sent: list[tuple[str, list]] = []
        super().__init__("chunk-1", None, size, lambda topic, msg: self.sent.append((topic, msg)))
        self.started_watching = 0

    def long_running(self) -> None:
        self.started_watching += 1
        self._thread = object()  # type: ignore[assignment]  (watching from now on)


def test_an_attempt_given_back_is_never_begun():
    watcher = Recorded(size=4)
    now = time.monotonic()
    assert watcher.begin(0, CancelToken(), now - STALL_SECONDS - 1)
    assert watcher.give_back(now) == 1
    assert watcher.sent == [(TOPIC, ["gave_back", "chunk-1", 1])]
    assert not watcher.begin(1, CancelToken(), now), "an attempt given back began"
    assert watcher.give_back(now) is None and len(watcher.sent) == 1, "given back twice"


def test_nothing_is_given_back_before_the_stall_time_or_after_the_last_attempt():
    watcher = Recorded(size=2)
    now = time.monotonic()
    assert watcher.begin(0, CancelToken(), now)
    assert watcher.give_back(now + STALL_SECONDS / 2) is None
    watcher.end()
    assert watcher.give_back(now + 10) is None  # between attempts: nothing runs long
    assert watcher.begin(1, CancelToken(), now)
    assert watcher.give_back(now + 10) is None  # the last attempt: nothing behind it
    assert watcher.sent == []


def test_a_limit_from_the_control_plane_never_undoes_a_give_back():
    watcher = Recorded(size=6)
    now = time.monotonic()
    watcher.begin(1, CancelToken(), now - 1)
    assert watcher.give_back(now) == 2
    watcher._apply({"v": 1, "cancel": {}, "limit": 6})  # what the control plane last sent: no withdrawal
    assert watcher.limit == 2
    watcher._apply({"v": 2, "cancel": {"1": "force stop"}, "limit": 1})
    assert watcher.limit == 1


def test_the_sentinel_watches_only_attempts_that_run_long_and_has_them_give_back():
    sentinel = _Sentinel()
    fast, slow = Recorded(size=3), Recorded(size=3)
    fast.begin(0, CancelToken(), time.monotonic() + 3600)  # began "in the future": never runs long
    slow.begin(0, CancelToken(), time.monotonic() - 1)
    sentinel.add(fast)
    sentinel.add(slow)
    try:
        wait_until(lambda: slow.started_watching and slow.sent, timeout=10,
                   message="the sentinel never looked at the slow attempt")
        assert slow.started_watching == 1 and slow.sent == [(TOPIC, ["gave_back", "chunk-1", 1])]
        assert fast.started_watching == 0 and fast.sent == []
    finally:
        sentinel.discard(fast)
        sentinel.discard(slow)


def test_a_chunk_closed_starts_no_watcher():
    watcher = _Watcher("chunk-2", None, 2)
    watcher.begin(0, CancelToken(), time.monotonic() - 1)
    watcher.end()
    assert watcher.close() is False
    watcher.long_running()  # the sentinel's look raced the chunk's end
    assert not watcher.watching


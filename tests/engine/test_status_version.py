"""status_version: what a cache of statuses (the REST API's) checks before it serves a copy.

It must change with every committed change of a batch as a whole (state, workers, priority, queue place),
whoever made it, and stay put while only items move, so that pollers of a busy batch still share copies.
"""

from __future__ import annotations


def test_the_version_moves_with_every_lifecycle_call_and_settings_change(inline_engine, plan_batch, script):
    batch = plan_batch(4)
    seen = [inline_engine.status_version(batch)]
    for act in (lambda: inline_engine.start(batch), lambda: inline_engine.pause(batch),
                lambda: inline_engine.set_workers(batch, 3), lambda: inline_engine.set_priority(batch, 7),
                lambda: inline_engine.start(batch), lambda: inline_engine.stop(batch)):
        act()
        version = inline_engine.status_version(batch)
        assert version != seen[-1], f"unchanged after step {len(seen)}"
        seen.append(version)


def test_item_moves_alone_leave_the_version_as_it_is(inline_engine, plan_batch, script):
    script.default = "ok"
    batch, other = plan_batch(6), plan_batch(3)
    inline_engine.start(batch)
    before = inline_engine.status_version(batch)
    other_before = inline_engine.status_version(other)
    inline_engine.drain()
    status = inline_engine.status(batch)
    assert status["state"] == "completed" and status["counts"]["completed"] == 6
    after = inline_engine.status_version(batch)
    assert after[0] == before[0] + 1  # one batch move: running -> completed; the six items did not count
    assert inline_engine.status_version(other) == other_before  # another batch's changes are not its own


def test_an_unknown_batch_has_a_version_and_no_error(inline_engine):
    assert inline_engine.status_version("no-such-batch") == inline_engine.status_version("no-such-batch")

"""Which batch the Summary follows (issue #17): a batch the operator chose stays; a newer one is offered, not forced.

A real Store and BatchEngine (the fixtures of test_summary_state), no browser.
"""

from __future__ import annotations

import asyncio

from dashboard.views.history import History
from dashboard.views.run_state import RunState
from tests.dashboard.test_summary_state import context, gate, plan  # noqa: F401  (fixtures)


def finished(ctx, **settings) -> str:
    batch = plan(ctx, runner="noop", **settings)
    ctx.service.start(batch)
    assert ctx.engine.wait_idle(60)
    return batch


def test_a_batch_chosen_in_history_stays_when_a_newer_one_runs(context):  # noqa: F811
    older = finished(context)
    run = RunState(context)
    run.restore()
    history = History(context, run_state=run)
    history.open_now(older)
    asyncio.run(history.watch_live())
    assert run.batch_run_id == older and not run.follow_latest  # chosen: pinned
    newer = plan(context)  # gated: it keeps running
    context.service.start(newer)
    assert not asyncio.run(run.follow_newer_async())
    assert run.batch_run_id == older
    assert run.newer.get("batch_run_id") == newer and run.newer.get("state") == "running"  # the banner offers it


def test_a_planned_batch_made_elsewhere_does_not_take_over_a_finished_one(context):  # noqa: F811
    done = finished(context)
    run = RunState(context)
    run.follow(done)
    assert run.follow_latest
    planned = plan(context, runner="noop")  # as `indexlab plan` would, from another process
    assert not asyncio.run(run.follow_newer_async())
    assert run.batch_run_id == done and run.newer.get("batch_run_id") == planned


def test_following_latest_again_switches_to_the_newest_started_batch(context):  # noqa: F811
    older = finished(context)
    run = RunState(context)
    asyncio.run(run.choose_async(older))
    newer = finished(context)
    assert not asyncio.run(run.follow_newer_async()) and run.batch_run_id == older
    run.follow_latest = True
    assert asyncio.run(run.follow_newer_async()) and run.batch_run_id == newer and run.newer == {}


def test_a_slow_read_of_an_earlier_follow_never_overrides_a_later_choice(context):  # noqa: F811
    first, second = finished(context), finished(context)
    run = RunState(context)
    early = run.read_for(first)  # a read that started first and finishes last
    asyncio.run(run.choose_async(second))
    run.apply_read(early)
    assert run.batch_run_id == second


def test_the_picker_lists_recent_batches_by_name_and_id(context):  # noqa: F811
    batches = [finished(context) for _ in range(3)]
    run = RunState(context)
    run.restore()
    asyncio.run(run.look_around_async())
    listed = [b["batch_run_id"] for b in run.recent]
    assert listed[:3] == batches[::-1]  # newest first
    labels = run.picker_options()
    assert all(b in " ".join(labels) for b in batches)

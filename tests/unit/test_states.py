import itertools

import pytest

from engine.core.errors import IllegalTransition
from engine.core.states import (
    BATCH_MOVES,
    ITEM_MOVES,
    TERMINAL_ITEM_STATES,
    BatchState,
    ItemState,
    check_batch_move,
    check_item_move,
)

LEGAL_ITEM_MOVES = {
    ("queued", "running"), ("queued", "skipped"), ("queued", "stopped"),
    ("running", "completed"), ("running", "queued"), ("running", "failed"), ("running", "stopped"),
    ("failed", "queued"), ("stopped", "queued"),
}
LEGAL_BATCH_MOVES = {
    ("planned", "running"), ("running", "paused"), ("paused", "running"),
    ("running", "stopping"), ("paused", "stopping"), ("stopping", "stopped"),
    ("running", "stopped"), ("paused", "stopped"), ("running", "completed"),
    ("stopped", "running"), ("completed", "running"),
    # the batch queue (waiting for the server's worker budget): entered by a start, left by admission, pause or stop
    ("planned", "queued"), ("paused", "queued"), ("stopped", "queued"), ("completed", "queued"),
    ("queued", "running"), ("queued", "paused"), ("queued", "stopped"),
}


def test_states_are_plain_strings_for_sql_and_json():
    assert ItemState.QUEUED == "queued" and str(BatchState.PAUSED) == "paused"


@pytest.mark.parametrize("current,target", sorted(itertools.product([s.value for s in ItemState], repeat=2)))
def test_item_transition_table_matches_design(current, target):
    if (current, target) in LEGAL_ITEM_MOVES:
        assert check_item_move(current, target) is ItemState(target)
    else:
        with pytest.raises(IllegalTransition, match=f"is {current}; it cannot become {target}"):
            check_item_move(current, target)


@pytest.mark.parametrize("current,target", sorted(itertools.product([s.value for s in BatchState], repeat=2)))
def test_batch_transition_table_matches_design(current, target):
    if (current, target) in LEGAL_BATCH_MOVES:
        assert check_batch_move(current, target) is BatchState(target)
    else:
        with pytest.raises(IllegalTransition, match=f"is {current}; it cannot become {target}"):
            check_batch_move(current, target, batch_run_id="b1")


def test_every_state_has_a_row_in_the_tables():
    assert set(ITEM_MOVES) == set(ItemState) and set(BATCH_MOVES) == set(BatchState)


def test_terminal_items_only_leave_by_operator_requeue():
    for state in TERMINAL_ITEM_STATES:
        assert ITEM_MOVES[state] <= {ItemState.QUEUED}


def test_illegal_move_message_lists_what_is_allowed():
    with pytest.raises(IllegalTransition) as info:
        check_batch_move("planned", "paused", batch_run_id="0192")
    assert "batch 0192 is planned" in str(info.value) and "running" in str(info.value)


def test_unknown_state_name_is_rejected():
    with pytest.raises(ValueError):
        check_item_move("queued", "exploded")

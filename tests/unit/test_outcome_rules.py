"""The outcome rules every runner's outcome meets before the engine stores it (engine/runners/outcome.py)."""

from __future__ import annotations

import pytest

from engine.runners.outcome import OutcomeInvalid, check_outcome

ROW = {"field": "weight", "value": 58, "unit": "g", "confidence": 0.9}

REFUSED = [
    (None, "the runner returned None, not an outcome"),
    ([ROW], "the runner returned a list, not an outcome"),
    ("{}", "the runner returned a str, not an outcome"),
    ({"fields": "weight"}, "outcome fields is a str"),
    ({"fields": 3}, "outcome fields is an int"),
    ({"fields": [ROW, "weight"]}, "outcome fields[1] is a str, not an evidence row"),
    ({"fields": [{"value": 1}]}, "outcome fields[0] has no 'field'"),
    ({"fields": [{"field": "  "}]}, "outcome fields[0] has no 'field'"),
    ({"fields": [{"field": 7}]}, "outcome fields[0] has no 'field' (the field's name, non-empty text), found 7"),
    ({"fields": [{**ROW, "confidence": 1.5}]}, "fields[0] ('weight'): confidence must be a number from 0 to 1"),
    ({"fields": [{**ROW, "confidence": "high"}]}, "confidence must be a number from 0 to 1, found 'high'"),
    ({"fields": [{**ROW, "confidence": True}]}, "confidence must be a number from 0 to 1, found True"),
    ({"coverage": 80}, "outcome coverage must be a number from 0 to 1, found 80"),
    ({"coverage": float("nan")}, "outcome coverage must be a number from 0 to 1, found nan"),
    ({"confidence": -0.1}, "outcome confidence must be a number from 0 to 1"),
]


@pytest.mark.parametrize(("outcome", "words"), REFUSED, ids=[w for _, w in REFUSED])
def test_an_outcome_that_breaks_the_rules_is_refused_saying_which(outcome, words):
    with pytest.raises(OutcomeInvalid) as caught:
        check_outcome(outcome)
    assert words in caught.value.message
    assert caught.value.retryable is False and caught.value.code == "outcome_invalid"


ACCEPTED = [
    {},
    {"runner": "noop", "product_id": "p1", "fields": {}, "note": "noop runner: measures the engine"},  # noop's
    {"fields": {"dpi": 26000}, "coverage": 1.0},  # an object of field: value, as command jobs often print
    {"fields": None, "coverage": None},
    {"fields": [], "coverage": 0, "confidence": 1},
    {"fields": [{"field": "weight"}, {**ROW, "confidence": None, "unit": 5, "tier": ["x"]}]},  # text made of the rest
]


@pytest.mark.parametrize("outcome", ACCEPTED)
def test_outcomes_the_engine_has_always_stored_still_pass(outcome):
    assert check_outcome(outcome) is outcome

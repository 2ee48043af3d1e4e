"""Quality gate, failure fingerprints and batch results (engine/core/triage.py): pure rules."""

from __future__ import annotations

import pytest

from engine.core.triage import BatchResult, batch_result, fingerprint, gate, result_counts, result_words

PRODUCT = {"product_id": "mouse-razer-viper-v3", "model": "Viper V3", "brand": "Razer"}


@pytest.mark.parametrize(("error", "expected"), [
    ("exit 1: source timeout for mouse-razer-viper-v3 after 30.5s", "exit 1: source timeout for <product_id> after <n>s"),
    ("exit 2: source timeout for mouse-razer-viper-v3 after 1s", "exit 2: source timeout for <product_id> after <n>s"),
    ("RunnerError: GET https://razer.com/p/123?x=1 returned 503", "RunnerError: GET <url> returned <n>"),
    ("cannot open /srv/corpus/razer/viper.html: No such file", "cannot open <path>: No such file"),
    ("id 01a24640-9ac4-7099-afff-25a21bfde1ed not found", "id <id> not found"),
    ("Razer Viper V3: no price\nTraceback ...", "<brand> <model>: no price"),
    ("", "(no message)"),
])
def test_a_fingerprint_masks_what_differs_between_products(error, expected):
    assert fingerprint(error, PRODUCT) == expected


def test_failures_with_one_cause_share_a_fingerprint_and_exit_codes_stay_apart():
    other = {"product_id": "kb-logitech-g915", "model": "G915", "brand": "Logitech"}
    assert fingerprint("exit 1: timeout for kb-logitech-g915 after 2s", other) == \
        fingerprint("exit 1: timeout for mouse-razer-viper-v3 after 31s", PRODUCT)
    assert fingerprint("exit 1: boom", PRODUCT) != fingerprint("exit 2: boom", PRODUCT)


@pytest.mark.parametrize(("outcome", "threshold", "expected"), [
    ({"coverage": 0.9}, 0.8, ("passed", 0.9)),
    ({"coverage": 0.8}, 0.8, ("passed", 0.8)),
    ({"coverage": 0.5}, 0.8, ("needs_review", 0.5)),
    ({"coverage": 0.0}, 0.8, ("needs_review", 0.0)),
    ({"coverage": 0.5}, 0.0, (None, 0.5)),  # the gate is off
    ({"fields": {}}, 0.8, (None, None)),  # a runner that reports no quality is not gated
    ({"coverage": "high"}, 0.8, (None, None)),
    ({"coverage": float("nan")}, 0.8, (None, None)),
    ({"coverage": True}, 0.8, (None, None)),
    (None, 0.8, (None, None)),
])
def test_the_gate_passes_only_reported_coverage_at_or_above_the_threshold(outcome, threshold, expected):
    assert gate(outcome, threshold) == expected


@pytest.mark.parametrize(("state", "counts", "review", "expected"), [
    ("completed", {"completed": 10}, 0, BatchResult.SUCCEEDED),
    ("completed", {"completed": 10}, 1, BatchResult.PARTIAL),
    ("completed", {"completed": 10}, 10, BatchResult.FAILED),  # nothing passed its gate
    ("completed", {"failed": 38}, 0, BatchResult.FAILED),
    ("completed", {"completed": 25, "failed": 18}, 0, BatchResult.PARTIAL),
    ("completed", {"completed": 5, "skipped": 1}, 0, BatchResult.PARTIAL),
    ("stopped", {"completed": 5, "stopped": 5}, 0, BatchResult.PARTIAL),
    ("stopped", {"stopped": 5}, 0, BatchResult.FAILED),
    ("running", {"completed": 5}, 0, None),
    ("paused", {"failed": 5}, 0, None),
    ("planned", {"queued": 5}, 0, None),
])
def test_a_batch_has_a_result_only_once_finished(state, counts, review, expected):
    assert batch_result(state, result_counts(counts, review)) == expected


def test_result_words_say_what_came_out():
    outcomes = result_counts({"completed": 25, "failed": 18}, 3)
    assert result_words(BatchResult.PARTIAL, outcomes) == "Partial: 22 succeeded, 3 need review, 18 failed"
    assert result_words(None, result_counts({"queued": 4}, 0)) == "0 succeeded, 4 not run yet"

"""The example runner plugin (examples/indexlab-example-runner) on its own: its failures first, then its outcome,
which passes the engine's outcome rules (``check_outcome``), as a team's own runner tests would."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.core.limits import Cancelled, CancelToken, Limits
from engine.core.settings import BatchSettings
from engine.runners import RunContext, RunnerError, check_outcome, resolve
from tests.support.plugins import EXAMPLE, SHEET, require_example, write_sheets

PRODUCT = {"product_id": "p0001", "category": "mouse", "brand": "Acme", "model": "Swift", "variant": ""}


@pytest.fixture
def example():
    require_example()
    return resolve(EXAMPLE)


@pytest.fixture
def sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = write_sheets(tmp_path / "sheets", ["p0001"])
    monkeypatch.setenv("INDEXLAB_EXAMPLE_SPECS", str(folder))
    return folder


def _ctx(**kwargs) -> tuple[RunContext, list[str], list[tuple[str, str]]]:
    phases: list[str] = []
    logs: list[tuple[str, str]] = []
    ctx = RunContext("batch", 1, 1, CancelToken(), Limits(), on_phase=phases.append,
                     on_log=lambda level, message: logs.append((level, message)), **kwargs)
    return ctx, phases, logs


def _run(example, product=PRODUCT):
    ctx, phases, logs = _ctx()
    return example(product, BatchSettings(runner=EXAMPLE), ctx), phases, logs


def test_a_product_without_a_sheet_fails_for_good_naming_the_file(example, sheets):
    with pytest.raises(RunnerError, match=r"no spec sheet for p0009: expected .*p0009\.html") as caught:
        _run(example, {**PRODUCT, "product_id": "p0009"})
    assert caught.value.retryable is False


@pytest.mark.parametrize("pid", ["../secrets", "a/b", ".hidden", "x" * 300])
def test_a_product_id_that_is_no_safe_file_name_never_becomes_a_path(example, sheets, pid):
    with pytest.raises(RunnerError, match="cannot name a spec sheet file") as caught:
        _run(example, {**PRODUCT, "product_id": pid})
    assert caught.value.retryable is False


def test_a_sheet_without_a_specs_table_fails_for_good(example, sheets):
    (sheets / "p0001.html").write_text("<html><body><table><tr><th>Weight</th><td>58 g</td></tr></table></body></html>")
    with pytest.raises(RunnerError, match='has no <table class="specs"> rows') as caught:
        _run(example)
    assert caught.value.retryable is False


def test_a_force_stop_is_observed_between_rows(example, sheets):
    ctx, phases, _ = _ctx()
    ctx.on_phase = lambda name: (phases.append(name), name == "parse" and ctx.cancel.set("force stop"))
    with pytest.raises(Cancelled, match="force stop"):
        example(PRODUCT, BatchSettings(runner=EXAMPLE), ctx)
    assert phases == ["locate", "parse"]  # stopped before finalize


def test_the_outcome_has_fields_with_evidence_and_passes_the_outcome_rules(example, sheets):
    outcome, phases, logs = _run(example)
    assert check_outcome(outcome) is outcome
    assert phases == ["locate", "parse", "finalize"] and logs == []
    assert (outcome["coverage"], outcome["confidence"], outcome["missing"]) == (1.0, 0.9, [])
    weight = next(f for f in outcome["fields"] if f["field"] == "weight")
    assert weight == {"field": "weight", "value": 58, "unit": "g", "confidence": 0.9, "tier": "manufacturer",
                      "source_url": "https://maker.example/p0001/specs", "snippet_id": weight["snippet_id"]}
    assert _run(example)[0]["fields"] == outcome["fields"]  # snippet ids are stable


def test_missing_required_fields_lower_coverage_and_are_logged(example, sheets):
    (sheets / "p0001.html").write_text(SHEET.format(pid="p0001", polling=1000).replace(
        "<tr><th>Weight</th><td>58 g</td></tr>", ""))
    outcome, _, logs = _run(example)
    assert outcome["coverage"] == 0.75 and outcome["missing"] == ["weight"]
    assert logs == [("warning", "the sheet lacks weight")]


def test_a_category_without_required_fields_reports_no_coverage(example, sheets):
    outcome, _, _ = _run(example, {**PRODUCT, "category": "mousepad"})
    assert "coverage" not in outcome and outcome["missing"] == []

"""Issue #16: a plugin runner in real batches. Its outcome is checked like any runner's (a bad one fails that item,
never the batch), its RunnerError decides retries, a force stop reaches it, and the example plugin's fields land in
a real DuckDB file; a fresh Python process finds it by name, as a Dask worker will."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from engine.core.catalog import Catalog
from engine.core.plan import PlanRequest, Selection
from engine.core.settings import BatchSettings
from engine.service import BatchService
from tests.support.catalogs import product_rows
from tests.support.plugins import EXAMPLE, require_example, write_sheets
from tests.support.polling import wait_until

JOBS = """
from pathlib import Path
from engine.runners import RunnerError

ROW = {"field": "weight", "value": 58, "unit": "g", "confidence": 0.9, "tier": "manufacturer"}


def shapes(product, settings, ctx):
    pid = product["product_id"]
    if pid == "p0000":
        return ["not", "an", "outcome"]
    if pid == "p0001":
        return {"fields": [ROW, {"value": 1}]}
    if pid == "p0002":
        return {"fields": [{**ROW, "confidence": 7}]}
    if pid == "p0003":
        return {"fields": "weight=58"}
    if pid == "p0004":
        return {"fields": [ROW], "coverage": 80}
    return {"product_id": pid, "fields": [ROW], "coverage": 1.0}


def errors(product, settings, ctx):
    pid = product["product_id"]
    if pid == "p0000":
        raise RunnerError("mirror timed out")
    if pid == "p0001":
        raise RunnerError("product discontinued", retryable=False)
    return {"fields": []}


def waits(product, settings, ctx):
    ctx.phase("waiting")
    ctx.cancel.wait(60)
    Path(MARK).write_text(str(ctx.cancel.reason))
    ctx.phase("after the stop")  # raises Cancelled
    return {"fields": []}
"""


@pytest.fixture
def jobs(plugin_site, tmp_path):
    """Three plugin runners of one throwaway distribution; ``jobs`` is the marker file ``waits`` writes."""
    mark = tmp_path / "cancel-seen"
    plugin_site.add("acme-jobs", {"acme_shapes": "acme_jobs_mod:shapes", "acme_errors": "acme_jobs_mod:errors",
                                  "acme_waits": "acme_jobs_mod:waits"},
                    {"acme_jobs_mod": f"MARK = {str(mark)!r}\n" + JOBS})
    return mark


def _items(store, batch: str) -> dict[str, dict[str, Any]]:
    return {r["product_id"]: r for r in store.item_records(batch)}


def test_an_invalid_outcome_fails_its_item_with_the_reason_and_the_batch_goes_on(jobs, inline_engine, plan_batch, store):
    batch = plan_batch(6, runner="acme_shapes", max_attempts=3, fail_fast_failures=0)
    inline_engine.start(batch)
    inline_engine.drain()
    assert inline_engine.status(batch)["state"] == "completed"
    items = _items(store, batch)
    expected = {"p0000": "the runner returned a list, not an outcome",
                "p0001": "outcome fields[1] has no 'field'",
                "p0002": "outcome fields[0] ('weight'): confidence must be a number from 0 to 1, found 7",
                "p0003": "outcome fields is a str: it is a list of evidence rows",
                "p0004": "outcome coverage must be a number from 0 to 1, found 80"}
    for pid, words in expected.items():
        assert items[pid]["state"] == "failed" and words in items[pid]["last_error"], items[pid]
        assert items[pid]["attempts"] == 1  # not retried: the same code returns the same outcome
    assert items["p0005"]["state"] == "completed"
    assert store.latest_outcome("p0005")["fields"][0]["value"] == 58


def test_a_plugins_runner_error_is_retried_only_when_retryable(jobs, inline_engine, plan_batch, store):
    batch = plan_batch(3, runner="acme_errors", max_attempts=3, fail_fast_failures=0)
    inline_engine.start(batch)
    inline_engine.drain()
    items = _items(store, batch)
    assert items["p0000"]["state"] == "failed" and items["p0000"]["attempts"] == 3
    assert "mirror timed out" in items["p0000"]["last_error"]
    assert items["p0001"]["state"] == "failed" and items["p0001"]["attempts"] == 1
    assert "product discontinued" in items["p0001"]["last_error"]
    assert items["p0002"]["state"] == "completed"


def test_a_force_stop_reaches_a_plugin_runner(jobs, engine, plan_batch, store):
    batch = plan_batch(1, runner="acme_waits")
    engine.start(batch)
    wait_until(lambda: [r.get("phase") for r in engine.status(batch)["running"]] == ["waiting"], timeout=30,
               message=lambda: f"the plugin did not start: {engine.status(batch)}")
    engine.stop(batch, force=True)
    # (write_text creates the file before it writes: wait for its text, not for the file)
    seen = wait_until(lambda: jobs.exists() and jobs.read_text(), timeout=30,
                      message="the plugin never saw its cancel token set")
    assert seen == "force stop"
    wait_until(lambda: engine.status(batch)["state"] == "stopped", timeout=30)
    assert engine.wait_idle(30)
    (item,) = store.item_records(batch)
    assert item["state"] == "stopped"


def test_a_batch_of_the_example_plugin_stores_its_fields(tmp_path, store, engine, monkeypatch):
    """Through the service, on a real engine and DuckDB file: four products have a spec sheet, one has none."""
    require_example()
    products = product_rows(5)
    monkeypatch.setenv("INDEXLAB_EXAMPLE_SPECS", str(write_sheets(tmp_path / "sheets", [f"p000{i}" for i in range(4)])))
    service = BatchService(store, Catalog(products=products, problems=(), source="test"), engine)
    request = PlanRequest(selection=Selection(all=True), settings=BatchSettings(runner=EXAMPLE, max_attempts=2))
    batch = service.plan(request).batch_run_id
    service.start(batch)
    wait_until(lambda: service.status(batch)["state"] == "completed", timeout=60,
               message=lambda: f"the batch did not complete: {service.status(batch)}")
    status = service.status(batch)
    assert status["counts"]["completed"] == 4 and status["counts"]["failed"] == 1
    items = _items(store, batch)
    assert items["p0004"]["attempts"] == 1 and "no spec sheet for p0004" in items["p0004"]["last_error"]
    outcome = store.latest_outcome("p0002")
    assert outcome["coverage"] == 1.0 and outcome["confidence"] == 0.9
    fields = {f["field"]: f for f in outcome["fields"]}
    assert set(fields) == {"sensor", "max_dpi", "polling_rate", "weight"}
    assert (fields["max_dpi"]["value"], fields["max_dpi"]["unit"]) == (30000, "dpi")
    assert fields["polling_rate"]["value"] == 1002  # p0002's own sheet
    assert fields["sensor"]["value"] == "Focus Pro 30K" and fields["sensor"]["tier"] == "manufacturer"
    assert fields["weight"]["source_url"] == "https://maker.example/p0002/specs"
    assert len(fields["weight"]["snippet_id"]) == 16


CHILD = r"""
import json, sys
import engine.runners as runners
names = runners.runner_names()
assert "example_specs" in names and "indexlab_example_runner" not in sys.modules, names  # listed, not imported
from engine.core.limits import CancelToken, Limits
from engine.core.settings import BatchSettings
phases = []
ctx = runners.RunContext("batch", 1, 1, CancelToken(), Limits(), on_phase=phases.append)
runner = runners.resolve("example_specs")
outcome = runner(json.loads(sys.argv[1]), BatchSettings(runner="example_specs"), ctx)
print(json.dumps({"outcome": outcome, "phases": phases, "module": runner.__module__}))
"""


def test_a_fresh_python_process_resolves_the_example_plugin_by_name_and_runs_it(tmp_path):
    """What a Dask worker will do: import engine.runners, resolve the runner's name, run one product."""
    require_example()
    product = {"product_id": "mouse-corsair-m65-rgb-ultra", "category": "mouse", "brand": "Corsair",
               "model": "M65 RGB Ultra", "variant": ""}
    env = {k: v for k, v in os.environ.items() if k != "INDEXLAB_EXAMPLE_SPECS"}  # the sheets bundled with it
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps(product)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["module"] == "indexlab_example_runner" and answer["phases"] == ["locate", "parse", "finalize"]
    outcome = answer["outcome"]
    assert outcome["runner"] == EXAMPLE and outcome["coverage"] == 1.0 and outcome["missing"] == []
    fields = {f["field"]: f for f in outcome["fields"]}
    assert (fields["max_dpi"]["value"], fields["max_dpi"]["unit"]) == (26000, "dpi")
    assert fields["weight"]["source_url"] == "https://www.corsair.example/m65-rgb-ultra/specs"

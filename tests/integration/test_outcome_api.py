"""GET /api/v1/indexlab/products/{product_id}/outcome (issue #17): every field with its evidence, the source's words
included, and the batch it came from; hostile snippets come back as the stored text, never a 500."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.support.api import error
from tests.support.polling import wait_until

JOB = Path(__file__).parent / "jobs" / "snippet_job.py"
P = "/api/v1/indexlab/products"


def finished(api, tag: str, products: list[str]) -> str:
    settings = {"runner": "command", "command": [sys.executable, str(JOB), tag], "workers": 2}
    response = api.post("plan", {"selection": {"product_ids": products}, "settings": settings})
    assert response.status_code == 201, response.text
    batch = response.json()["batch_run_id"]
    assert api.post("start", {"batch_run_id": batch}).status_code == 200
    wait_until(lambda: api.status(batch)["state"] == "completed", timeout=60)
    return batch


def test_a_product_without_an_outcome_is_a_404_naming_it(api):
    body = error(api.get(f"{P}/p0230/outcome"), 404)
    assert "no recorded outcome for product 'p0230'" in body["message"] and body["field"] == "product_id"
    assert error(api.get(f"{P}/nope%2F..%2Fetc/outcome"), 404)["code"] == "not_found"


def test_bad_outcome_queries_are_422_naming_the_parameter(api):
    assert error(api.get(f"{P}/p0001/outcome", params={"batch": "x"}), 422)["field"] == "batch"
    assert error(api.get(f"{P}/p0001/outcome", params={"batch_run_id": "x" * 201}), 422)["field"] == "batch_run_id"


def test_the_outcome_carries_each_fields_snippet_url_tier_and_batch(api):
    batch = finished(api, "first", ["p0001"])
    body = api.get(f"{P}/p0001/outcome").json()
    assert body["batch_run_id"] == batch and body["product_id"] == "p0001"
    fields = {f["field"]: f for f in body["fields"]}
    assert fields["weight"]["snippet"] == "Weight: <b>58 g</b> without cable (first)"  # markup is text
    assert (fields["weight"]["source_url"], fields["weight"]["tier"]) == ("https://maker.example/p0001/specs",
                                                                          "manufacturer")
    assert fields["sensor"]["snippet"] == "The sensor is the \u202eFocus Pro 30K\u202c caf\ufffd \x00 made in-house"
    coating = fields["coating"]["snippet"]
    assert len(coating) == 1_000 and coating.startswith("Coating: matte very") and coating.endswith("…")
    assert fields["buttons"]["snippet"] is None and fields["buttons"]["snippet_id"] == "s-buttons"
    assert body["summary"]["repaired_characters"] == 1


def test_the_outcome_of_a_named_batch_is_preferred(api):
    older = finished(api, "older", ["p0002"])
    newer = finished(api, "newer", ["p0002"])
    latest = api.get(f"{P}/p0002/outcome").json()
    assert latest["batch_run_id"] == newer
    assert {f["field"]: f for f in latest["fields"]}["weight"]["snippet"].endswith("(newer)")
    chosen = api.get(f"{P}/p0002/outcome", params={"batch_run_id": older}).json()
    weight = {f["field"]: f for f in chosen["fields"]}["weight"]
    assert chosen["batch_run_id"] == older and weight["snippet"].endswith("(older)")
    other = api.get(f"{P}/p0002/outcome", params={"batch_run_id": "no-such-batch"}).json()
    assert other["batch_run_id"] == newer  # a batch without one: the latest, which names its own batch

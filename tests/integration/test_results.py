"""Issue #12 through a real server and the real CLI: a batch's result, its exit code, failure triage and re-runs.

Jobs are ``jobs/triage_job.sh`` (the command runner runs it per product): all failing, mixed, clean, or failing
in five reasons by product. Harvest batches read a tiny corpus in which some products have no source.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support.catalogs import numbered_rows, write_catalog
from tests.support.cli import TRIAGE_JOB, error, indexlab
from tests.support.harvest import page, source, spec_table, write_corpus
from tests.support.polling import wait_until
from tests.support.servers import Server, start_server, stop_server

B = "/api/v1/indexlab/batch"
JOB = TRIAGE_JOB
BRANDS = ["Logitech", "Razer", "Zowie", "Pulsar"]
N_PRODUCTS = 2500
FULL_SPECS = page(spec_table({"Max DPI": "26,000 DPI", "Weight": "58 g", "Polling rate": "8000 Hz",
                              "Sensor": "Focus Pro 30K", "Connectivity": "USB-C, 2.4 GHz wireless"}))
FIVE_REASONS = ["exit 1: source timeout for <product_id> after <n>s", "exit 1: GET <url> returned <n>",
                "exit 3: parser failed at line <n> of <path>", "exit 1: checksum <id> mismatch",
                "exit 1: <model> has no price (<n> offers seen)"]  # by N % 5


@dataclass
class Lab:
    server: Server
    client: httpx.Client
    root: Path

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """``indexlab batch ...`` against this server, as an operator runs it."""
        env = {k: v for k, v in os.environ.items() if k not in ("INDEXLAB_API_TOKEN", "INDEXLAB_URL")}
        return subprocess.run([indexlab(), "batch", *args, "--url", self.server.url], capture_output=True,
                              text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)

    def job(self, mode: str, name: str) -> list[str]:
        (self.root / name).mkdir(exist_ok=True)
        return ["sh", str(JOB), mode, str(self.root / name)]

    def started(self, name: str) -> list[str]:
        path = self.root / name / "started"
        return path.read_text().split() if path.exists() else []

    def plan(self, ids: list[str], mode: str, name: str, **settings) -> str:
        body = {"selection": {"product_ids": ids}, "confirm_large": True,
                "settings": {"runner": "command", "command": self.job(mode, name), "max_attempts": 1,
                             "fail_fast_failures": 0, "workers": 4, **settings}}
        response = self.client.post(f"{B}/plan", json=body)
        assert response.status_code == 201, response.text
        return response.json()["batch_run_id"]

    def status(self, batch: str) -> dict:
        response = self.client.get(f"{B}/{batch}/status")
        assert response.status_code == 200, response.text
        return response.json()

    def finish(self, batch: str, timeout: float = 120) -> dict:
        """Start (or resume) the batch and wait for its result."""
        response = self.client.post(f"{B}/start", json={"batch_run_id": batch})
        assert response.status_code == 200, response.text
        return self.wait(batch, timeout)

    def wait(self, batch: str, timeout: float = 120) -> dict:
        wait_until(lambda: self.status(batch)["result"] is not None, timeout=timeout,
                   message=f"batch {batch} did not finish")
        return self.status(batch)


def ids(*numbers: int) -> list[str]:
    return [f"item-{n}" for n in numbers]


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("results")
    write_catalog(root / "catalog.csv", numbered_rows(N_PRODUCTS, BRANDS, id_format="item-{}", start=1))
    server = start_server(root / "results.duckdb", root / "catalog.csv", log=root / "server.log",
                          env={"INDEXLAB_API_ALLOW_COMMAND": "1", "INDEXLAB_API_TOKEN": "",
                               "INDEXLAB_MAX_WORKERS": "8"})  # the triage test runs 8 jobs at once
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Lab(server, client, root)
    stop_server(server)
    log = server.output()
    assert "Traceback" not in log and " 500 " not in log, log[-3000:]


# --------------------------------------------------------------------------- unhappy paths first
def test_an_unknown_batch_is_404_on_every_new_read_and_the_cli_exits_1(lab):
    for path in ("nope", "nope/failures", "nope/needs_review", "nope/events?seq=1"):
        assert error(lab.client.get(f"{B}/{path}"), 404)["field"] == "batch_run_id", path
    assert error(lab.client.post(f"{B}/nope/rerun", json={"which": "failed"}), 404)["field"] == "batch_run_id"
    assert error(lab.client.post(f"{B}/retry", json={"batch_run_id": "nope", "reason": "x"}), 404)
    for args in (["status", "nope"], ["failures", "nope"], ["rerun", "nope", "--which", "failed"]):
        done = lab.cli(*args)
        assert done.returncode == 1 and "no batch 'nope'" in done.stderr and "Traceback" not in done.stderr, args


def test_bad_filters_and_bodies_are_4xx_naming_the_field_never_500(lab):
    batch = lab.plan(ids(1, 2), "ok", "bad-input")
    cases = {f"{B}/{batch}/items?state=exploded": "state", f"{B}/{batch}/items?gate=maybe": "gate",
             f"{B}/{batch}/items?search=" + "x" * 201: "search", f"{B}/{batch}/failures?group_by=brand": "group_by",
             f"{B}/{batch}/failures?limit=0": "limit", f"{B}/{batch}/events?seq=-1": "seq",
             f"{B}/{batch}/events?seq=one": "seq", f"{B}/{batch}/items?colour=red": "colour"}
    for url, field in cases.items():
        assert error(lab.client.get(url), 422)["field"] == field, url
    bodies = [("retry", {"batch_run_id": batch, "seqs": [1], "reason": "x"}, 422, "reason"),
              ("retry", {"batch_run_id": batch, "reason": ""}, 422, "reason"),
              ("retry", {"batch_run_id": batch, "reason": "no such group"}, 404, "reason"),
              (f"{batch}/rerun", {"which": "everything"}, 422, "which"),
              (f"{batch}/rerun", {"which": "needs_review", "reason": "x"}, 422, None),
              (f"{batch}/rerun", {"which": "failed", "settings": {"workers": 0}}, 422, "settings.workers"),
              (f"{batch}/rerun", {"which": "failed", "settings": {"profile": "reckless"}}, 422, "settings.profile"),
              (f"{batch}/rerun", {"which": "failed"}, 422, "which")]  # a planned batch has nothing failed
    for path, body, status, field in bodies:
        err = error(lab.client.post(f"{B}/{path}", json=body), status)
        assert field is None or err["field"] == field, (path, body, err)
    for path, raw in (("retry", f'{{"batch_run_id": "{batch}", "reason": "\\ud800x"}}'),
                      (f"{batch}/rerun", '{"which": "failed", "reason": "\\ud800x"}')):  # an unpaired surrogate
        response = lab.client.post(f"{B}/{path}", content=raw, headers={"Content-Type": "application/json"})
        assert error(response, 422)["field"] == "reason", raw
    hostile = lab.client.get(f"{B}/{batch}/items", params={"search": "\x00<img onerror=x>", "reason": "\x1b[2J"})
    assert hostile.status_code == 200 and hostile.json()["total"] == 0
    done = lab.cli("items", batch, "--gate", "maybe")
    assert done.returncode == 2 and "invalid choice" in done.stderr
    # nothing above changed the batch
    assert lab.status(batch)["state"] == "planned" and lab.client.get(B).json()["batches"][0]["batch_run_id"] == batch


def test_a_planned_batch_has_no_result_and_status_exits_6(lab):
    batch = lab.plan(ids(3), "ok", "planned")
    done = lab.cli("status", batch)
    assert done.returncode == 6, done.stderr
    assert "result        not finished: 0 succeeded, 1 not run yet" in done.stdout
    doc = json.loads(lab.cli("status", batch, "--json").stdout)
    assert doc["result"] is None and doc["outcomes"]["unfinished"] == 1


# --------------------------------------------------------------------------- results and exit codes
def test_a_batch_of_all_failing_jobs_is_failed_and_status_exits_4(lab):
    command = " ".join(lab.job("fail", "all-failing"))
    planned = lab.cli("plan", "--product-id", "item-1", "--product-id", "item-2", "--product-id", "item-3",
                      "--command", command, "--max-attempts", "1", "--json")
    assert planned.returncode == 0, planned.stderr
    batch = json.loads(planned.stdout)["batch_run_id"]
    assert lab.cli("start", batch).returncode == 0
    status = lab.wait(batch)
    assert status["result"] == "failed" and status["state"] == "completed"
    assert status["outcomes"] == {"succeeded": 0, "needs_review": 0, "failed": 3, "skipped": 0, "stopped": 0,
                                  "unfinished": 0}
    done = lab.cli("status", batch)
    assert done.returncode == 4, done.stderr
    text = done.stdout
    assert "result        Failed: 0 succeeded, 3 failed" in text
    assert "reason        every item finished: Failed: 0 succeeded, 3 failed" in text
    assert "failures      3 failed in 1 reason group" in text and "3  exit 3: sensor table missing" in text
    doc = json.loads(lab.cli("status", batch, "--json").stdout)
    assert (doc["result"], doc["result_text"], doc["reason"]) == (status["result"], status["result_text"],
                                                                  status["reason"])
    listed = next(b for b in lab.client.get(B).json()["batches"] if b["batch_run_id"] == batch)
    assert listed["result"] == "failed" and listed["outcomes"]["failed"] == 3 and listed["counts"] == {"failed": 3}
    assert lab.client.get(f"{B}/{batch}").json() == listed


def test_a_mixed_batch_is_partial_with_its_failed_and_needs_review_counts_and_exits_5(lab):
    batch = lab.plan(ids(*range(1, 9)), "mixed", "mixed")  # 4, 8 fail; 1, 5 at coverage 0.5; the rest clean
    status = lab.finish(batch)
    assert status["result"] == "partial"
    assert status["result_text"] == "Partial: 4 succeeded, 2 need review, 2 failed"
    done = lab.cli("status", batch)
    assert done.returncode == 5 and "result        Partial: 4 succeeded, 2 need review, 2 failed" in done.stdout
    assert "exit 1: no specs on any page of <product_id>" in done.stdout
    review = lab.client.get(f"{B}/{batch}/needs_review").json()
    assert review == {"batch_run_id": batch, "count": 2, "min_required_coverage": 0.8,
                      "missing_fields": [{"field": "weight", "products": 2}]}
    items = lab.client.get(f"{B}/{batch}/items", params={"gate": "needs_review"}).json()
    assert [(i["product_id"], i["gate"], i["coverage"]) for i in items["items"]] == [
        ("item-1", "needs_review", 0.5), ("item-5", "needs_review", 0.5)]
    failed = lab.client.get(f"{B}/{batch}/items", params={"state": "failed", "search": "ITEM-8"}).json()["items"]
    assert [(i["product_id"], i["fingerprint"]) for i in failed] == [
        ("item-8", "exit 1: no specs on any page of <product_id>")]
    # one item's events: its stderr tail is among them
    events = lab.client.get(f"{B}/{batch}/events", params={"seq": failed[0]["seq"]}).json()
    assert events["total"] == len(events["events"]) > 0 and {e["seq"] for e in events["events"]} == {failed[0]["seq"]}
    assert any("no specs on any page of item-8" in (e["reason"] or "") for e in events["events"] if e["kind"] == "log")

    # re-run just those that need review, with another profile: a new planned batch of exactly them
    response = lab.client.post(f"{B}/{batch}/rerun", json={"which": "needs_review", "settings": {"profile": "fast"}})
    assert response.status_code == 201, response.text
    rerun = response.json()
    assert rerun["state"] == "planned" and rerun["total"] == 2 and rerun["settings"]["profile"] == "fast"
    assert rerun["settings"]["command"] == lab.job("mixed", "mixed")  # the batch's own settings otherwise
    assert [i["product_id"] for i in rerun["first_items"]] == ["item-1", "item-5"]
    done = lab.cli("rerun", batch, "--which", "failed", "--profile", "thorough")
    assert done.returncode == 0 and "items         2 across 1 brands" in done.stdout, done.stdout + done.stderr
    assert "profile       thorough" in done.stdout


def test_a_clean_batch_succeeded_and_status_exits_0(lab):
    batch = lab.plan(ids(2, 3, 6, 7), "ok", "clean")
    status = lab.finish(batch)
    assert status["result"] == "succeeded" and status["result_text"] == "Succeeded: 4 succeeded"
    done = lab.cli("status", batch)
    assert done.returncode == 0 and "failures" not in done.stdout
    assert json.loads(lab.cli("failures", batch, "--json").stdout) == {
        "batch_run_id": batch, "group_by": "reason", "failed": 0, "groups": []}


def test_a_harvest_batch_over_products_without_sources_is_partial_with_them_under_needs_review(lab):
    corpus = write_corpus(lab.root / "corpus", [source("maker-1", "manufacturer", "d-full", product_id="item-1"),
                                                source("maker-2", "manufacturer", "d-full", product_id="item-2")],
                          {"d-full": FULL_SPECS})
    response = lab.client.post(f"{B}/plan", json={"selection": {"product_ids": ids(1, 2, 3, 4)}, "settings": {
        "runner": "harvest", "corpus": str(corpus), "domain_cooldown_seconds": 0}})
    assert response.status_code == 201, response.text
    batch = response.json()["batch_run_id"]
    status = lab.finish(batch)
    assert status["state"] == "completed" and status["result"] == "partial", status
    assert status["outcomes"]["succeeded"] == 2 and status["outcomes"]["needs_review"] == 2
    items = lab.client.get(f"{B}/{batch}/items", params={"gate": "needs_review"}).json()["items"]
    assert sorted((i["product_id"], i["coverage"]) for i in items) == [("item-3", 0.0), ("item-4", 0.0)]
    review = lab.client.get(f"{B}/{batch}/needs_review").json()
    assert review["count"] == 2 and {f["products"] for f in review["missing_fields"]} == {2}
    assert {f["field"] for f in review["missing_fields"]} == {"max_dpi", "weight", "polling_rate", "sensor",
                                                              "connectivity"}
    done = lab.cli("status", batch)
    assert done.returncode == 5 and "Partial: 2 succeeded, 2 need review" in done.stdout


# --------------------------------------------------------------------------- triage by the thousand
def test_thousands_of_failures_group_by_reason_and_retrying_one_group_requeues_exactly_it(lab):
    batch = lab.plan(ids(*range(1, N_PRODUCTS + 1)), "reasons", "triage", workers=8)
    status = lab.finish(batch, timeout=600)
    assert status["result"] == "failed" and status["outcomes"]["failed"] == N_PRODUCTS
    doc = lab.client.get(f"{B}/{batch}/failures", params={"group_by": "reason"}).json()
    assert doc["failed"] == N_PRODUCTS and doc["group_by"] == "reason"
    assert sorted(g["reason"] for g in doc["groups"]) == sorted(FIVE_REASONS)
    assert [g["count"] for g in doc["groups"]] == [N_PRODUCTS // 5] * 5
    by_reason = {g["reason"]: g for g in doc["groups"]}
    for k, reason in enumerate(FIVE_REASONS):
        group = by_reason[reason]
        members = lab.client.get(f"{B}/{batch}/items", params={"reason": reason, "limit": 1000}).json()
        assert members["total"] == N_PRODUCTS // 5 and {int(i["product_id"][5:]) % 5 for i in members["items"]} == {k}
        first = [{"seq": i["seq"], "product_id": i["product_id"]} for i in members["items"][:5]]
        assert group["examples"] == first, reason  # the first five in run order
        assert group["first_seen"] <= group["last_seen"]
    assert "source timeout for item-" in by_reason[FIVE_REASONS[0]]["example_error"]
    timeout = FIVE_REASONS[0]
    text = lab.cli("failures", batch).stdout
    example = by_reason[timeout]["examples"][0]
    assert f"failures      {N_PRODUCTS:,} failed in 5 reason groups" in text
    assert f"      500  {timeout}" in text and f"e.g. #{example['seq']} {example['product_id']}, " in text

    # the cause of one group is fixed; retry exactly that group from the CLI
    (lab.root / "triage" / "fixed-0").touch()
    runs_before = lab.started("triage")
    assert len(runs_before) == N_PRODUCTS
    done = lab.cli("retry", batch, "--reason", timeout)
    assert done.returncode == 0 and f"re-queued {N_PRODUCTS // 5} items" in done.stdout, done.stderr
    status = lab.wait(batch, timeout=300)
    again = lab.started("triage")[len(runs_before):]
    assert sorted(again) == sorted(ids(*range(5, N_PRODUCTS + 1, 5)))  # exactly that group ran again
    assert status["result"] == "partial" and status["outcomes"]["succeeded"] == N_PRODUCTS // 5
    groups = lab.client.get(f"{B}/{batch}/failures").json()["groups"]
    assert sorted(g["reason"] for g in groups) == sorted(FIVE_REASONS[1:]) and {g["count"] for g in groups} == {500}
    assert lab.cli("status", batch).returncode == 5

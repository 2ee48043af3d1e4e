"""The crash test with many batches (DESIGN §3 Restart): a real `indexlab serve` runs two batches at once with a
third queued behind them (max_running_batches 2), is SIGKILLed mid-batch and started again. Every batch that was
running resumes, the queued one stays queued until capacity frees and then runs; nothing completed before the
kill runs again, nothing is lost. Jobs: tests/engine/jobs/slow_job.py (logs ``start <product_id> <pid>``)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import pytest

from engine.store import Store
from tests.support.catalogs import write_catalog
from tests.support.polling import wait_until
from tests.support.servers import kill_server, start_server, stop_server

pytestmark = pytest.mark.slow

B = "/api/v1/indexlab/batch"
JOB = Path(__file__).resolve().parents[1] / "engine" / "jobs" / "slow_job.py"
BRANDS = ("Logitech", "Razer", "Zowie")  # one batch each: a product id names its batch


def _starts(log: Path) -> list[str]:
    """Product ids of the complete start lines, in order."""
    return [line.split()[1] for line in log.read_text().split("\n")[:-1]] if log.exists() else []


def test_sigkill_with_two_batches_running_and_one_queued_resumes_all_and_reruns_nothing(tmp_path):
    db, log, server_log = tmp_path / "indexlab.duckdb", tmp_path / "starts.log", tmp_path / "server.log"
    catalog = write_catalog(tmp_path / "catalog.csv", 48)  # 12 products of each of four brands
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"runner": "command", "command": [sys.executable, str(JOB)], "workers": 1,
                                    "max_workers": 2, "max_running_batches": 2}))
    env = {"SLOW_JOB_LOG": str(log), "SLOW_JOB_SECONDS": "0.3"}
    args = ["--settings", str(settings)]
    server = start_server(db, catalog, log=server_log, args=args, env=env)
    port = int(server.url.rsplit(":", 1)[1])
    try:
        batches = []
        with httpx.Client(base_url=server.url, timeout=30) as client:
            for brand in BRANDS:
                batches.append(client.post(f"{B}/plan", json={"selection": {"brands": [brand]}}).json()["batch_run_id"])
            states = [client.post(f"{B}/start", json={"batch_run_id": b}).json()["state"] for b in batches]
        assert states == ["running", "running", "queued"]
        owner: dict[str, str] = {}
        wait_until(lambda: len(_starts(log)) >= 5, timeout=60, message=lambda: server.output()[-2000:])
        kill_server(server)
        with Store(db) as store:
            at_kill = {b: store.get_batch(b)["state"] for b in batches}
            items = {b: store.items(b) for b in batches}
        for b, frame in items.items():
            owner.update(dict.fromkeys(frame["product_id"], b))
        completed = {p for frame in items.values() for p, s in zip(frame["product_id"], frame["state"]) if s == "completed"}
        started_before = len(_starts(log))
        assert at_kill == dict(zip(batches, ["running", "running", "queued"])), at_kill
        assert {owner[p] for p in _starts(log)} == set(batches[:2])  # the queued one never ran
        assert completed, "nothing completed before the kill: make the jobs shorter"

        server = start_server(db, catalog, log=server_log, args=args, env=env, port=port)
        with httpx.Client(base_url=server.url, timeout=30) as client:
            def state(b: str) -> str:
                return client.get(f"{B}/{b}/status").json()["state"]

            wait_until(lambda: all(state(b) == "completed" for b in batches), timeout=120,
                       message=lambda: f"{[state(b) for b in batches]}\n{server.output()[-2000:]}")
            events = {b: client.get(f"{B}/{b}/events", params={"limit": 1000}).json()["events"] for b in batches}
        resumed = [any(e["reason"] == "resumed after restart" for e in events[b]) for b in batches]
        assert resumed == [True, True, False]
        admitted = [e for e in events[batches[2]]
                    if e["kind"] == "batch_transition" and (e["from_state"], e["to_state"]) == ("queued", "running")]
        assert len(admitted) == 1 and admitted[0]["reason"].startswith("admitted from the queue")
        after = _starts(log)[started_before:]
        assert not completed & set(after), f"completed before the kill, started again: {completed & set(after)}"
    finally:
        stop_server(server)
    with Store(db) as store:
        for b in batches:
            assert store.counts_by_state(b) == {"completed": 12}, store.counts_by_state(b)
            outcomes = store.items(b)["outcome"]
            assert outcomes.notna().all()

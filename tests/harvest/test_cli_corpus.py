"""`indexlab run --corpus PATH`: harvest a batch from another corpus than the embedded one."""

from __future__ import annotations

import json

from dashboard.cli import main
from engine.store import Store
from tests.support.harvest import PRODUCT, page, source, spec_table, write_corpus


def _catalog(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_text("product_id,category,brand,model,variant\n"
                    f"{PRODUCT['product_id']},mouse,{PRODUCT['brand']},{PRODUCT['model']},\n")
    return path


def test_run_with_a_corpus_directory_harvests_from_it(capsys, tmp_path):
    maker = page(spec_table({"Weight": "61 g", "Max DPI": "12,000", "Polling rate": "1000 Hz", "Sensor": "Test 1",
                             "Connectivity": "Wired"}))
    index = write_corpus(tmp_path / "other", [source("maker-1", "manufacturer", "d1")], {"d1": maker})
    db = tmp_path / "run.duckdb"
    code = main(["run", "--db", str(db), "--catalog", str(_catalog(tmp_path)), "--all", "--corpus", str(index.parent)])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["counts"]["completed"] == 1
    with Store(db) as store:
        outcome = store.latest_outcome(PRODUCT["product_id"])
    assert {f["field"]: f["value"] for f in outcome["fields"]}["weight"] == 61
    assert outcome["fields"][0]["source_url"].startswith("https://acme.example/")


def test_run_with_a_corpus_that_does_not_exist_is_refused_before_planning(capsys, tmp_path):
    db = tmp_path / "run.duckdb"
    code = main(["run", "--db", str(db), "--catalog", str(_catalog(tmp_path)), "--all",
                 "--corpus", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert code != 0 and "--corpus" in err and "nowhere" in err and "sources.jsonl" in err
    assert not db.exists() or Store(db).latest_batch() is None

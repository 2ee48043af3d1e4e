"""The harvest runner end to end on a local corpus: phases, profiles, dedupe, missing sources, the outcome."""

from __future__ import annotations

import pytest

from engine.core.limits import Cancelled, CancelToken
from engine.core.states import PHASES
from engine.runners import get_runner
from engine.runners.base import RunnerError
from tests.support.harvest import PRODUCT, Recorder, page, run, source, spec_table, write_corpus

MAKER = page(spec_table({"Max DPI": "26,000 DPI", "Weight": "58 g", "Polling rate": "8000 Hz",
                         "Sensor": "Focus Pro 30K", "Connectivity": "USB-C, 2.4 GHz wireless"}))
LAB = page("<p>We measured 60 g on our scale. The sensor is rated for 26K DPI.</p><ul><li>Weight: 60 g</li></ul>")
SHOP = page("<ul><li>Weight: 0.13 lb</li><li>DPI: 16000</li><li>Polling rate: 8 kHz</li></ul>")
FIELD_KEYS = {"field", "value", "unit", "confidence", "tier", "source_url", "snippet_id", "snippet", "conflict", "support"}


@pytest.fixture
def corpus(tmp_path):
    sources = [source("shop-1", "retailer", "d-shop"), source("lab-1", "lab_review", "d-lab"),
               source("maker-1", "manufacturer", "d-maker"), source("shop-2", "retailer", "d-maker", domain="mirror.example")]
    return str(write_corpus(tmp_path / "corpus", sources, {"d-maker": MAKER, "d-lab": LAB, "d-shop": SHOP}))


def test_harvest_is_registered():
    assert get_runner("harvest").__name__ == "run_harvest"


def test_the_outcome_has_the_documented_shape(corpus):
    outcome = run(PRODUCT, corpus=corpus)
    assert set(outcome) == {"runner", "profile", "product_id", "category", "fields", "coverage", "confidence",
                            "conflicts", "missing", "unconfirmed", "flagged", "sources", "llm"}
    assert outcome["runner"] == "harvest" and outcome["product_id"] == PRODUCT["product_id"]
    assert all(set(f) - {"flag"} == FIELD_KEYS for f in outcome["fields"])
    assert all(set(s) == {"source_id", "url", "domain", "tier", "status", "error", "content_hash"} for s in outcome["sources"])


def test_values_come_from_the_best_supported_sources(corpus):
    fields = {f["field"]: f for f in run(PRODUCT, corpus=corpus)["fields"]}
    assert fields["weight"]["value"] == 58 and fields["weight"]["tier"] == "manufacturer" and fields["weight"]["conflict"]
    assert fields["max_dpi"]["value"] == 26000 and fields["max_dpi"]["conflict"]
    assert fields["polling_rate"]["value"] == 8000 and not fields["polling_rate"]["conflict"]
    assert fields["connectivity"]["value"] == ["2.4 GHz wireless", "USB-C"]


def test_each_value_carries_the_words_its_page_wrote_it_in(corpus):
    """The snippet is the reported source's own statement: its label and the raw value as the page wrote it."""
    fields = {f["field"]: f for f in run(PRODUCT, corpus=corpus)["fields"]}
    maker = "https://acme.example/maker-1"
    for name, label, raw in (("weight", "Weight", "58 g"), ("max_dpi", "Max DPI", "26,000 DPI"),
                             ("polling_rate", "Polling rate", "8000 Hz"), ("sensor", "Sensor", "Focus Pro 30K")):
        assert label in fields[name]["snippet"] and raw in fields[name]["snippet"], fields[name]
        assert fields[name]["source_url"] == maker and fields[name]["tier"] == "manufacturer"
    assert "1 g" not in fields["weight"]["snippet"]  # not the page furniture's "Weight: 1 g"


def test_coverage_counts_required_fields(corpus):
    outcome = run(PRODUCT, corpus=corpus)
    assert outcome["coverage"] == 1.0 and outcome["missing"] == []
    assert 0 < outcome["confidence"] <= 1 and outcome["conflicts"] == 2


def test_runs_go_through_the_phases_in_order(corpus):
    recorder = Recorder()
    run(PRODUCT, corpus=corpus, recorder=recorder)
    assert tuple(recorder.phases) == PHASES


def test_identical_documents_count_once(corpus):
    statuses = {s["source_id"]: s["status"] for s in run(PRODUCT, corpus=corpus)["sources"]}
    assert statuses == {"maker-1": "ok", "lab-1": "ok", "shop-1": "ok", "shop-2": "duplicate"}


def test_sources_are_read_best_tier_first(corpus):
    assert [s["tier"] for s in run(PRODUCT, corpus=corpus)["sources"]] == ["manufacturer", "lab_review", "retailer", "retailer"]


def test_fast_profile_reads_at_most_two_sources_best_tiers_first(corpus):
    outcome = run(PRODUCT, corpus=corpus, profile="fast")
    assert [s["source_id"] for s in outcome["sources"]] == ["maker-1", "lab-1"]


def test_a_product_without_sources_has_zero_coverage_and_every_required_field_missing(corpus):
    outcome = run({**PRODUCT, "product_id": "mouse-acme-ghost"}, corpus=corpus)
    assert outcome["coverage"] == 0 and outcome["fields"] == [] and outcome["sources"] == []
    assert outcome["missing"] == ["max_dpi", "weight", "polling_rate", "sensor", "connectivity"]


def test_a_source_whose_document_is_missing_is_recorded_as_an_error(tmp_path):
    corpus = write_corpus(tmp_path / "c", [source("maker-1", "manufacturer", "d-maker"), source("gone", "retailer", "d-gone")],
                          {"d-maker": MAKER})
    statuses = {s["source_id"]: (s["status"], s["error"]) for s in run(PRODUCT, corpus=str(corpus))["sources"]}
    assert statuses["maker-1"] == ("ok", None)
    assert statuses["gone"][0] == "error" and "d-gone" in statuses["gone"][1]


def test_empty_and_hostile_pages_yield_no_values(tmp_path):
    hostile = page("<script>document.write('Max DPI: 99999')</script><div hidden>Weight: 1 g</div>")
    corpus = write_corpus(tmp_path / "c", [source("a", "manufacturer", "empty"), source("b", "retailer", "hostile")],
                          {"empty": "", "hostile": hostile})
    outcome = run(PRODUCT, corpus=str(corpus))
    assert outcome["fields"] == [] and [s["status"] for s in outcome["sources"]] == ["ok", "ok"]


def test_standard_profile_does_not_ask_the_llm(corpus):
    assert run(PRODUCT, corpus=corpus)["llm"] == {"used": False, "skipped": "profile standard does not ask the LLM"}


def test_thorough_without_the_key_records_why_the_llm_was_skipped(tmp_path, monkeypatch):
    monkeypatch.delenv("INDEXLAB_TEST_NO_KEY", raising=False)
    corpus = write_corpus(tmp_path / "c", [source("shop-1", "retailer", "d-shop")], {"d-shop": SHOP})
    outcome = run(PRODUCT, corpus=str(corpus), profile="thorough", llm_api_key_env="INDEXLAB_TEST_NO_KEY")
    assert outcome["llm"] == {"used": False, "skipped": "INDEXLAB_TEST_NO_KEY is not set"}
    assert "sensor" in outcome["missing"]


def test_a_cancelled_run_stops_at_the_next_phase(corpus):
    token = CancelToken()
    recorder = Recorder()
    recorder.phases = _CancellingList(token, after="fetch")
    with pytest.raises(Cancelled):
        run(PRODUCT, corpus=corpus, cancel=token, recorder=recorder)
    assert list(recorder.phases) == ["discover", "fetch"]


def test_a_category_without_field_definitions_fails_without_retry(tmp_path):
    corpus = write_corpus(tmp_path / "c", [source("a", "manufacturer", "d")], {"d": MAKER}, fields=None)
    with pytest.raises(RunnerError) as caught:
        run({**PRODUCT, "category": "toaster"}, corpus=str(corpus))
    assert not caught.value.retryable and "toaster" in caught.value.message


def test_a_missing_corpus_fails_without_retry(tmp_path):
    with pytest.raises(RunnerError) as caught:
        run(PRODUCT, corpus=str(tmp_path / "nowhere" / "sources.jsonl"))
    assert not caught.value.retryable


class _CancellingList(list):
    """Phase recorder that sets the cancel token once a given phase has been entered."""

    def __init__(self, token: CancelToken, after: str) -> None:
        super().__init__()
        self.token, self.after = token, after

    def append(self, name: str) -> None:
        super().append(name)
        if name == self.after:
            self.token.set("test")

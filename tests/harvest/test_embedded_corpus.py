"""The harvest runner on a sample of the embedded corpus, scored against its gold values."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest

from engine.core.catalog import load_catalog
from engine.runners.harvest.corpus import EMBEDDED_SOURCES, get_corpus
from engine.runners.harvest.extract import MAX_SNIPPET
from tests.support.harvest import run

GOLD = EMBEDDED_SOURCES.parent / "gold.jsonl"
pytestmark = pytest.mark.skipif(not GOLD.is_file(), reason="the embedded corpus is not generated (fixtures/corpus)")
SAMPLE_EVERY = 20  # every 20th catalog product: about a hundred, every category


def _equal(found, gold) -> bool:
    if isinstance(gold, bool) or isinstance(found, bool):
        return found is gold
    if isinstance(gold, (int, float)):
        return isinstance(found, (int, float)) and abs(found - gold) <= 0.01 * abs(gold) + 1e-9
    if isinstance(gold, list):
        return isinstance(found, list) and {str(v).casefold() for v in found} == {str(v).casefold() for v in gold}
    return str(found).casefold() == str(gold).casefold()


@pytest.fixture(scope="module")
def harvested() -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(product, outcome) of every SAMPLE_EVERY-th catalog product."""
    return [(product, run(product)) for product in load_catalog().products.to_dict("records")[::SAMPLE_EVERY]]


def test_a_sample_of_the_embedded_catalog_is_harvested_with_precision_above_95_percent(harvested):
    gold = {row["product_id"]: row["fields"] for row in map(json.loads, GOLD.read_text().splitlines()) if row}
    found = correct = 0
    for product, outcome in harvested:
        truth = gold.get(product["product_id"], {})
        for field in outcome["fields"]:
            found += 1
            correct += _equal(field["value"], truth.get(field["field"]))
    assert found > 500
    assert correct / found >= 0.95


# A JSON-LD boolean reads as yes / no in the snippet ("Hot-swap: yes" from {"name": "Hot-swap", "value": true}).
_SPOKEN = {"yes": ("yes", "true"), "no": ("no", "false")}


def test_every_value_of_the_sample_carries_words_its_source_page_holds(harvested):
    """Checked against the page documents, not the extractor: every word of a field's snippet is on the page its
    source_url names, and a text value stands in its snippet as the page wrote it."""
    corpus = get_corpus(None)
    checked = texts = 0
    for product, outcome in harvested:
        fields = {f.name: f for f in corpus.fields(product["category"])}
        pages = {s.url: html.unescape(corpus.document(product["category"], s.doc_id) or "").casefold()
                 for s in corpus.sources(product["product_id"])}
        for f in outcome["fields"]:
            snippet, page = f["snippet"], pages[f["source_url"]]
            assert snippet and len(snippet) <= MAX_SNIPPET, f
            words = [w.strip(".,;:!?()").casefold() for w in snippet.split()]
            absent = [w for w in words if w and not any(s in page for s in _SPOKEN.get(w, (w,)))]
            assert not absent, (product["product_id"], f["field"], snippet, absent)
            checked += 1
            if fields[f["field"]].type == "text":
                assert f["value"].casefold() in snippet.casefold(), (product["product_id"], f)
                texts += 1
    assert checked > 500 and texts > 50

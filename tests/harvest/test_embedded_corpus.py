"""The harvest runner on a sample of the embedded corpus, scored against its gold values."""

from __future__ import annotations

import json

import pytest

from engine.core.catalog import load_catalog
from engine.runners.harvest.corpus import EMBEDDED_SOURCES
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


def test_a_sample_of_the_embedded_catalog_is_harvested_with_precision_above_95_percent():
    gold = {row["product_id"]: row["fields"] for row in map(json.loads, GOLD.read_text().splitlines()) if row}
    products = load_catalog().products.to_dict("records")[::SAMPLE_EVERY]
    found = correct = 0
    for product in products:
        outcome = run(product)
        truth = gold.get(product["product_id"], {})
        for field in outcome["fields"]:
            found += 1
            correct += _equal(field["value"], truth.get(field["field"]))
    assert found > 500
    assert correct / found >= 0.95

"""Harvest fixtures. The harvest kit (fields, pages, corpora, a direct runner call) is tests/support/harvest.py."""

from __future__ import annotations

import pytest

from engine.runners.harvest.extract import Extractor
from tests.support.harvest import MOUSE


@pytest.fixture
def extractor() -> Extractor:
    return Extractor(MOUSE)

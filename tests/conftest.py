"""Fixtures every test layer shares: a temp store and the small catalog. Helpers live in tests/support."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.store import Store
from tests.support.catalogs import SMALL_ROWS, products_frame


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "indexlab.duckdb") as s:
        yield s


@pytest.fixture
def small_products() -> pd.DataFrame:
    return products_frame(SMALL_ROWS)

"""CLI test fixtures: a small CSV catalog and a database path."""

from pathlib import Path

import pytest

CATALOG_CSV = "product_id,category,brand,model,variant\n" + "\n".join(
    f"p{i},mouse,{b},Model {i},{'Black' if i % 2 else ''}" for i, b in enumerate(["Logitech", "Razer", "Zowie"] * 3)
) + "\n"


@pytest.fixture
def catalog(tmp_path) -> Path:
    path = tmp_path / "catalog.csv"
    path.write_text(CATALOG_CSV)
    return path


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "cli.duckdb"

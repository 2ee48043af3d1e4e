"""CLI test fixtures: a small CSV catalog and a database path."""

from pathlib import Path

import pytest

from tests.support.catalogs import CLI_ROWS, write_catalog


@pytest.fixture
def catalog(tmp_path) -> Path:
    return write_catalog(tmp_path / "catalog.csv", CLI_ROWS)


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "cli.duckdb"


@pytest.fixture
def items(tmp_path) -> Path:
    """30 products item-1 .. item-30, all Zowie (the job decides their fate by number)."""
    path = tmp_path / "items.csv"
    path.write_text("product_id,category,brand,model,variant\n"
                    + "".join(f"item-{n},mouse,Zowie,Model {n},\n" for n in range(1, 31)))
    return path

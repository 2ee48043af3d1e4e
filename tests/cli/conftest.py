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

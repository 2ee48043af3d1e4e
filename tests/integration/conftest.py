"""Integration fixtures: a real `indexlab serve` on 127.0.0.1 with a small catalog, real HTTP calls."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import Api
from tests.support.catalogs import write_catalog
from tests.support.servers import Server, start_server, stop_server


@pytest.fixture(scope="module")
def api_server(tmp_path_factory) -> Iterator[tuple[Server, httpx.Client]]:
    """One server per module (240 products, command jobs allowed); its log must hold no traceback."""
    tmp = tmp_path_factory.mktemp("api")
    catalog = write_catalog(tmp / "catalog.csv", 240)
    server = start_server(tmp / "api.duckdb", catalog, log=tmp / "server.log", env={"INDEXLAB_API_ALLOW_COMMAND": "1"})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield server, client
    stop_server(server)
    assert "Traceback" not in server.output(), server.output()


@pytest.fixture
def api(api_server, tmp_path) -> Iterator[Api]:
    """The module's server, with this test's own job log and gate: no test sees another's job starts."""
    server, client = api_server
    gate = tmp_path / "gate"
    yield Api(server, client, tmp_path / "jobs.log", gate)
    gate.touch()  # release any job of this test still waiting

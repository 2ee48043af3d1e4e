"""Integration fixtures: a real `indexlab serve` on 127.0.0.1 with a small catalog, real HTTP calls."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.api import Api
from tests.support.catalogs import write_catalog
from tests.support.servers import start_server, stop_server


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[Api]:
    tmp = tmp_path_factory.mktemp("api")
    catalog = write_catalog(tmp / "catalog.csv", 240)
    server = start_server(tmp / "api.duckdb", catalog, log=tmp / "server.log", env={"INDEXLAB_API_ALLOW_COMMAND": "1"})
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Api(server, client, tmp / "jobs.log", tmp / "gate")
    stop_server(server)
    (tmp / "gate").touch()  # release any job still waiting
    assert "Traceback" not in server.output(), server.output()

"""Fixtures every test layer shares: a temp store and the small catalog. Helpers live in tests/support."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from engine.store import Store
from tests.support.catalogs import SMALL_ROWS, products_frame
from tests.support.plugins import PluginSite


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "indexlab.duckdb") as s:
        yield s


@pytest.fixture
def small_products() -> pd.DataFrame:
    return products_frame(SMALL_ROWS)


@pytest.fixture
def plugin_site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A folder on sys.path for throwaway runner plugins (``site.add(dist, {name: "module:attr"}, {module: source})``)."""
    site = PluginSite(tmp_path / "site", monkeypatch)
    yield site
    site.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """When a test fails, add the tail of every log in its temp directory (a served app's server.log, a job log) to
    the report: a server's traceback is otherwise lost with the directory, and CI shows only the report."""
    report = yield
    root = getattr(item, "funcargs", {}).get("tmp_path")
    if report.when == "call" and report.failed and isinstance(root, Path) and root.is_dir():
        for log in sorted(root.rglob("*.log"))[:10]:
            lines = log.read_text(errors="replace").splitlines()
            report.sections.append((f"{log.relative_to(root)} (last {min(len(lines), 80)} of {len(lines)} lines)",
                                    "\n".join(lines[-80:])))
    return report

"""Runner plugins for tests: throwaway distributions (a ``*.dist-info`` with ``entry_points.txt`` and a module) in a
folder put on ``sys.path``, so ``importlib.metadata`` finds them as it finds installed ones and nothing is installed
into the venv; and the example package the suite installs (``examples/indexlab-example-runner``)."""

from __future__ import annotations

import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from engine.runners import registry

EXAMPLE = "example_specs"
EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "indexlab-example-runner"

# A spec sheet as the example runner reads it: rows of <table class="specs">.
SHEET = """<!doctype html><html><head><link rel="canonical" href="https://maker.example/{pid}/specs"></head>
<body><table class="specs">
<tr><th>Sensor</th><td>Focus Pro 30K</td></tr>
<tr><th>Max DPI</th><td>30,000 dpi</td></tr>
<tr><th>Polling rate</th><td>{polling} Hz</td></tr>
<tr><th>Weight</th><td>58 g</td></tr>
</table></body></html>"""


def require_example() -> None:
    """Fail (not skip) with what to do when the example plugin is not installed in this venv."""
    names = {ep.name for ep in entry_points(group=registry.ENTRY_POINT_GROUP)}
    assert EXAMPLE in names, (f"the example runner plugin is not installed in {sys.prefix}: run `make setup` "
                              f"(it installs {EXAMPLE_DIR.relative_to(EXAMPLE_DIR.parents[1])} into the venv)")


def write_sheets(folder: Path, product_ids: list[str]) -> Path:
    """A spec sheet per product (polling rate 1000 + its number, so each is told apart); the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, pid in enumerate(product_ids):
        (folder / f"{pid}.html").write_text(SHEET.format(pid=pid, polling=1000 + i), encoding="utf-8")
    return folder


def write_distribution(root: Path, dist: str, entry_points_: dict[str, str], modules: dict[str, str] | None = None,
                       version: str = "1.0") -> None:
    """In ``root`` (a folder on sys.path or PYTHONPATH): a distribution ``dist`` naming ``entry_points_`` (name ->
    "module:attr") in the runner group, and ``modules`` (module name -> source)."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8")
    lines = "".join(f"{name} = {target}\n" for name, target in entry_points_.items())
    (info / "entry_points.txt").write_text(f"[{registry.ENTRY_POINT_GROUP}]\n{lines}", encoding="utf-8")
    for module, source in (modules or {}).items():
        (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")


class PluginSite:
    """A folder on ``sys.path`` holding throwaway distributions; the registry discovers again around each test."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.modules: list[str] = []
        root.mkdir(parents=True, exist_ok=True)
        monkeypatch.syspath_prepend(str(root))
        registry.forget_plugins()

    def add(self, dist: str, entry_points_: dict[str, str], modules: dict[str, str] | None = None,
            version: str = "1.0") -> None:
        """``write_distribution`` here; the registry discovers again."""
        write_distribution(self.root, dist, entry_points_, modules, version)
        self.modules += list(modules or {})
        registry.forget_plugins()

    def close(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)
        registry.forget_plugins()


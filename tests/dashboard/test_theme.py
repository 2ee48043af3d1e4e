"""One theme: the views name colours only through the theme's CSS variables (or ``hex_of`` for Bokeh)."""

from __future__ import annotations

import re
from pathlib import Path

from dashboard.views import theme

VIEWS = Path(theme.__file__).parent
HEX = re.compile(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b(?![0-9a-fA-F])")


def test_no_view_module_but_the_theme_writes_a_colour_literal():
    found = {path.name: hits for path in VIEWS.glob("*.py") if path.name != "theme.py"
             if (hits := HEX.findall(path.read_text()))}
    assert found == {}


def test_every_variable_a_view_uses_is_defined_once_in_the_palette():
    used = {name for path in VIEWS.glob("*.py") for name in re.findall(r"--il-([a-z0-9-]+)", path.read_text())}
    assert used and used <= set(theme.PALETTE), sorted(used - set(theme.PALETTE))
    assert len(set(theme.PALETTE.values())) == len(theme.PALETTE)  # one name per colour
    assert all(f"--il-{name}: {value};" in theme.ROOT_CSS for name, value in theme.PALETTE.items())

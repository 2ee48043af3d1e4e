"""`indexlab runners`: built-ins and installed plugins as plain text, and `--check` naming a plugin that cannot run."""

from __future__ import annotations

import json

from tests.support.cli import run
from tests.support.plugins import EXAMPLE, require_example

HOSTILE = "\x1b]0;owned\x07\x1b[2J"  # retitle the window, clear the screen


def test_check_names_a_plugin_that_cannot_run_and_exits_1(capsys, plugin_site):
    plugin_site.add("acme-broken", {"acme_broken": "acme_broken_mod:run"},
                    {"acme_broken_mod": f"raise RuntimeError({HOSTILE!r})\n"})
    code, out, err = run(capsys, "runners")
    assert code == 0 and "acme_broken" in out and "cannot run" not in out  # listing imports nothing
    code, out, err = run(capsys, "runners", "--check")
    assert code == 1, out + err
    line = next(line for line in out.splitlines() if "cannot run:" in line)
    assert "entry point acme_broken = acme_broken_mod:run of distribution acme-broken 1.0" in line
    assert "\x1b" not in out and "\\x1b]0;owned" in line  # the plugin's text, escaped: it moves no cursor


def test_the_list_shows_built_ins_and_the_example_plugin_with_its_distribution(capsys):
    require_example()
    code, out, err = run(capsys, "runners")
    assert code == 0 and err == ""
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert {"command", "harvest", "noop", EXAMPLE} <= set(lines)
    assert lines["noop"].split()[1] == "built-in"
    assert lines[EXAMPLE].split()[1:] == ["plugin", "indexlab-example-runner", "0.1.0", "(indexlab_example_runner:run)"]


def test_the_list_as_json_after_a_check_that_finds_nothing_wrong(capsys):
    require_example()
    code, out, err = run(capsys, "runners", "--check", "--json")
    runners = {r["name"]: r for r in json.loads(out)["runners"]}
    assert code == 0 and runners[EXAMPLE]["origin"] == "plugin" and runners[EXAMPLE]["problem"] is None

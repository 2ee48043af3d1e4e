"""Issue #16: runner plugins from the ``indexlab.runners`` entry-point group. Listed without importing them, loaded
on first use of their name; a broken one fails only where it is asked for, naming its entry point, distribution and
exception; built-ins keep their names. Throwaway distributions live in a folder on sys.path (``plugin_site``)."""

from __future__ import annotations

import logging
import pickle
import re
import sys

import pytest

from engine.core.settings import BatchSettings, load_server_settings
from engine.runners import RunnerUnavailable, check_runner, registry, resolve, runner_info, runner_names
from engine.runners.noop import run_noop
from engine.service import runners
from tests.support.plugins import EXAMPLE, require_example

GOOD = """
def run(product, settings, ctx):
    ctx.phase("look")
    return {"product_id": product["product_id"], "fields": []}
"""


def test_a_plugin_whose_import_raises_fails_only_when_asked_for_and_says_why(plugin_site):
    plugin_site.add("acme-broken", {"acme_broken": "acme_broken_mod:run"},
                    {"acme_broken_mod": "raise RuntimeError('<b>no licence file</b>')\n"})
    assert "acme_broken" in runner_names()  # listed ...
    assert "acme_broken_mod" not in sys.modules  # ... without importing it
    assert resolve("noop") is run_noop  # the other runners are unaffected
    with pytest.raises(RunnerUnavailable) as caught:
        resolve("acme_broken")
    error = caught.value
    assert error.field == "runner" and error.code == "runner_unavailable"
    for part in ("'acme_broken'", "entry point acme_broken = acme_broken_mod:run", "distribution acme-broken 1.0",
                 "RuntimeError: <b>no licence file</b>"):
        assert part in error.message, error.message
    with pytest.raises(RunnerUnavailable) as again:  # the same answer, not a second import
        check_runner("acme_broken")
    assert again.value.message == error.message
    (listed,) = [r for r in runners().runners if r.name == "acme_broken"]
    assert listed.origin == "plugin" and listed.problem == error.message


def test_a_plugin_naming_a_missing_attribute_says_which(plugin_site):
    plugin_site.add("acme-typo", {"acme_typo": "acme_typo_mod:rnu"}, {"acme_typo_mod": GOOD})
    with pytest.raises(RunnerUnavailable, match=r"entry point acme_typo = acme_typo_mod:rnu of distribution "
                                                r"acme-typo 1\.0\): AttributeError: .*rnu"):
        resolve("acme_typo")


def test_a_plugin_whose_module_does_not_parse_says_where(plugin_site):
    plugin_site.add("acme-syntax", {"acme_syntax": "acme_syntax_mod:run"}, {"acme_syntax_mod": "def run(:\n"})
    with pytest.raises(RunnerUnavailable, match=r"SyntaxError: .*acme_syntax_mod\.py"):
        resolve("acme_syntax")


@pytest.mark.parametrize(("source", "words"), [
    ("run = 42\n", "names an object of type int, not a callable"),
    ("def run(product):\n    return {}\n", "cannot be called as runner(product, settings, ctx)"),
    ("def run(p, s, c):\n    return {}\nrun.durable_dispatch = 'no'\n", "durable_dispatch must be True or False"),
], ids=["not-callable", "wrong-signature", "durable-dispatch-not-bool"])
def test_a_plugin_that_is_not_a_runner_is_refused_when_loaded(plugin_site, source, words):
    plugin_site.add("acme-odd", {"acme_odd": "acme_odd_mod:run"}, {"acme_odd_mod": source})
    with pytest.raises(RunnerUnavailable, match=re.escape(words)):
        resolve("acme_odd")


def test_a_plugin_named_like_a_built_in_is_refused_and_the_built_in_wins(plugin_site, caplog):
    plugin_site.add("acme-noop", {"noop": "acme_noop_mod:run", "acme_fine": "acme_noop_mod:run"},
                    {"acme_noop_mod": GOOD})
    with caplog.at_level(logging.WARNING, logger="indexlab.runners"):
        assert resolve("noop") is run_noop
        names = runner_names()
        runner_names()
    assert names.count("noop") == 1 and "acme_fine" in names
    assert [r.origin for r in runner_info() if r.name == "noop"] == ["built-in"]
    refusals = [r.getMessage() for r in caplog.records if "'noop' is a built-in runner's name" in r.getMessage()]
    assert len(refusals) == 1, caplog.text  # logged once, however often runners are listed
    assert "acme-noop 1.0" in refusals[0] and "acme_noop_mod:run" in refusals[0]
    assert "acme_noop_mod" not in sys.modules  # refused without importing it


def test_two_plugins_with_one_name_are_both_refused(plugin_site):
    plugin_site.add("acme-one", {"acme_twin": "acme_one_mod:run"}, {"acme_one_mod": GOOD})
    plugin_site.add("acme-two", {"acme_twin": "acme_two_mod:run"}, {"acme_two_mod": GOOD})
    with pytest.raises(RunnerUnavailable, match="offered by two plugins .*acme-one.*acme-two|acme-two.*acme-one"):
        resolve("acme_twin")


def test_a_plugin_name_that_is_not_plain_is_not_listed(plugin_site):
    plugin_site.add("acme-markup", {"<b>x</b>": "acme_markup_mod:run"}, {"acme_markup_mod": GOOD})
    assert "<b>x</b>" not in runner_names()


def test_an_unknown_runner_names_the_plugins_among_the_known_ones(plugin_site):
    plugin_site.add("acme-good", {"acme_good": "acme_good_mod:run"}, {"acme_good_mod": GOOD})
    with pytest.raises(RunnerUnavailable, match=r"unknown runner 'nope'; known runners: .*acme_good"):
        resolve("nope")


def test_a_settings_file_naming_a_broken_plugin_is_refused_at_start_up(plugin_site, tmp_path):
    plugin_site.add("acme-broken", {"acme_broken2": "acme_broken2_mod:run"}, {"acme_broken2_mod": "import nowhere\n"})
    path = tmp_path / "settings.json"
    path.write_text('{"runner": "acme_broken2"}')
    with pytest.raises(Exception, match=r"field runner: runner 'acme_broken2' cannot be loaded .*ModuleNotFoundError"):
        load_server_settings(path, check_runner=check_runner)


def test_a_plugin_loads_once_declares_durable_dispatch_or_defaults_to_it(plugin_site):
    plugin_site.add("acme-good", {"acme_default": "acme_good_mod:run", "acme_quick": "acme_quick_mod:run"},
                    {"acme_good_mod": GOOD, "acme_quick_mod": GOOD + "run.durable_dispatch = False\n"})
    runner = resolve("acme_default")
    assert resolve("acme_default") is runner is sys.modules["acme_good_mod"].run
    assert getattr(runner, "durable_dispatch", True) is True  # what the dispatcher reads
    assert resolve("acme_quick").durable_dispatch is False


def test_a_plugin_may_be_an_object_with_the_runner_signature(plugin_site):
    plugin_site.add("acme-obj", {"acme_obj": "acme_obj_mod:RUNNER"}, {"acme_obj_mod": """
        class Runner:
            durable_dispatch = False

            def __call__(self, product, settings, ctx):
                return {"fields": []}

        RUNNER = Runner()
        """})
    runner = resolve("acme_obj")
    assert runner({"product_id": "p"}, BatchSettings(), None) == {"fields": []}


def test_the_example_plugin_is_installed_listed_lazily_and_travels_by_reference():
    """On Dask a runner goes to a worker by its name; a plugin's function also pickles by reference."""
    require_example()
    (info,) = [r for r in runner_info() if r.name == EXAMPLE]
    assert (info.origin, info.distribution, info.entry_point) == \
        ("plugin", "indexlab-example-runner", "indexlab_example_runner:run")
    runner = resolve(EXAMPLE)
    assert runner.durable_dispatch is False
    assert pickle.loads(pickle.dumps(runner)) is runner
    assert pickle.loads(pickle.dumps(BatchSettings(runner=EXAMPLE))) == BatchSettings(runner=EXAMPLE)


def test_forget_plugins_starts_discovery_over(plugin_site):
    plugin_site.add("acme-good", {"acme_later": "acme_good_mod:run"}, {"acme_good_mod": GOOD})
    assert "acme_later" in runner_names()
    assert registry._plugins is not None
    registry.forget_plugins()
    assert registry._plugins is None and "acme_later" in runner_names()

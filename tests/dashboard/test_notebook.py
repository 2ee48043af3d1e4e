"""examples/batch.ipynb runs headless (nbclient) without errors: the dashboard embeds in Jupyter."""

import re
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "batch.ipynb"


@pytest.mark.slow
def test_example_notebook_executes_without_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("INDEXLAB_DB", str(tmp_path / "notebook.duckdb"))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.output_type == "error"]
    assert "('completed', " in str(outputs[-1]) and "application/vnd.holoviews_exec.v0+json" in str(outputs)


def test_dashboard_app_stays_the_function_after_the_views_app_module_is_imported():
    """Re-running a notebook's first cell: ``from dashboard import app`` must still give the function once the
    app module has been imported (a submodule named ``dashboard.app`` would replace the attribute)."""
    code = ("import types, dashboard.views.app\n"
            "from dashboard import app\n"
            "assert isinstance(app, types.FunctionType), type(app)\n"
            "import dashboard\n"
            "from dashboard import app as again\n"
            "assert again is app and callable(again), type(again)\n"
            "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_the_notebook_output_loads_nothing_from_outside():
    """``dashboard.app()`` in Jupyter: the extension's loader and the app's output load no script, stylesheet or
    model stylesheet by an http(s) URL; Bokeh's, Panel's and Tabulator's code is inline. Run in a child process:
    ``pn.config.inline`` and the loaded extensions are process-wide.

    Left out on purpose: URLs inside library code that only run when used (MathJax for LaTeX, Tabler icons) and the
    loader's branch for classic notebooks with RequireJS, which Panel always points at its CDN."""
    code = ("import sys, json\n"
            "from unittest import mock\n"
            "published = []\n"
            "with mock.patch('IPython.display.publish_display_data', lambda data, *a, **k: published.append(data)):\n"
            "    from dashboard import app\n"
            "    view = app(db=sys.argv[1])\n"
            "    import panel as pn\n"
            "    from panel.io.notebook import load_notebook\n"
            "    load_notebook(pn.config.inline)  # what pn.extension() shows in a notebook (outside one it shows nothing)\n"
            "    bundle, _ = view._repr_mimebundle_()\n"
            "print(json.dumps([published, bundle]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(Path(tempfile.mkdtemp()) / "nb.duckdb")],
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    text = done.stdout.strip().splitlines()[-1]
    lists = re.findall(r"(?:css_urls|js_urls|js_modules)\s*=\s*(\[[^\]]*\])", text)
    assert len(lists) >= 3, "the loader was not found: the check would prove nothing"
    assert [u for u in lists if "http" in u] == [], lists
    assert re.findall(r'<(?:script|link)[^>]*(?:src|href)=\\?"https?://[^"\\]*', text) == []
    assert re.findall(r'url\\?"\s*:\s*\\?"https?://[^"\\]*', text) == []  # a model's imported stylesheet
    assert "Tabulator" in text and len(text) > 1_000_000  # the code itself came inline

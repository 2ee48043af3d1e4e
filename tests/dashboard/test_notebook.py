"""examples/batch.ipynb runs headless (nbclient) without errors: the dashboard embeds in Jupyter."""

import subprocess
import sys
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

"""examples/batch.ipynb runs headless (nbclient) without errors: the dashboard embeds in Jupyter."""

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

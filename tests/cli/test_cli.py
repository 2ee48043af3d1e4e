"""The headless CLI: output conventions, exit codes, and clear errors instead of tracebacks."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.cli import main
from tests.support.cli import run


def test_catalog_summary_as_json(capsys, catalog):
    code, out, err = run(capsys, "catalog", catalog, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["products"] == 9 and doc["brands"] == 3 and doc["problem_list"] == []


def test_catalog_with_problems_lists_them_and_exits_3(capsys, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("product_id,category,brand,model,variant\np1,mouse,Logitech,G305,\np2,mouse,,G502,\n")
    code, out, err = run(capsys, "catalog", path)
    assert code == 3 and "problems  1" in out and "bad.csv:3" in out and "brand" in out


def test_missing_catalog_is_an_error_without_traceback(capsys, tmp_path):
    code, out, err = run(capsys, "catalog", tmp_path / "nope.csv")
    assert code == 1 and err.startswith("indexlab: error: catalog not found") and "Traceback" not in err


def test_plan_prints_summary_and_saves_the_batch(capsys, catalog, db):
    code, out, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--brand-order", "Zowie,Razer",
                         "--json")
    doc = json.loads(out)
    assert code == 0 and doc["state"] == "planned" and doc["total"] == 9
    assert [b["brand"] for b in doc["brands"]] == ["Zowie", "Razer", "Logitech"]
    assert doc["created_at"].endswith("Z")
    code, out, _ = run(capsys, "items", doc["batch_run_id"], "--db", db, "--json")
    items = json.loads(out)
    assert code == 0 and items["total"] == 9 and [i["seq"] for i in items["items"]] == list(range(1, 10))
    assert items["items"][0]["brand"] == "Zowie" and items["items"][0]["state"] == "queued"


def test_plan_text_output_shows_order_and_estimate(capsys, catalog, db):
    code, out, _ = run(capsys, "plan", "--db", db, "--catalog", catalog, "--brand", "razer", "--pin", "Razer")
    assert code == 0 and "1. Razer (pinned): 3" in out and "estimate      3 jobs" in out


def test_plan_from_ids_file(capsys, catalog, db, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("# my picks\np1\n\np4\n")
    code, out, _ = run(capsys, "plan", "--db", db, "--catalog", catalog, "--ids-file", ids, "--json")
    assert code == 0 and json.loads(out)["total"] == 2


def test_plan_with_nothing_selected_says_what_to_do(capsys, catalog, db):
    code, out, err = run(capsys, "plan", "--db", db, "--catalog", catalog)
    assert code == 1 and "nothing selected" in err and out == ""


def test_plan_with_unknown_brand_in_order_is_refused(capsys, catalog, db):
    code, _, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--brand-order", "Razr")
    assert code == 1 and "did you mean 'Razer'" in err


def test_invalid_workers_is_a_clear_error(capsys, catalog, db):
    code, _, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--workers", "0")
    assert code == 1 and "invalid workers" in err


def test_missing_ids_file_is_a_clear_error(capsys, catalog, db, tmp_path):
    code, _, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--ids-file", tmp_path / "none.txt")
    assert code == 1 and "cannot read ids file" in err


def test_items_of_unknown_batch_is_an_error(capsys, db):
    code, _, err = run(capsys, "items", "no-such-batch", "--db", db)
    assert code == 1 and "no batch 'no-such-batch'" in err


def test_bad_arguments_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["items", "b1", "--state", "sleeping"])
    assert info.value.code == 2 and "invalid choice" in capsys.readouterr().err


def test_console_script_runs_without_traceback(catalog, db):
    exe = shutil.which("indexlab", path=str(Path(sys.executable).parent))
    assert exe, "the indexlab console script is installed with the package"
    result = subprocess.run([exe, "plan", "--db", str(db), "--catalog", str(catalog), "--all", "--workers", "-3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "invalid workers" in result.stderr


def test_serve_refuses_a_public_address_without_auth(capsys, monkeypatch):
    monkeypatch.delenv("INDEXLAB_API_TOKEN", raising=False)
    monkeypatch.delenv("INDEXLAB_BASIC_AUTH", raising=False)
    code, out, err = run(capsys, "serve", "--address", "0.0.0.0")
    assert code == 1 and "refusing to serve on 0.0.0.0" in err and "INDEXLAB_API_TOKEN" in err and "--basic-auth" in err
    monkeypatch.setenv("INDEXLAB_API_TOKEN", "t")
    code, out, err = run(capsys, "serve", "--address", "0.0.0.0")
    assert code == 1 and "INDEXLAB_API_TOKEN" not in err and "--basic-auth" in err


def test_serve_with_a_bad_settings_file_says_where_and_binds_nothing(capsys, catalog, db, tmp_path):
    bad = tmp_path / "settings.json"
    bad.write_text('{"workers": "many"}')
    code, out, err = run(capsys, "serve", "--db", db, "--catalog", catalog, "--settings", bad, "--port", "0")
    assert code == 1 and f"settings file {bad}" in err and "field workers" in err and "Traceback" not in err

"""Choosing where product jobs run: ``--executor``, ``--scheduler``, ``--dask-workers``, ``INDEXLAB_EXECUTOR``,
``INDEXLAB_DASK_SCHEDULER`` and the server's settings file, each refused with a clear line when wrong."""

from __future__ import annotations

import json
import socket

import pytest

from engine.core.config import Config
from engine.core.settings import ServerSettings, SettingsFileError, load_server_settings
from engine.service import ExecutorChoice
from tests.support.cli import run


def test_the_command_line_and_environment_win_over_the_settings_file():
    file = ServerSettings(executor="dask", dask_scheduler="tcp://10.0.0.5:8786", dask_workers=3)
    assert ExecutorChoice.of(Config(), ServerSettings()) == ExecutorChoice("local", None, None, False)
    assert ExecutorChoice.of(Config(), file) == ExecutorChoice("dask", "tcp://10.0.0.5:8786", 3, False)
    assert ExecutorChoice.of(Config(executor="local"), file).kind == "local"
    assert ExecutorChoice.of(Config(executor="local"), file).scheduler is None
    chosen = ExecutorChoice.of(Config(dask_scheduler="tcp://10.0.0.9:8786"), ServerSettings())
    assert (chosen.kind, chosen.scheduler) == ("dask", "tcp://10.0.0.9:8786")  # an address says which executor
    assert ExecutorChoice.of(Config(executor="dask"), ServerSettings()).scheduler is None  # a LocalCluster
    assert ExecutorChoice.of(Config(max_workers=8), ServerSettings()).max_workers_set
    assert ExecutorChoice.of(Config(), ServerSettings(max_workers=8)).max_workers_set
    assert not ExecutorChoice.of(Config(), ServerSettings(max_running_batches=2)).max_workers_set


def test_a_settings_file_with_an_unknown_executor_is_refused_naming_the_field(tmp_path):
    path = tmp_path / "server.toml"
    path.write_text('executor = "spark"\n')
    with pytest.raises(SettingsFileError, match="executor"):
        load_server_settings(path)


def test_an_unknown_executor_in_the_environment_fails_start_up_in_one_line(capsys, monkeypatch, db):
    monkeypatch.setenv("INDEXLAB_EXECUTOR", "spark")
    code, out, err = run(capsys, "status", "--db", db)
    assert code == 1 and err.count("\n") == 1 and err.startswith("indexlab: error: INDEXLAB_EXECUTOR='spark'"), err


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_dask_workers_out_of_range_is_a_usage_error(capsys, db, value):
    with pytest.raises(SystemExit) as exited:
        run(capsys, "run", "--db", db, "--all", "--runner", "noop", "--executor", "dask", "--dask-workers", value)
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "--dask-workers" in err and "1 to 64" in err, err


def test_a_scheduler_nobody_answers_at_is_one_clear_error_and_nothing_runs(capsys, db, catalog):
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run(capsys, "run", "--db", db, "--catalog", catalog, "--all", "--runner", "noop",
                         "--scheduler", f"tcp://127.0.0.1:{port}")
    assert code == 1 and "Traceback" not in err, err
    assert f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err, err
    code, out, err = run(capsys, "batches", "--db", db, "--json")
    assert '"running"' not in out


@pytest.mark.parametrize(("address", "says"), [
    ("nonsense://10.0.0.5:8786", "unknown address scheme"),  # distributed's ValueError
    ("tcp://[::1", "invalid address"),  # ValueError
    ("127.0.0.1:notaport", "ValueError"),
    ("tls://127.0.0.1:1", "TLS"),  # TypeError: no TLS configured in Dask's config
])
def test_a_scheduler_address_dask_cannot_use_is_one_clear_error(capsys, db, catalog, address, says):
    """Each once escaped connect() as a traceback (only OSError and TimeoutError were caught)."""
    code, out, err = run(capsys, "run", "--db", db, "--catalog", catalog, "--all", "--runner", "noop",
                         "--scheduler", address)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(f"indexlab: error: cannot reach the Dask scheduler at {address}: ") and says in err, err


def test_plan_executor_is_the_batchs_setting_and_a_server_without_it_refuses_to_start_it(capsys, db, catalog):
    code, out, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--brand", "Zowie", "--runner", "noop",
                         "--executor", "dask", "--json")
    assert code == 0, err
    batch = json.loads(out)["batch_run_id"]
    code, out, err = run(capsys, "start", batch, "--db", db, "--catalog", catalog)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err
    assert "executor 'dask' is not offered" in err and "--executor dask" in err, err
    code, out, err = run(capsys, "batches", "--db", db, "--json")
    assert json.loads(out)["batches"][0]["state"] == "planned"

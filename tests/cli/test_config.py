"""The one configuration object: every ``INDEXLAB_*`` setting read once at start-up, a bad value refused there
with one line naming the variable."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.cli import main
from engine.core.config import ConfigError, load_config


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("name,value", [("INDEXLAB_API_ALLOW_COMMAND", "maybe"), ("INDEXLAB_AUTO_RESUME", "perhaps"),
                                        ("INDEXLAB_DEBUG_SESSIONS", "2"),
                                        ("INDEXLAB_ALLOWED_ORIGINS", "ftp://batch.example.com")])
def test_a_bad_value_fails_start_up_with_one_line_naming_the_variable(capsys, monkeypatch, db, name, value):
    monkeypatch.setenv(name, value)
    code, out, err = run(capsys, "status", "--db", db)
    assert code == 1 and out == "" and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith(f"indexlab: error: {name}={value!r}"), err


def test_a_bad_value_stops_the_console_script_before_it_serves(tmp_path):
    exe = shutil.which("indexlab", path=str(Path(sys.executable).parent))
    env = {**os.environ, "INDEXLAB_API_ALLOW_COMMAND": "maybe"}
    result = subprocess.run([exe, "serve", "--db", str(tmp_path / "s.duckdb"), "--port", "0"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == "" and "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and "INDEXLAB_API_ALLOW_COMMAND='maybe'" in result.stderr
    assert not (tmp_path / "s.duckdb").exists(), "refused before the database was opened"


def test_defaults_and_empty_values(monkeypatch):
    for name in ("INDEXLAB_DB", "INDEXLAB_CATALOG", "INDEXLAB_API_TOKEN", "INDEXLAB_AUTO_RESUME"):
        monkeypatch.setenv(name, "")  # empty is unset, as it always was
    config = load_config()
    assert config.db == Path("var/indexlab.duckdb") and config.catalog is None and config.api_token is None
    assert config.auto_resume is True and config.api_allow_command is False and config.allowed_hosts == frozenset()


def test_values_are_read_from_the_environment_once(monkeypatch, tmp_path):
    monkeypatch.setenv("INDEXLAB_DB", str(tmp_path / "x.duckdb"))
    monkeypatch.setenv("INDEXLAB_API_ALLOW_COMMAND", "yes")
    monkeypatch.setenv("INDEXLAB_ALLOWED_ORIGINS", "https://batch.example.com, proxy:8443")
    config = load_config()
    monkeypatch.setenv("INDEXLAB_DB", "elsewhere.duckdb")
    assert config.db == tmp_path / "x.duckdb" and config.api_allow_command is True
    assert config.allowed_hosts == {"batch.example.com", "batch.example.com:443", "proxy:8443"}


def test_secrets_do_not_show_in_the_config_repr(monkeypatch):
    monkeypatch.setenv("INDEXLAB_API_TOKEN", "t0psecret")
    monkeypatch.setenv("INDEXLAB_COOKIE_SECRET", "c00kie")
    assert "t0psecret" not in repr(load_config()) and "c00kie" not in repr(load_config())


def test_config_error_is_an_indexlab_error_naming_the_field(monkeypatch):
    monkeypatch.setenv("INDEXLAB_JOB_ID", "b/1/1")  # a runner's job environment is not configuration
    monkeypatch.setenv("INDEXLAB_AUTO_RESUME", "sometimes")
    with pytest.raises(ConfigError) as info:
        load_config()
    assert info.value.field == "INDEXLAB_AUTO_RESUME" and "\n" not in str(info.value)
    assert str(info.value) == "INDEXLAB_AUTO_RESUME='sometimes': not a yes/no value (use 1 or 0; true/false, yes/no and on/off also do)"

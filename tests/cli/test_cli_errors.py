"""Bad input to the real ``indexlab`` console script: one clear line on stderr, exit 1 (or 2 for a bad
argument), never a traceback. Each case runs the installed script as a child process."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import Store
from tests.support.unprivileged import unprivileged

EXE = shutil.which("indexlab", path=str(Path(sys.executable).parent))


def indexlab(*argv: object, unprivileged_child: bool = False) -> subprocess.CompletedProcess:
    """The console script; a server that starts when it should not is killed after the timeout (a failure)."""
    command = [EXE, *map(str, argv)]
    return subprocess.run(unprivileged(command) if unprivileged_child else command, capture_output=True,
                          text=True, timeout=90, stdin=subprocess.DEVNULL)


def error_line(result: subprocess.CompletedProcess, code: int = 1) -> str:
    """The one line on stderr, after checking the exit code and that nothing else was said."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def serve(catalog, db):
    """``indexlab serve`` on the test catalog and database, with more arguments."""
    return lambda *argv, **kw: indexlab("serve", "--catalog", catalog, "--db", db, *argv, **kw)


@pytest.mark.parametrize("command", [["status"], ["plan", "--all"], ["serve", "--port", "0"]])
def test_db_whose_parent_cannot_be_created_is_one_line(tmp_path, catalog, command):
    (tmp_path / "a-file").write_text("not a directory")
    db = tmp_path / "a-file" / "sub" / "x.duckdb"
    extra = ["--catalog", catalog] if command[0] != "status" else []
    line = error_line(indexlab(*command, "--db", db, *extra))
    assert line == f"indexlab: error: cannot open database {db}: Not a directory ({tmp_path / 'a-file' / 'sub'})"


@pytest.mark.parametrize("command", [["plan", "--all"], ["serve", "--port", "0"]])
def test_read_only_db_directory_with_a_database_is_refused_at_start(tmp_path, catalog, command):
    """DuckDB opens the file, then every commit fails creating its write-ahead log (a traceback)."""
    folder = tmp_path / "ro"
    folder.mkdir()
    Store(folder / "x.duckdb").close()
    folder.chmod(0o555)
    try:
        result = indexlab(*command, "--db", folder / "x.duckdb", "--catalog", catalog, unprivileged_child=True)
    finally:
        folder.chmod(0o755)
    assert error_line(result) == (f"indexlab: error: cannot write to the database directory {folder}: permission"
                                  f" denied (DuckDB writes x.duckdb.wal there); fix its permissions or use another --db")


def test_read_only_db_directory_without_a_database_is_one_line(tmp_path, catalog):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    result = indexlab("plan", "--all", "--db", folder / "x.duckdb", "--catalog", catalog, unprivileged_child=True)
    assert "cannot write to the database directory" in error_line(result)


def test_busy_port_is_one_line(serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = error_line(serve("--port", port))
    assert line.startswith(f"indexlab: error: cannot listen on 127.0.0.1:{port}: Address already in use")


def test_port_out_of_range_is_a_usage_error(serve):
    result = serve("--port", "99999")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("argument --port: must be a port number, 0 to 65535"
                                                           " (0 picks a free one)")


@pytest.mark.parametrize("content", [b'{"workers": 2, "llm_model": "caf\xe9"}', bytes(range(256))],
                         ids=["latin-1", "binary"])
def test_settings_file_that_is_not_utf8_is_one_line(serve, tmp_path, content):
    path = tmp_path / "settings.json"
    path.write_bytes(content)
    line = error_line(serve("--port", "0", "--settings", path))
    assert line.startswith(f"indexlab: error: settings file {path}: not UTF-8 text (")


def test_unknown_runner_in_settings_is_refused_at_start(serve, tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"runner": "nope"}))
    line = error_line(serve("--port", "0", "--settings", path))
    assert line == (f"indexlab: error: settings file {path}: field runner: unknown runner 'nope';"
                    " known runners: command, example_specs, harvest, noop")  # example_specs: the plugin make setup installs

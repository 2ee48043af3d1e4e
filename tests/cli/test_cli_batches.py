"""`indexlab batches | rename | tag | archive | unarchive | delete` on a local database."""

import json

import pytest

from tests.support.cli import run


def _plan(capsys, db, catalog, *extra) -> str:
    code, out, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--runner", "noop", "--json", *extra)
    assert code == 0, err
    return json.loads(out)["batch_run_id"]


def _ids(capsys, db, *filters) -> list[str]:
    code, out, err = run(capsys, "batches", "--db", db, "--json", *filters)
    assert code == 0, err
    return [b["batch_run_id"] for b in json.loads(out)["batches"]]


def test_plan_names_and_tags_and_batches_filters_them(capsys, catalog, db):
    named = _plan(capsys, db, catalog, "--name", "Weekly <b>mice</b>", "--tag", "Weekly", "--tag", "q4")
    default = _plan(capsys, db, catalog)
    code, out, _ = run(capsys, "batches", "--db", db)
    assert code == 0 and "Weekly <b>mice</b>" in out and "weekly,q4" in out and "batches 1-2 of 2" in out
    assert _ids(capsys, db, "--tag", "WEEKLY") == [named]
    assert _ids(capsys, db, "--tag", "nobody-uses-this") == []
    assert _ids(capsys, db, "--name", "'; DROP TABLE batches; --") == []
    assert _ids(capsys, db, "--state", "planned", "--since", "2000-01-01") == [default, named]
    assert _ids(capsys, db, "--result", "succeeded") == []
    with pytest.raises(SystemExit) as exited:
        run(capsys, "batches", "--db", db, "--since", "yesterday")
    assert exited.value.code == 2 and "not a date" in capsys.readouterr().err


def test_rename_and_tag_and_their_errors(capsys, catalog, db):
    batch = _plan(capsys, db, catalog)
    code, out, _ = run(capsys, "rename", batch, "Re-scan", "--db", db)
    assert code == 0 and "renamed batch" in out and "Re-scan" in out
    code, out, _ = run(capsys, "tag", batch, "--add", "A", "--add", "b", "--db", db)
    assert code == 0 and "tags a, b" in out
    code, out, _ = run(capsys, "tag", batch, "--remove", "a", "--db", db, "--json")
    assert code == 0 and json.loads(out)["tags"] == ["b"]
    code, _, err = run(capsys, "rename", batch, "x" * 10_000, "--db", db)
    assert code == 1 and "10,000 characters, more than 120" in err and "Traceback" not in err
    code, _, err = run(capsys, "rename", batch, "bell\x07", "--db", db)
    assert code == 1 and "control character (U+0007)" in err
    code, _, err = run(capsys, "tag", batch, "--add", "a,b", "--db", db)
    assert code == 1 and "comma" in err
    code, _, err = run(capsys, "tag", batch, "--db", db)
    assert code == 1 and "--add TAG" in err
    assert _ids(capsys, db, "--name", "re-scan") == [batch]


def test_archive_unarchive_and_delete_with_confirmation(capsys, catalog, db):
    batch = _plan(capsys, db, catalog, "--name", "old")
    assert run(capsys, "archive", batch, "--db", db)[0] == 0
    assert _ids(capsys, db) == [] and _ids(capsys, db, "--archived") == [batch]
    assert run(capsys, "unarchive", batch, "--db", db)[0] == 0 and _ids(capsys, db) == [batch]
    code, _, err = run(capsys, "delete", batch, "--db", db)  # not a terminal: --yes is needed
    assert code == 1 and "add --yes" in err and _ids(capsys, db) == [batch]
    code, out, _ = run(capsys, "delete", batch, "--db", db, "--yes")
    assert code == 0 and f"deleted planned batch {batch} (old, 9 items)" in out
    assert _ids(capsys, db, "--archived") == []
    code, _, err = run(capsys, "delete", batch, "--db", db, "--yes")
    assert code == 1 and "no batch" in err


def test_a_name_never_reaches_the_terminal_raw(capsys, catalog, db):
    code, _, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--name", "\x1b[2Jgone")
    assert code == 1 and "control character (U+001B)" in err and "\x1b" not in err
    code, _, err = run(capsys, "plan", "--db", db, "--catalog", catalog, "--all", "--name", "abc\u202edef")
    assert code == 1 and "bidirectional" in err
    assert _ids(capsys, db) == []

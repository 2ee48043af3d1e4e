"""The store under real write faults, in a child process that file permissions apply to (see tests/unprivileged.py).

DuckDB keeps its WAL open; a read-only directory bites when it must create or remove the WAL. A tiny
checkpoint threshold (``INDEXLAB_CHECKPOINT_THRESHOLD``) makes that happen within a few writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.unprivileged import unprivileged

CHILD = textwrap.dedent("""
    import json, os, sys
    from engine.core.errors import StoreUnavailable
    from engine.store import EventRow, Store, utcnow

    data = sys.argv[1]
    store = Store(os.path.join(data, "indexlab.duckdb"))
    wal = str(store.path) + ".wal"
    said = []

    def write(reason, size=0):
        store.commit([EventRow("b", None, utcnow(), "note", reason=reason, data=json.dumps("x" * size))])

    n = 0
    while not os.path.exists(wal):  # small writes until a WAL is open and below the threshold
        n += 1
        write(f"small {n}")
    os.chmod(data, 0o555)
    write("big", size=20_000)  # the WAL passes the threshold: the next commit checkpoints
    write("durable")  # commits, then its checkpoint cannot remove the WAL: DuckDB invalidates the database
    said.append(f"broken after durable: {store._broken}")
    try:
        write("refused")  # the database cannot be reopened while the directory is read-only
        said.append("refused: returned")
    except StoreUnavailable as exc:
        said.append(f"refused: {exc.message}")
    said.append(f"probe: {store.probe()}")
    os.chmod(data, 0o755)
    said.append(f"probe after: {store.probe()}")
    write("after")
    store.close()
    with Store(os.path.join(data, "indexlab.duckdb")) as again:
        said.append("events: " + ",".join(e["reason"] for e in again.events("b", limit=1000)
                                          if not e["reason"].startswith("small")))
    print(json.dumps(said))
""")


def test_a_commit_that_succeeds_before_its_checkpoint_fails_is_kept_once_and_the_store_reopens(tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    done = subprocess.run(unprivileged([sys.executable, "-c", CHILD, str(data)]), capture_output=True, text=True,
                          timeout=120, env={"INDEXLAB_CHECKPOINT_THRESHOLD": "1KB", "PATH": "/usr/bin:/bin",
                                            "PYTHONPATH": str(Path(__file__).parents[2])})
    data.chmod(0o755)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.splitlines()[-1])
    assert said[0] == "broken after durable: True"  # DuckDB: "Transaction COMMIT succeeded and is durable, but ..."
    assert said[1].startswith("refused: the database") and "Permission denied" in said[1]
    assert "Permission denied" in said[2] and said[3] == "probe after: None"
    assert said[4] == "events: big,durable,after"  # the durable write once, the refused one never

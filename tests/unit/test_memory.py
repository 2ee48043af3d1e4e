"""``indexlab serve`` tunes its allocators so a long-lived server gives back what it frees (engine/core/memory.py).

Each case runs in a fresh interpreter: the settings are process-wide.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = ("import json; from engine.core.memory import tune_allocators; applied = tune_allocators(); import pyarrow as pa; "
         "print(json.dumps({'applied': applied, 'pool': pa.default_memory_pool().backend_name}))")


def _probe(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "MALLOC_MMAP_THRESHOLD_")}
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env={**clean, **env}, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout)


def test_the_operators_own_allocator_settings_win():
    seen = _probe(ARROW_DEFAULT_MEMORY_POOL="mimalloc", MALLOC_MMAP_THRESHOLD_="65536")
    assert seen == {"applied": {}, "pool": "mimalloc"}


def test_arrow_allocates_through_the_system_allocator_and_malloc_keeps_a_fixed_mmap_threshold():
    seen = _probe()
    assert seen["pool"] == "system" and seen["applied"]["arrow_memory_pool"] == "system"
    if sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc":
        assert seen["applied"]["malloc_mmap_threshold"] == str(128 * 1024)


def test_serve_tunes_the_allocators_before_it_opens_anything(monkeypatch, capsys):
    import dashboard.cli as cli

    calls: list[str] = []
    monkeypatch.setattr(cli, "tune_allocators", lambda: calls.append("tuned") or {})
    monkeypatch.delenv("INDEXLAB_API_TOKEN", raising=False)
    monkeypatch.delenv("INDEXLAB_BASIC_AUTH", raising=False)
    assert cli.main(["serve", "--address", "0.0.0.0"]) == 1  # refused before any store or catalog opens
    assert calls == ["tuned"]

"""Helpers shared by the benchmark scripts: the machine they ran on, timing, and summary statistics.

Every benchmark prints the machine next to its numbers, because a number without its machine
cannot be compared with anything (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (python bench/x.py): make ``engine`` importable
    sys.path.insert(0, str(ROOT))

VERSIONED_PACKAGES = ("duckdb", "pandas", "pyarrow", "numpy", "pydantic")


def _cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else whatever platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("model name", "Hardware", "cpu model") and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _usable_cores() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, RAM, OS, Python and library versions."""
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": _usable_cores(),
        "ram_gib": _ram_gib(),
        "os": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        **{name: _version(name) for name in VERSIONED_PACKAGES},
    }


def machine_line(m: dict[str, Any] | None = None) -> str:
    """The machine on one line, for text output and markdown."""
    m = m or machine()
    libs = ", ".join(f"{name} {m[name]}" for name in VERSIONED_PACKAGES if m.get(name))
    ram = f"{m['ram_gib']:g} GiB RAM" if m.get("ram_gib") is not None else "RAM unknown"
    return (f"{m['cpu']}, {m['usable_cores']} usable of {m['logical_cores']} logical cores, {ram}; "
            f"{m['os']}; {m['python']}; {libs}")


def summarize(values: Sequence[float], *, higher_is_better: bool = True) -> dict[str, Any]:
    """Best, median and every run of a measurement."""
    if not values:
        raise ValueError("no measurements")
    best = max(values) if higher_is_better else min(values)
    return {"best": best, "median": statistics.median(values), "runs": list(values)}


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...`` then ``elapsed()`` is the seconds the block took."""
    started = time.perf_counter()
    end: list[float] = []
    try:
        yield lambda: (end[0] if end else time.perf_counter()) - started
    finally:
        end.append(time.perf_counter())


def command_line(argv: Sequence[str] | None = None) -> str:
    """How this script was run, relative to the repo root when possible, for the record."""
    script = Path(sys.argv[0]).resolve()
    try:
        script_text = str(script.relative_to(ROOT))
    except ValueError:
        script_text = str(script)
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python", script_text, *args])


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate a benchmark's server; kill it if it does not go."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=20)


class BenchFailure(RuntimeError):
    """The system measured did not do what it was asked: the numbers would mean nothing."""


def report(run: Callable[[], dict[str, Any]], text: Callable[[dict[str, Any]], str], as_json: bool) -> int:
    """Run a benchmark and print its result (text, or one JSON document); exit code 1 when it failed."""
    try:
        result = run()
    except BenchFailure as exc:
        print(f"BENCHMARK FAILED: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str) if as_json else text(result))
    return 0


# --------------------------------------------------------------------------- synthetic products (engine, scale)
CATEGORIES = ("mouse", "keyboard", "monitor", "headset", "mousepad", "controller")
BRANDS = tuple(f"Brand{i:02d}" for i in range(40))
VARIANTS = ("", "Black", "White", "Wireless", "Pro")


def products_frame(n: int) -> pd.DataFrame:
    """N synthetic products, every column a str; deterministic; unique product_ids."""
    rows = {
        "product_id": [f"bench-{i:07d}" for i in range(n)],
        "category": [CATEGORIES[i % len(CATEGORIES)] for i in range(n)],
        "brand": [BRANDS[(i * 7) % len(BRANDS)] for i in range(n)],
        "model": [f"M{(i * 31) % 997} {'X' if i % 3 == 0 else 'Pro'}" for i in range(n)],
        "variant": [VARIANTS[i % len(VARIANTS)] for i in range(n)],
    }
    return pd.DataFrame(rows, dtype=object)

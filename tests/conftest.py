"""Shared test helpers: small catalogs as DataFrames, temp stores, and polling with a deadline."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from engine.store import Store

COLUMNS = ["product_id", "category", "brand", "model", "variant"]


def products_frame(rows: list[tuple[str, str, str, str, str]]) -> pd.DataFrame:
    """A catalog frame from (product_id, category, brand, model, variant) tuples."""
    return pd.DataFrame(rows, columns=COLUMNS).astype(str)


def wait_until(condition: Callable[[], object], timeout: float = 10.0, interval: float = 0.02,
               message: str | Callable[[], str] = "") -> object:
    """Poll ``condition`` until it returns something truthy, or fail after ``timeout`` seconds.

    ``message`` may be a function: it is called on failure, to describe what was seen last.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError((message() if callable(message) else message) or f"condition not met within {timeout}s")
        time.sleep(interval)


@pytest.fixture
def store(tmp_path: Path):
    with Store(tmp_path / "indexlab.duckdb") as s:
        yield s


SMALL_ROWS = [
    ("m-log-g502x", "mouse", "Logitech", "G502 X", ""),
    ("m-log-g502", "mouse", "Logitech", "G502", ""),
    ("m-log-g305-w", "mouse", "Logitech", "G305", "White"),
    ("m-log-g305-b", "mouse", "Logitech", "G305", "Black"),
    ("m-raz-dav3", "mouse", "Razer", "DeathAdder V3", ""),
    ("k-raz-hunt", "keyboard", "Razer", "Huntsman V3 Pro", ""),
    ("m-zow-ec2", "mouse", "Zowie", "EC2-C", ""),
    ("k-asus-10", "keyboard", "ASUS", "Falchion 10", ""),
    ("k-asus-2", "keyboard", "ASUS", "Falchion 2", ""),
    ("h-ss-nova", "headset", "SteelSeries", "Arctis Nova 7", "Wireless"),
]


@pytest.fixture
def small_products() -> pd.DataFrame:
    return products_frame(SMALL_ROWS)

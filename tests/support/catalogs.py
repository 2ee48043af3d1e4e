"""The one catalog writer: catalog rows as a DataFrame (``products_frame``) or as a CSV file (``write_catalog``).

A row is (product_id, category, brand, model, variant). ``numbered_rows`` makes n generated rows; the small named
catalogs below are the ones several test layers share.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

COLUMNS = ["product_id", "category", "brand", "model", "variant"]
Row = tuple[str, str, str, str, str]

BRANDS = ("Logitech", "Razer", "Zowie", "Pulsar")

SMALL_ROWS: list[Row] = [
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


def numbered_rows(n: int, brands: Iterable[str] = BRANDS, *, id_format: str = "p{:04d}", start: int = 0,
                  variant: Callable[[int], str] = lambda i: "") -> list[Row]:
    """n mice numbered from ``start`` (p0000, p0001, ...) named "Model i", whose brands take turns (brand i mod
    len(brands)); ``variant(i)`` names the i-th row's variant."""
    brands = tuple(brands)
    return [(id_format.format(i), "mouse", brands[i % len(brands)], f"Model {i}", variant(i))
            for i in range(start, start + n)]


def black_every_third(i: int) -> str:
    return "Black" if i % 3 == 0 else ""


def products_frame(rows: Iterable[Row]) -> pd.DataFrame:
    """A catalog frame from (product_id, category, brand, model, variant) tuples."""
    return pd.DataFrame(list(rows), columns=COLUMNS).astype(str)


def product_rows(n: int, brands: Iterable[str] = ("Logitech", "Razer", "Zowie")) -> pd.DataFrame:
    """A frame of n numbered mice without variants."""
    return products_frame(numbered_rows(n, brands))


def catalog_csv(rows: Iterable[Row]) -> str:
    """The catalog CSV text of ``rows``, header first (fields quoted only where CSV needs it)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return out.getvalue()


def write_catalog(path: Path, rows: int | Iterable[Row]) -> Path:
    """Write a catalog CSV at ``path``; an int n means n numbered mice of four brands, every third one Black."""
    if isinstance(rows, int):
        rows = numbered_rows(rows, variant=black_every_third)
    path.write_text(catalog_csv(rows))
    return path


# Nine mice of three brands, every odd one Black: the CLI tests' catalog (p0 .. p8).
CLI_ROWS: list[Row] = numbered_rows(9, ("Logitech", "Razer", "Zowie"), id_format="p{}",
                                    variant=lambda i: "Black" if i % 2 else "")
CLI_CATALOG_CSV = catalog_csv(CLI_ROWS)

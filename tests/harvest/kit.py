"""Real category fields (fixtures/fields) and pages written the way real spec sites write them."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from engine.runners.harvest.corpus import EMBEDDED_FIELDS
from engine.runners.harvest.extract import Extractor, best_per_field
from engine.runners.harvest.fields import FieldDef, parse_fields

PRODUCTS = {
    "mouse": {"product_id": "mouse-razer-viper-v3-pro", "category": "mouse", "brand": "Razer", "model": "Viper V3 Pro",
              "variant": ""},
    "keyboard": {"product_id": "keyboard-keychron-q1-max", "category": "keyboard", "brand": "Keychron",
                 "model": "Q1 Max", "variant": ""},
    "monitor": {"product_id": "monitor-asus-pg27aqdm", "category": "monitor", "brand": "ASUS", "model": "ROG Swift PG27AQDM",
                "variant": ""},
    "headset": {"product_id": "headset-hyperx-cloud-ii", "category": "headset", "brand": "HyperX", "model": "Cloud II",
                "variant": ""},
    "mousepad": {"product_id": "mousepad-artisan-zero", "category": "mousepad", "brand": "Artisan", "model": "Zero",
                 "variant": "XL"},
    "controller": {"product_id": "controller-8bitdo-ultimate", "category": "controller", "brand": "8BitDo",
                   "model": "Ultimate", "variant": ""},
}


@cache
def fields(category: str) -> tuple[FieldDef, ...]:
    return parse_fields(json.loads((EMBEDDED_FIELDS / f"{category}.json").read_text()))


def field(category: str, name: str) -> FieldDef:
    return next(f for f in fields(category) if f.name == name)


def read(category: str, body: str, head: str = "", product: dict[str, Any] | None = None) -> dict[str, Any]:
    """field -> value of a page's best statement of each field (real fields of ``category``)."""
    html = (f"<!doctype html><html><head><title>spec</title>{head}</head><body>"
            f"<header><nav><a href='/'>Home</a></nav></header><main>{body}</main>"
            "<footer><p>© 2026</p></footer></body></html>")
    found = Extractor(fields(category), category).extract(html, product or PRODUCTS[category])
    return {name: c.value.value for name, c in best_per_field(found.candidates).items()}

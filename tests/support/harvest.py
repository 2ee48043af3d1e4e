"""The harvest kit: a small handmade mouse field set (MOUSE), pages with real-site furniture, custom corpora and a
direct runner call; and the real category fields of fixtures/fields (``fields``, ``field``, ``read``)."""

from __future__ import annotations

import gzip
import json
from functools import cache
from pathlib import Path
from typing import Any

from engine.core.limits import CancelToken, DomainLimiter, Limits, ProviderLimiter
from engine.core.settings import BatchSettings
from engine.runners.base import RunContext
from engine.runners.harvest.corpus import EMBEDDED_FIELDS
from engine.runners.harvest.extract import Extractor, best_per_field
from engine.runners.harvest.fields import FieldDef, parse_fields
from engine.runners.harvest.runner import run_harvest

MOUSE_FIELDS: dict[str, Any] = {"category": "mouse", "fields": [
    {"name": "max_dpi", "label": "Max DPI", "type": "number", "unit": "dpi", "required": True,
     "aliases": ["max dpi", "dpi", "cpi", "maximum dpi", "resolution"]},
    {"name": "weight", "label": "Weight", "type": "number", "unit": "g", "required": True,
     "aliases": ["weight", "mass"]},
    {"name": "polling_rate", "label": "Polling rate", "type": "number", "unit": "Hz", "required": True,
     "aliases": ["polling rate", "report rate", "polling"]},
    {"name": "sensor", "label": "Sensor", "type": "text", "unit": None, "required": True, "aliases": ["sensor"]},
    {"name": "connectivity", "label": "Connectivity", "type": "list", "unit": None, "required": True,
     "aliases": ["connectivity", "connection", "connections"], "choices": ["Wired", "2.4 GHz wireless", "Bluetooth", "USB-C"]},
    {"name": "shape", "label": "Shape", "type": "enum", "unit": None, "required": False, "aliases": ["shape", "form factor"],
     "choices": ["Ergonomic", "Ambidextrous"]},
    {"name": "rgb", "label": "RGB lighting", "type": "bool", "unit": None, "required": False, "aliases": ["rgb", "lighting"]},
    {"name": "battery_life", "label": "Battery life", "type": "number", "unit": "h", "required": False,
     "aliases": ["battery life", "battery"]},
    {"name": "cable_length", "label": "Cable length", "type": "number", "unit": "m", "required": False,
     "aliases": ["cable length", "cable"]},
    {"name": "buttons", "label": "Buttons", "type": "number", "unit": None, "required": False,
     "aliases": ["buttons", "programmable buttons", "number of buttons"]},
]}
MOUSE = tuple(parse_fields(MOUSE_FIELDS))
PRODUCT = {"product_id": "mouse-acme-swift-pro", "category": "mouse", "brand": "Acme", "model": "Swift Pro", "variant": ""}


def page(body: str, head: str = "", title: str = "Acme Swift Pro") -> str:
    """A page with the furniture real pages have around their specs."""
    return (f"<!doctype html><html><head><title>{title}</title>{head}</head><body>"
            "<header><a href='/'>Shop</a> <span>Max DPI: 1</span></header>"
            "<nav><ul><li>Mice</li><li>Weight: 1 g</li></ul></nav>"
            f"<main><h1>{title}</h1>{body}</main>"
            "<footer><p>© Acme. Polling rate: 1 Hz</p></footer></body></html>")


def spec_table(rows: dict[str, str]) -> str:
    return "<table class='specs'>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows.items()) + "</table>"


def extract(html: str, product: dict[str, Any] | None = None) -> dict[str, Any]:
    """field -> value of the page's best statement of each field."""
    found = Extractor(MOUSE).extract(html, product or PRODUCT)
    return {name: c.value.value for name, c in best_per_field(found.candidates).items()}


def write_corpus(root: Path, sources: list[dict[str, Any]], docs: dict[str, str] | None = None,
                 fields: dict[str, Any] | None = MOUSE_FIELDS) -> Path:
    """A custom corpus under ``root``: sources.jsonl, docs/mouse.jsonl.gz, fields/mouse.json."""
    root.mkdir(parents=True, exist_ok=True)
    index = root / "sources.jsonl"
    index.write_text("".join(json.dumps({"category": "mouse", "layout": "spec_table", **s}) + "\n" for s in sources))
    if docs:
        (root / "docs").mkdir(exist_ok=True)
        with gzip.open(root / "docs" / "mouse.jsonl.gz", "wt", encoding="utf-8") as f:
            for doc_id, html in docs.items():
                f.write(json.dumps({"doc_id": doc_id, "html": html}) + "\n")
    if fields is not None:
        (root / "fields").mkdir(exist_ok=True)
        (root / "fields" / "mouse.json").write_text(json.dumps(fields))
    return index


def source(source_id: str, tier: str, doc_id: str | None, product_id: str = PRODUCT["product_id"],
           domain: str | None = None, url: str | None = None) -> dict[str, Any]:
    domain = domain or {"manufacturer": "acme.example", "lab_review": "lab.example", "retailer": "shop.example"}[tier]
    return {"source_id": source_id, "product_id": product_id, "tier": tier, "doc_id": doc_id, "domain": domain,
            "url": url or f"https://{domain}/{source_id}"}


class Recorder:
    """A RunContext's phase and log callbacks, recorded."""

    def __init__(self) -> None:
        self.phases: list[str] = []
        self.logs: list[tuple[str, str]] = []


def run(product: dict[str, Any], limits: Limits | None = None, cancel: CancelToken | None = None,
        recorder: Recorder | None = None, **settings: Any) -> dict[str, Any]:
    """Call the harvest runner directly, as a worker would."""
    recorder = recorder or Recorder()
    ctx = RunContext("test-batch", 1, 1, cancel or CancelToken(), limits or Limits(DomainLimiter(base_cooldown=0), ProviderLimiter()),
                     on_phase=recorder.phases.append, on_log=lambda level, msg: recorder.logs.append((level, msg)))
    return run_harvest(dict(product), BatchSettings(runner="harvest", **settings), ctx)


# --------------------------------------------------------------------------- real category fields
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

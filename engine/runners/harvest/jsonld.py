"""Spec statements in schema.org structured data: a ``Product``'s ``additionalProperty`` list of
``PropertyValue`` (name, value, unitText/unitCode) and its own quantitative properties (``weight``...),
from JSON-LD (read by ``page``) and microdata (``itemscope``/``itemprop``, read with ``extruct``'s
W3C microdata extractor and turned into the same JSON-LD shape).

A page may describe several products (accessories, "related" items): when it does, only the
``Product`` whose name names this product is read. ``names_product`` picks this product among
several names (a comparison table's column headers).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from extruct.w3cmicrodata import MicrodataExtractor

from engine.runners.harvest.fields import normalise

# Products linked from the main one are other products.
RELATION_KEYS = frozenset({"isRelatedTo", "isSimilarTo", "isAccessoryOrSparePartFor", "isConsumableFor",
                           "isVariantOf", "hasVariant", "itemListElement", "review", "offers", "aggregateRating"})
META_KEYS = frozenset({"@context", "@type", "@id", "name", "description", "image", "url", "sku", "gtin", "gtin8",
                       "gtin12", "gtin13", "gtin14", "mpn", "brand", "manufacturer", "logo", "additionalProperty",
                       "sameAs", "potentialAction", "mainEntityOfPage", "productID", "identifier", "audience",
                       "award", "hasMerchantReturnPolicy", "itemCondition", "slogan", "category", "releaseDate",
                       "model", *RELATION_KEYS})
UNIT_CODES = {"GRM": "g", "KGM": "kg", "LBR": "lb", "ONZ": "oz", "MMT": "mm", "CMT": "cm", "MTR": "m",
              "INH": "in", "HTZ": "Hz", "KHZ": "kHz", "HUR": "h", "MIN": "min", "SEC": "s", "C26": "ms"}
MAX_DEPTH = 12
MAX_NODES = 5_000


def _types(node: dict[str, Any]) -> set[str]:
    kind = node.get("@type")
    kinds = kind if isinstance(kind, list) else [kind]
    return {str(k).rsplit("/", 1)[-1] for k in kinds if k}


def _products(data: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, node) for every Product reachable without following a link to another product."""
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    seen = 0
    while stack and seen < MAX_NODES:
        node, path, depth = stack.pop(0)
        seen += 1
        if depth > MAX_DEPTH:
            continue
        if isinstance(node, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(node))
        elif isinstance(node, dict):
            if "Product" in _types(node) or "ProductModel" in _types(node):
                yield path, node
                continue
            for key, value in node.items():
                if key not in RELATION_KEYS and isinstance(value, (dict, list)):
                    stack.append((value, f"{path}/{key}", depth + 1))


def _score(node: dict[str, Any], product: dict[str, Any] | None) -> int:
    if not product:
        return 0
    name = normalise(str(node.get("name") or ""))
    model = normalise(str(product.get("model") or ""))
    full = normalise(" ".join(str(product.get(k) or "") for k in ("brand", "model", "variant")))
    if full and f" {full} " in f" {name} ":
        return 2
    return 1 if model and f" {model} " in f" {name} " else 0


def names_product(names: list[str], product: dict[str, Any] | None) -> int | None:
    """The index of the one name that names this product (brand + model + variant, else the model
    alone, else "This item"), or None when none or several do."""
    if not product or not names:
        return None
    keys = [f" {normalise(n)} " for n in names]
    model = normalise(str(product.get("model") or ""))
    full = normalise(" ".join(str(product.get(k) or "") for k in ("brand", "model", "variant")))
    model_variant = normalise(" ".join(str(product.get(k) or "") for k in ("model", "variant")))
    for needle in (full, model_variant, model):
        if not needle:
            continue
        hits = [i for i, k in enumerate(keys) if f" {needle} " in k]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:  # "Viper V3 Pro" is in "Viper V3 Pro SE" too: the name with nothing else wins
            exact = [i for i in hits if len(keys[i].split()) == min(len(keys[j].split()) for j in hits)]
            return exact[0] if len(exact) == 1 and needle != model else None
    ours = [i for i, k in enumerate(keys) if k.strip() in ("this item", "this product", "this model")]
    return ours[0] if len(ours) == 1 else None


def _from_microdata(item: Any, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        return None
    if isinstance(item, list):
        return [_from_microdata(i, depth + 1) for i in item]
    if not isinstance(item, dict) or "properties" not in item:
        return item
    node: dict[str, Any] = {"@type": [str(t).rsplit("/", 1)[-1] for t in item.get("type") or []]
                            if isinstance(item.get("type"), list) else str(item.get("type") or "").rsplit("/", 1)[-1]}
    for key, value in (item.get("properties") or {}).items():
        node[key] = _from_microdata(value, depth + 1)
    return node


def microdata_items(root: Any) -> list[Any]:
    """The page's microdata items as JSON-LD-shaped objects; a page without itemscope costs one scan."""
    if root is None or next(root.iter(), None) is None or root.find(".//*[@itemscope]") is None:
        return []
    try:
        items = MicrodataExtractor().extract_items(root, None)
    except (ValueError, TypeError, AttributeError, RecursionError):
        return []  # broken microdata is ignored, as crawlers do
    return [_from_microdata(i) for i in items[:50]]


def _camel_words(key: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).replace("_", " ")


def _scalar(value: Any) -> str | None:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return f"{value:g}" if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
        return ", ".join(str(v) for v in value)
    return None


def _quantity(node: Any) -> str | None:
    """'58 g' from a QuantitativeValue / PropertyValue; a plain scalar as it is."""
    if not isinstance(node, dict):
        return _scalar(node)
    value = node.get("value")
    if value is None and isinstance(node.get("minValue"), (int, float)) and isinstance(node.get("maxValue"), (int, float)):
        value = f"{node['minValue']} - {node['maxValue']}"
    text = _scalar(value)
    if text is None:
        return None
    unit = node.get("unitText") or UNIT_CODES.get(str(node.get("unitCode") or "").upper()) or ""
    return f"{text} {unit}".strip() if isinstance(unit, str) else text


def json_ld_properties(blocks: list[Any], product: dict[str, Any] | None = None) -> Iterator[tuple[str, str, str]]:
    """(location, label, value text) for every property the page's own Product states."""
    found = [(f"ld+json[{i}]{path}", node) for i, block in enumerate(blocks) for path, node in _products(block)]
    if len(found) > 1:
        scores = [_score(node, product) for _, node in found]
        best = max(scores)
        found = [f for f, s in zip(found, scores) if s == best] if best > 0 else found[:1]
        found = found[:1] if len(found) > 1 and best < 2 else found
    for base, node in found:
        props = node.get("additionalProperty")
        for j, prop in enumerate(props if isinstance(props, list) else [props] if isinstance(props, dict) else []):
            if not isinstance(prop, dict):
                continue
            label = prop.get("name") or prop.get("propertyID")
            value = _quantity(prop)
            if isinstance(label, str) and value:
                yield f"{base}/additionalProperty[{j}]", label, value
        for key, raw in node.items():
            if key in META_KEYS or key.startswith("@"):
                continue
            value = _quantity(raw)
            if value:
                yield f"{base}/{key}", _camel_words(key), value

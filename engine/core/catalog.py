"""Load and validate product catalogs into one pandas DataFrame.

A catalog is the list of products a batch can be planned from. It comes as a directory of
per-product JSON files (``<root>/<category>/products/<product_id>.json``) or as one
``.csv``, ``.jsonl``/``.ndjson``, ``.parquet`` or ``.json`` (a list of objects) file.

Policy -- nothing bad is ever loaded silently:

* Lenient (default): valid rows load; every invalid row or file is left out and reported in
  ``Catalog.problems`` with its file, line (or row), field and what is wrong.
* ``strict=True``: any problem raises ``CatalogError`` listing all of them.
* Always raised: a missing path, an unsupported extension, and a catalog with no valid product.
* Duplicate ``product_id``: the first loadable one in load order (sorted paths, then rows) is
  kept; each later one is reported, naming where the kept one is.

Each reader turns its format into a raw DataFrame plus location columns (``__source__``,
``__line__``); one vectorised ``_validate`` then produces the clean frame and the problems,
so every format obeys the same rules.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from dataclasses import dataclass
from numbers import Number
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.errors import CatalogError, CatalogProblem

CORE_COLUMNS: tuple[str, ...] = ("product_id", "category", "brand", "model", "variant")
REQUIRED_COLUMNS = ("product_id", "category", "brand", "model")  # variant may be empty
PRODUCT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
FILE_FORMATS = (".csv", ".json", ".jsonl", ".ndjson", ".parquet")
_SOURCE, _LINE, _FOLDER, _STEM = "__source__", "__line__", "__folder__", "__stem__"
_LOCATION = (_SOURCE, _LINE, _FOLDER, _STEM)  # bookkeeping columns, never part of a product
_IMPLIED = {"category": (_FOLDER, "its folder"), "product_id": (_STEM, "its file name")}
# Text that is not Unicode: JSON's \ud800-style escapes without their pair, and bytes that are not UTF-8
# (decoded with surrogateescape). Neither pandas' string dtype, Arrow nor DuckDB can hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


@dataclass(frozen=True, eq=False)
class Catalog:
    """The loaded products plus everything that was left out, and why."""

    products: pd.DataFrame  # CORE_COLUMNS first, then extras; sorted by product_id; RangeIndex
    problems: tuple[CatalogProblem, ...]
    source: str

    @property
    def brands(self) -> list[str]:
        """Distinct brands, case-insensitive A-Z, as the dashboard lists them."""
        return _sorted_ci(self.products["brand"].unique())

    @property
    def categories(self) -> list[str]:
        return _sorted_ci(self.products["category"].unique())

    def summary(self) -> dict:
        """Plain, JSON-ready counts for the plan preview and the API."""
        brand_counts = self.products["brand"].value_counts()
        category_counts = self.products["category"].value_counts()
        return {
            "source": self.source,
            "products": len(self.products),
            "brands": len(brand_counts),
            "categories": len(category_counts),
            "brand_counts": {b: int(brand_counts[b]) for b in self.brands},
            "category_counts": {c: int(category_counts[c]) for c in self.categories},
            "problems": len(self.problems),
        }


def default_catalog_path() -> Path:
    """The embedded catalog shipped in the repo, so a fresh clone has something to plan."""
    return Path(__file__).resolve().parents[2] / "fixtures" / "catalog"


def load_catalog(path: str | os.PathLike | None = None, *, strict: bool = False) -> Catalog:
    """Load a catalog; lenient by default (bad rows reported, not loaded), or ``strict``."""
    root = Path(path) if path is not None else default_catalog_path()
    source = os.fspath(root)
    if not root.exists():
        raise CatalogError(f"catalog not found: {source}")
    suffix = root.suffix.lower()
    if root.is_dir():
        raw, problems = _read_tree(root)
    elif suffix in _READERS:
        raw, problems = _READERS[suffix](root)
    else:
        raise CatalogError(f"unsupported catalog format {suffix or '(no extension)'!r}: {source};"
                           f" use a directory (JSON tree) or a {', '.join(FILE_FORMATS)} file")
    products, row_problems = _validate(raw)
    problems = sorted(problems + row_problems, key=lambda p: (p.source, p.line or 0))
    if products.empty:
        raise CatalogError(f"catalog {source} has no valid products ({_problems(problems)})", problems)
    if strict and problems:
        raise CatalogError(f"catalog {source} has {_problems(problems)}; fix them, or load"
                           " without strict to skip the bad rows", problems)
    return Catalog(products=products, problems=tuple(problems), source=source)


# --- readers: format -> (raw frame with location columns, file-level problems) ---------------

_BAD = object()  # "could not parse": JSON null is a value, so None cannot mean failure


def _read_tree(root: Path) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    records: list[dict] = []
    problems: list[CatalogProblem] = []
    for file in _tree_files(root, problems):
        parts = file.relative_to(root).parts
        if not _is_utf8("/".join(parts)):  # the folder and file name become category and product_id
            problems.append(CatalogProblem(_escaped(str(file)), None, None, "file name is not valid UTF-8; not loaded"))
        elif len(parts) != 3 or parts[1] != "products":
            problems.append(CatalogProblem(str(file), None, None, "not in the"
                                           " <category>/products/<product_id>.json layout; not loaded"))
        else:
            data = _read_bytes(file, problems)
            obj = _loads(data, str(file), None, problems)
            if obj is not _BAD and _is_product(obj, str(file), None, problems, _may_pair(data)):
                records.append({**obj, _SOURCE: str(file), _LINE: None, _FOLDER: parts[0], _STEM: file.stem})
    return pd.DataFrame(records, dtype=object), problems


def _tree_files(root: Path, problems: list[CatalogProblem]) -> list[Path]:
    """Every ``*.json`` file under ``root`` in sorted path order; a directory that cannot be listed is a problem."""
    def unlistable(exc: OSError) -> None:
        problems.append(CatalogProblem(_escaped(str(exc.filename)), None, None, f"cannot read directory:"
                                       f" {exc.strerror or exc}; nothing in it is loaded"))

    return sorted((Path(folder, name) for folder, _, names in os.walk(root, onerror=unlistable)
                   for name in names if name.endswith(".json")), key=str)


def _read_json_list(path: Path) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    problems: list[CatalogProblem] = []
    raw = _read_bytes(path, problems)
    data = _loads(raw, str(path), None, problems)
    if data is not _BAD and not isinstance(data, list):
        problems.append(CatalogProblem(str(path), None, None,
                                       f"expected a JSON array of product objects, got {_kind(data)}"))
    rows, check = (data, _may_pair(raw)) if isinstance(data, list) else ([], False)
    records = [{**obj, _LINE: i} for i, obj in enumerate(rows, 1) if _is_product(obj, str(path), i, problems, check)]
    return _with_source(pd.DataFrame(records, dtype=object), path), problems


def _read_jsonl(path: Path) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    problems: list[CatalogProblem] = []
    records: list[dict] = []
    data = _read_bytes(path, problems) or b""
    check = _may_pair(data)
    for number, chunk in enumerate(data.splitlines(), 1):
        obj = _loads(chunk, str(path), number, problems) if chunk.strip() else _BAD
        if obj is not _BAD and _is_product(obj, str(path), number, problems, check):
            records.append({**obj, _LINE: number})
    return _with_source(pd.DataFrame(records, dtype=object), path), problems


def _read_csv(path: Path) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    """The csv module, not pandas: it gives every record's own fields, so each is counted.

    pandas took the extra cell of rows with a trailing comma for an index (every column shifted),
    padded short rows, and let an unclosed quote swallow the rest of the file.
    """
    problems: list[CatalogProblem] = []
    data = _read_bytes(path, problems)
    if data is None:
        return pd.DataFrame(), problems
    try:
        text, checked = data.decode("utf-8-sig"), True
    except UnicodeDecodeError:  # each bad byte becomes a lone surrogate, found row by row below
        text, checked = data.decode("utf-8-sig", "surrogateescape"), False
    numbers, records = _csv_records(text, str(path), problems)
    first = next((i for i, fields in enumerate(records) if fields), None)  # the header
    if first is None or not (checked or _is_utf8("".join(records[first]))):
        why = "no header row" if first is None else "the header row is not valid UTF-8"
        line = None if first is None else numbers[first]
        return pd.DataFrame(), [*problems, CatalogProblem(str(path), line, None, f"{why}; no row loaded")]
    header = [f"{h}.{records[first][:i].count(h)}" if h in records[first][:i] else h
              for i, h in enumerate(records[first])]
    body, lines = records[first + 1:], np.array(numbers[first + 1:], dtype=np.int64)
    widths = np.fromiter(map(len, body), dtype=np.int64, count=len(body))
    keep = (widths == len(header)) & np.fromiter(map(any, body), dtype=bool, count=len(body))  # not blank
    problems += [CatalogProblem(str(path), int(lines[i]), None, f"{widths[i]} field{'' if widths[i] == 1 else 's'},"
                                f" header has {len(header)}; not loaded")
                 for i in np.flatnonzero((widths != len(header)) & (widths > 0))]
    for i in () if checked else np.flatnonzero(keep):
        if bad := _invalid_utf8(body[i], header, str(path), int(lines[i])):
            keep[i] = False
            problems.append(bad)
    rows = body if keep.all() else [body[i] for i in np.flatnonzero(keep)]
    frame = pd.DataFrame(rows, columns=header, dtype=object).assign(**{_LINE: lines[keep]})
    frame, more = _tabular(frame, path, numbers[first])
    return frame, problems + more


def _csv_records(text: str, source: str, problems: list[CatalogProblem]) -> tuple[list[int], list[list[str]]]:
    """Every record (a blank line is an empty one) and the physical line it starts on. A record csv cannot
    parse is a problem, and reading resumes on the line after the one it starts on: an unclosed quote
    would otherwise swallow the rest of the file."""
    lines = io.StringIO(text, newline="").readlines()  # split as csv splits: only at \n, \r\n and \r
    try:
        records = list(csv.reader(lines, strict=True))
        if len(records) == len(lines):  # the common case: no record spans lines, record i is line i + 1
            return list(range(1, len(lines) + 1)), records
    except csv.Error:
        pass
    numbers: list[int] = []
    records = []
    resume = 0
    while resume < len(lines):  # record by record, with line numbers
        reader = csv.reader(itertools.islice(lines, resume, None), strict=True)
        start = resume + 1
        try:
            for fields in reader:
                numbers.append(start)
                records.append(fields)
                start = resume + reader.line_num + 1
            break
        except csv.Error as exc:
            message = ("unbalanced quote: the quoted field that opens on this line never closes; this row is not"
                       " loaded" if "end of data" in str(exc) else f"malformed CSV: {exc}; this row is not loaded")
            problems.append(CatalogProblem(source, start, None, message))
            resume = start
    return numbers, records


def _invalid_utf8(fields: list[str], header: list[str], source: str, line: int) -> CatalogProblem | None:
    """The first cell holding a byte that is not UTF-8 (decoded as a lone surrogate by surrogateescape)."""
    for name, value in zip(header, fields):
        if found := _SURROGATE.search(value):
            pid = fields[header.index("product_id")] if "product_id" in header else None
            return CatalogProblem(source, line, name, f"{name} is not valid UTF-8 (byte 0x{ord(found.group()) - 0xDC00:02X});"
                                  " not loaded", pid if pid and _is_utf8(pid) else None)
    return None


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    try:
        table = pq.read_table(path)
        kept, problems = _utf8_rows(table, str(path))
        raw = (table if kept is None else table.filter(pa.array(kept))).to_pandas()
    except (OSError, ValueError, pa.ArrowException) as exc:  # pyarrow's ArrowInvalid is a ValueError
        return pd.DataFrame(), [_unreadable(str(path), exc)]
    raw = raw.reset_index(drop=raw.index.names == [None])  # a named index (product_id?) is data
    numbers = np.arange(1, len(raw) + 1) if kept is None else np.flatnonzero(kept) + 1
    frame, more = _tabular(raw.assign(**{_LINE: numbers}), path, None)
    return frame, problems + more


def _utf8_rows(table: pa.Table, source: str) -> tuple[np.ndarray | None, list[CatalogProblem]]:
    """Parquet string cells are not checked for UTF-8 when written, and pandas' text functions fail on
    one that is not: the rows to keep (None: all) and a problem for each row left out."""
    kept, problems = None, []
    for name, column in zip(table.column_names, table.columns):
        as_bytes = {pa.string(): pa.binary(), pa.large_string(): pa.large_binary()}.get(column.type)
        if as_bytes is None:
            continue
        try:
            column.validate(full=True)  # full: UTF-8 checked too, in C++
            continue
        except pa.ArrowInvalid:
            kept = np.ones(table.num_rows, dtype=bool) if kept is None else kept
        cells = itertools.chain.from_iterable(chunk.view(as_bytes).to_pylist() for chunk in column.chunks)
        for i, value in enumerate(cells):  # viewed as bytes: no UTF-8 check
            if value is None or not kept[i]:
                continue
            try:
                value.decode("utf-8")
            except UnicodeDecodeError as error:
                kept[i] = False
                problems.append(CatalogProblem(source, i + 1, name, f"{name} is not valid UTF-8"
                                               f" (byte 0x{value[error.start]:02X}); not loaded"))
    return kept, problems


_READERS = {".csv": _read_csv, ".json": _read_json_list, ".jsonl": _read_jsonl,
            ".ndjson": _read_jsonl, ".parquet": _read_parquet}


def _tabular(raw: pd.DataFrame, path: Path, header_line: int | None):
    """A table without a required column, or with one twice, cannot be trusted: report the file once."""
    columns = ", ".join(map(str, raw.columns.drop(_LINE)))
    problems = [CatalogProblem(str(path), header_line, c, f"required column {c!r} is missing"
                               f" (columns: {columns}); no row loaded")
                for c in REQUIRED_COLUMNS if c not in raw.columns]
    problems += [CatalogProblem(str(path), header_line, c, f"column {c!r} appears more than once"
                                f" (columns: {columns}); no row loaded")
                 for c in CORE_COLUMNS if f"{c}.1" in raw.columns]  # pandas renames repeats to "x.1"
    return (pd.DataFrame() if problems else _with_source(raw, path)), problems


def _with_source(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    return raw.assign(**{_SOURCE: str(path)}) if len(raw) else raw


def _read_bytes(path: Path, problems: list[CatalogProblem]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as exc:
        problems.append(_unreadable(str(path), exc))
        return None


def _loads(data: bytes | None, source: str, line: int | None, problems: list[CatalogProblem]) -> Any:
    """Parse UTF-8 JSON; ``line`` is where ``data`` starts (None: a whole file), for precise errors."""
    try:
        return _BAD if data is None else json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        problems.append(_unreadable(source, exc, line))
    except json.JSONDecodeError as exc:
        at = (line or 1) + exc.lineno - 1
        problems.append(CatalogProblem(source, at, None, f"malformed JSON at line {at} column"
                                       f" {exc.colno}: {exc.msg}"))
    return _BAD


def _is_product(obj: Any, source: str, line: int | None, problems: list[CatalogProblem], check_text: bool) -> bool:
    """A JSON object, holding (when ``check_text``: its text escapes a surrogate) no unpaired surrogate."""
    if not isinstance(obj, dict):
        problems.append(CatalogProblem(source, line, None, f"expected a JSON object, got {_kind(obj)}"))
        return False
    for key, value in obj.items() if check_text else ():
        if found := _unpaired(key) or _unpaired(value):
            field = _escaped(key)
            problems.append(CatalogProblem(source, line, field, f"{field} holds an unpaired surrogate {found!r},"
                                           " which is not Unicode text; not loaded"))
            return False
    return True


def _may_pair(data: bytes | None) -> bool:
    """Whether JSON text escapes a surrogate (``\\ud800``): json.loads accepts one without its pair."""
    return bool(data) and _SURROGATE_ESCAPE.search(data) is not None


def _unpaired(value: Any) -> str | None:
    """The first unpaired surrogate anywhere in a parsed JSON value, keys included."""
    if isinstance(value, str):
        return found.group() if (found := _SURROGATE.search(value)) else None
    if isinstance(value, dict):
        value = itertools.chain.from_iterable(value.items())
    elif not isinstance(value, list):
        return None  # numbers, booleans, null
    return next(filter(None, map(_unpaired, value)), None)


def _is_utf8(text: str) -> bool:
    return text.isascii() or _SURROGATE.search(text) is None


def _escaped(text: str) -> str:
    """Text with its lone surrogates (undecodable bytes of a file name, say) written as escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _unreadable(source: str, exc: Exception, line: int | None = None) -> CatalogProblem:
    if isinstance(exc, UnicodeDecodeError):
        return CatalogProblem(source, line, None, f"cannot read file: not UTF-8 text ({exc.reason}"
                                                  f" at byte {exc.start})")
    why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
    return CatalogProblem(source, line, None, f"cannot read file: {why}")


# --- validation: one vectorised pass over every format ---------------------------------------


def _validate(raw: pd.DataFrame) -> tuple[pd.DataFrame, list[CatalogProblem]]:
    """Clean core fields, flag bad rows column by column, keep the first of each product_id."""
    if raw.empty:
        return pd.DataFrame(columns=list(CORE_COLUMNS), dtype="str"), []
    found: list[tuple[int, str, str]] = []  # (row position, field, message)
    bad = np.zeros(len(raw), dtype=bool)

    def report(mask: pd.Series, field: str, message: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        bad[rows] = True
        found.extend((i, field, message(i)) for i in rows)

    core: dict[str, pd.Series] = {}
    for field in CORE_COLUMNS:
        value = raw[field] if field in raw.columns else pd.Series(None, index=raw.index, dtype=object)
        if isinstance(value.dtype, pd.CategoricalDtype):
            value = value.astype(object)
        wrong = _not_string(value)
        shown = value.to_numpy(dtype=object) if wrong.any() else None
        expect = "a string or null" if field == "variant" else "a string"
        report(wrong, field, lambda i: f"{field} must be {expect}, got {_kind(shown[i])} {shown[i]!r:.60}")
        text = value.where(~wrong).astype("str").str.strip()
        if _FOLDER in raw.columns and field in _IMPLIED:  # JSON tree: the path names these too
            implied, where = raw[_IMPLIED[field][0]], _IMPLIED[field][1]
            report(text.notna() & text.ne("") & text.ne(implied), field,
                   lambda i: f"{field} {text.iloc[i]!r} does not match {where} {implied.iloc[i]!r}")
            text = text.fillna(implied)
        if field == "variant":
            text = text.fillna("")
        else:
            report(text.isna() & ~wrong, field, lambda i: f"{field} is missing")
            report(text.eq(""), field, lambda i: f"{field} is empty")
        core[field] = text

    pid = core["product_id"]
    ids = pid.to_numpy(dtype=object)
    report(pid.notna() & pid.ne("") & ~pid.str.fullmatch(PRODUCT_ID_PATTERN), "product_id",
           lambda i: f"product_id {ids[i]!r} is not valid: use 1-128 letters, digits, '.', '_',"
           " ':' or '-', starting with a letter or digit")
    valid = pd.Series(~bad, index=raw.index)
    later = valid & pid.where(valid).duplicated(keep="first")  # load order decides who is first
    kept = valid & ~later
    first = dict(zip(ids[kept.to_numpy()], np.flatnonzero(kept)))
    sources, lines = raw[_SOURCE].to_numpy(dtype=object), raw[_LINE].to_numpy(dtype=object)
    report(later, "product_id", lambda i: f"duplicate product_id {ids[i]!r}: the first one, at"
           f" {_where(sources, lines, first[ids[i]])}, is kept; this one is not loaded")

    problems = [CatalogProblem(sources[i], _line(lines, i), field, message, _text(ids[i]))
                for i, field, message in sorted(found, key=lambda x: (x[0], CORE_COLUMNS.index(x[1])))]
    extras = [c for c in raw.columns if c not in CORE_COLUMNS and c not in _LOCATION]
    products = pd.concat([pd.DataFrame(core), raw[extras]], axis=1)[~bad].infer_objects()
    return products.sort_values("product_id", kind="stable").reset_index(drop=True), problems


def _not_string(value: pd.Series) -> pd.Series:
    """True where a value is present but is not text (numbers, lists, objects, booleans)."""
    if isinstance(value.dtype, pd.StringDtype) or pd.api.types.infer_dtype(value) in ("string", "empty"):
        return pd.Series(False, index=value.index)  # the common case, decided without a Python loop
    return value.notna() & ~value.map(lambda v: isinstance(v, str))


def _line(lines: Any, i: int) -> int | None:
    value = lines[i]
    return None if value is None or value != value else int(value)  # None/NaN: a whole file


def _where(sources: Any, lines: Any, i: int) -> str:
    line = _line(lines, i)
    return sources[i] + ("" if line is None else f":{line}")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _kind(value: Any) -> str:
    """JSON's name for a value's type, which is what the catalog author wrote."""
    if value is None:
        return "null"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, Number):
        return "number"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "array"
    return {dict: "object", str: "string"}.get(type(value), type(value).__name__)


def _problems(problems: list[CatalogProblem]) -> str:
    return f"{len(problems)} problem{'' if len(problems) == 1 else 's'}"


def _sorted_ci(values) -> list[str]:
    return sorted(values, key=lambda v: (v.casefold(), v))

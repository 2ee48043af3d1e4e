"""Catalog readers: each file format (a JSON tree, .csv, .jsonl/.ndjson, .parquet, .json) to a raw DataFrame with
location columns, plus the file-level problems. ``engine.core.catalog`` validates what they read."""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
import re
from numbers import Number
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.core.errors import CatalogProblem

CORE_COLUMNS: tuple[str, ...] = ("product_id", "category", "brand", "model", "variant")
REQUIRED_COLUMNS = ("product_id", "category", "brand", "model")  # variant may be empty


_SOURCE, _LINE, _FOLDER, _STEM = "__source__", "__line__", "__folder__", "__stem__"
_LOCATION = (_SOURCE, _LINE, _FOLDER, _STEM)  # bookkeeping columns, never part of a product
_IMPLIED = {"category": (_FOLDER, "its folder"), "product_id": (_STEM, "its file name")}
# Text that is not Unicode: JSON's \ud800-style escapes without their pair, and bytes that are not UTF-8
# (decoded with surrogateescape). Neither pandas' string dtype, Arrow nor DuckDB can hold it.
_SURROGATE = re.compile("[\ud800-\udfff]")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
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

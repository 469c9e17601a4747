"""Reading the input tables.

Sources: a folder of ``<table>.csv|.json|.parquet`` files (plant export names such as
``md_step2_linespeed.json`` or ``md_step5 operation_delay.json`` are recognised), one ``.xlsx``
workbook with a sheet per table, a JSON payload file ``{table: [records]}``, or such a dict.
``read_raw`` returns the tables as read (object cells, original headers, a ``_row`` column);
``load_tables`` turns them into canonical, validated tables.
"""

from __future__ import annotations

import csv
import io as _stdio
import json
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from prodsched.inputs.cells import blank
from prodsched.inputs.normalise import normalise_all
from prodsched.inputs.report import ValidationReport
from prodsched.inputs.spec import ROW, table_key

__all__ = ["load_tables", "read_raw", "source_files"]

DATA_SUFFIXES = (".csv", ".json", ".parquet")
WORKBOOK_SUFFIXES = (".xlsx", ".xlsm")
SOURCE = "source"  # DataFrame.attrs key: the file (and sheet) a raw table came from


# ----------------------------------------------------------------------------- reading

def _frame(records: list[dict[str, Any]], rows: list[int], origin: str) -> pd.DataFrame:
    columns: dict[str, None] = {}
    for rec in records:
        for key in rec:
            columns.setdefault(key, None)
    frame = pd.DataFrame(
        {c: pd.Series([rec.get(c) for rec in records], dtype=object) for c in columns}
    )
    frame[ROW] = pd.Series(rows, dtype="int64")
    frame.attrs[SOURCE] = origin
    return frame


def _unique_headers(names: list[str], table: str, origin: str, report: ValidationReport) -> list[str]:
    """Header names made unique: a repeated header ``X`` becomes ``X.1`` (reported)."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen and name:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            report.warning(table, None, name, name, f"{origin}: column {name!r} appears more than once; "
                           f"the repeat is read as {new!r}")
            name = new
        else:
            seen[name] = 0
        out.append(name)
    return out


def _read_csv(path: Path, table: str, report: ValidationReport) -> pd.DataFrame | None:
    data = path.read_bytes()
    text = None
    for encoding in ("utf-8-sig", "cp949"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    if text is None or "\x00" in text:
        report.error(table, None, "", path.name, f"file {path.name} is not a readable CSV text file")
        return None
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count) if first else ","
    try:
        reader = csv.reader(_stdio.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        header = next(reader, None)
        if header:
            header = _unique_headers([h.strip() for h in header], table, path.name, report)
        kept, rows = [], []
        for cells in reader:
            if not "".join(cells).strip():  # every field blank
                continue
            if len(cells) > len(header or []):
                report.error(table, reader.line_num, "", "", f"file {path.name}: row "
                             f"{reader.line_num} has {len(cells)} fields but the header has "
                             f"{len(header or [])}; row ignored")
                continue
            kept.append(cells)
            rows.append(reader.line_num)
    except csv.Error as exc:
        report.error(table, None, "", path.name, f"file {path.name} is not valid CSV: {exc}")
        return None
    if not header or not any(h.strip() for h in header):
        report.error(table, None, "", path.name, f"file {path.name} has no header row")
        return None
    return _csv_frame(header, kept, rows, path.name)


def _csv_frame(header: list[str], kept: list[list[str]], rows: list[int], origin: str) -> pd.DataFrame:
    """The raw frame of CSV rows (none longer than the header), built a column at a time: a short
    row's missing fields are None; a header name given twice (only blank names can be) takes the
    last of its fields the row has, as a record ``dict(zip(header, cells))`` would."""
    width = len(header)
    padded = [cells if len(cells) == width else cells + [None] * (width - len(cells)) for cells in kept]
    fields = list(zip(*padded)) if padded else [()] * width
    columns: dict[str, pd.Series] = {}
    for name in dict.fromkeys(header):
        positions = [k for k, h in enumerate(header) if h == name]
        if len(positions) == 1:
            values = fields[positions[0]]
        else:
            values = [next((v for v in reversed(vs) if v is not None), None)
                      for vs in zip(*(fields[k] for k in positions))]
        columns[name] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(len(kept)))
    frame[ROW] = pd.Series(rows, dtype="int64")
    frame.attrs[SOURCE] = origin
    return frame


def _records_frame(obj: Any, table: str, origin: str, report: ValidationReport) -> pd.DataFrame | None:
    """A list of JSON records (dicts) -> raw frame; anything else is an error naming ``origin``."""
    if isinstance(obj, pd.DataFrame):
        rows = obj[ROW] if ROW in obj else None  # a loaded table keeps the user's row numbers
        frame = obj.drop(columns=[ROW], errors="ignore").reset_index(drop=True).astype(object)
        frame = frame.where(frame.notna(), None)
        ok = rows is not None and pd.api.types.is_integer_dtype(rows) and rows.is_unique
        frame[ROW] = rows.to_numpy(dtype="int64") if ok else np.arange(1, len(frame) + 1, dtype="int64")
        frame.attrs[SOURCE] = origin
        return frame
    if not isinstance(obj, list):
        report.error(table, None, "", origin, f"{origin} is not a list of records (found "
                     f"{type(obj).__name__}); expected [{{\"column\": value, ...}}, ...]")
        return None
    bad = [k for k, rec in enumerate(obj, start=1) if not isinstance(rec, dict)]
    if bad:
        report.error(table, bad[0], "", origin, f"{origin} is not a list of records: record "
                     f"{bad[0]} is a {type(obj[bad[0] - 1]).__name__}, not an object")
        return None
    keep = [(k, rec) for k, rec in enumerate(obj, start=1) if not all(blank(v) for v in rec.values())]
    return _frame([rec for _, rec in keep], [k for k, _ in keep], origin)


def _read_json(path: Path, table: str, report: ValidationReport) -> Any:
    try:
        return json.loads(path.read_bytes().decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        report.error(table, None, "", path.name, f"file {path.name} is not valid JSON: {exc}")
        return None


def _read_parquet(path: Path, table: str, report: ValidationReport) -> pd.DataFrame | None:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        report.error(table, None, "", path.name, f"file {path.name} is not valid Parquet: {exc}")
        return None
    return _records_frame(frame, table, path.name, report)


def _read_xlsx(path: Path, report: ValidationReport) -> dict[str, pd.DataFrame]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # zipfile.BadZipFile, InvalidFileException, KeyError ...
        report.error("", None, "", path.name, f"file {path.name} is not a valid .xlsx workbook: {exc}")
        return {}
    out: dict[str, pd.DataFrame] = {}
    try:
        for sheet in book.worksheets:
            table = table_key(sheet.title)
            if table is None:
                report.warning("", None, "", sheet.title, f"{path.name}: sheet {sheet.title!r} is not "
                               "one of the input tables; ignored")
                continue
            if table in out:
                report.warning(table, None, "", sheet.title, f"{path.name}: a second sheet for "
                               f"{table} ({sheet.title!r}) is ignored; the first one is used")
                continue
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None) or ()
            names = _unique_headers([("" if h is None else str(h).strip()) for h in header], table,
                                    f"{path.name}[{sheet.title}]", report)
            records, numbers = [], []
            for number, values in enumerate(rows, start=2):
                if values is None or all(blank(v) for v in values):
                    continue
                records.append({n: v for n, v in zip(names, values) if n})
                numbers.append(number)
            frame = _frame(records, numbers, f"{path.name}[{sheet.title}]")
            for n in names:
                if n and n not in frame:
                    frame.insert(len(frame.columns) - 1, n, pd.Series([None] * len(frame), dtype=object))
            out[table] = frame
    finally:
        book.close()
    return out


def _read_file(path: Path, table: str, report: ValidationReport) -> pd.DataFrame | None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _read_csv(path, table, report)
    if suffix == ".parquet":
        return _read_parquet(path, table, report)
    obj = _read_json(path, table, report)
    return None if obj is None else _records_frame(obj, table, path.name, report)


def _table_files(folder: Path, report: ValidationReport) -> tuple[dict[str, Path], list[Path]]:
    """The file that provides each table (one per table), and the workbooks in the folder."""
    found: dict[str, Path] = {}
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    preference = {s: k for k, s in enumerate(DATA_SUFFIXES)}
    for path in sorted((p for p in files if p.suffix.lower() in DATA_SUFFIXES),
                       key=lambda p: (preference[p.suffix.lower()], p.name)):
        table = table_key(path.stem)
        if table is None:
            report.warning("", None, "", path.name, f"file {path.name} is not one of the input "
                           "tables; ignored")
        elif table in found:
            report.warning(table, None, "", path.name, f"file {path.name} is ignored: "
                           f"{found[table].name} already provides {table}")
        else:
            found[table] = path
    return found, [p for p in files if p.suffix.lower() in WORKBOOK_SUFFIXES]


def _read_folder(folder: Path, report: ValidationReport) -> dict[str, pd.DataFrame]:
    found, books = _table_files(folder, report)
    raw: dict[str, pd.DataFrame] = {}
    for table, path in found.items():
        frame = _read_file(path, table, report)
        if frame is not None:
            raw[table] = frame
    if not found:
        if len(books) == 1:
            return _read_xlsx(books[0], report)
        if len(books) > 1:
            report.error("", None, "", str(folder), f"folder {folder} holds no table files and "
                         f"several workbooks ({', '.join(p.name for p in books)}); name one of them")
    return raw


def source_files(source: str | Path) -> list[Path]:
    """The files that reading ``source`` (a folder or one file) takes its tables from, sorted."""
    path = Path(source)
    if not path.is_dir():
        return [path]
    found, books = _table_files(path, ValidationReport())
    if found:
        return sorted(found.values())
    return books if len(books) == 1 else []


def _read_payload(payload: Mapping[str, Any], origin: str, report: ValidationReport) -> dict[str, pd.DataFrame]:
    raw: dict[str, pd.DataFrame] = {}
    for key, value in payload.items():
        table = table_key(str(key))
        if table is None:
            report.warning("", None, "", str(key), f"{origin}: {key!r} is not one of the input "
                           "tables; ignored")
            continue
        if table in raw:
            report.warning(table, None, "", str(key), f"{origin}: a second entry for {table} "
                           f"({key!r}) is ignored")
            continue
        frame = _records_frame(value, table, f"{origin}[{key}]", report)
        if frame is not None:
            raw[table] = frame
    return raw


def read_raw(source: Any) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """The tables as read, before any normalisation, plus the report of reading problems."""
    report = ValidationReport()
    if isinstance(source, Mapping):
        return _read_payload(source, "payload", report), report
    if source is None:
        report.error("", None, "", "", "no input data given (a folder, an .xlsx workbook, "
                     "a JSON payload file or a payload dict)")
        return {}, report
    path = Path(source).expanduser()
    if not path.exists():
        report.error("", None, "", str(path), f"input {path} does not exist")
        return {}, report
    if path.is_dir():
        return _read_folder(path, report), report
    suffix = path.suffix.lower()
    if suffix in WORKBOOK_SUFFIXES:
        return _read_xlsx(path, report), report
    if suffix == ".json":
        obj = _read_json(path, "", report)
        if obj is None:
            return {}, report
        if isinstance(obj, dict):
            return _read_payload(obj, path.name, report), report
        table = table_key(path.stem)
        if table is not None:  # a single table file given directly
            frame = _records_frame(obj, table, path.name, report)
            return ({table: frame} if frame is not None else {}), report
        report.error("", None, "", path.name, f"file {path.name} is not a JSON payload: expected "
                     "an object {table: [records], ...}")
        return {}, report
    table = table_key(path.stem)
    if suffix in DATA_SUFFIXES and table is not None:
        frame = _read_file(path, table, report)
        return ({table: frame} if frame is not None else {}), report
    report.error("", None, "", path.name, f"cannot read {path.name}: give a folder, an .xlsx "
                 "workbook or a JSON payload file")
    return {}, report


def load_tables(source: Any) -> tuple[dict[str, pd.DataFrame], ValidationReport]:
    """Read and validate the 12 tables; never raises for bad data.

    ``source``: a folder, an ``.xlsx`` workbook, a JSON payload file, or a payload dict
    (table -> list of records or DataFrame). Returns ``(tables, report)``: every table present
    (optional ones possibly empty) in canonical form, and the :class:`ValidationReport`.
    """
    raw, report = read_raw(source)
    tables = normalise_all(raw, report)
    return tables, report

"""Readers for every export format: bytes in, a frame of canonical text columns out.

A reader decides only what a file *is* and lays its cells out under canonical names; it never
judges a row (``rules.py`` does). A file that cannot be read as its format raises
``RejectedFile`` with a sentence for the operator.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path

import polars as pl
import python_calamine

from pipelines.ingest.reference import UnitRegistry, normalize_text, spreadsheet_number_to_id

DOSSIER_COLUMNS = [
    "dossier_id", "procedure_code", "procedure_name", "sector_code", "sector_name",
    "unit_code", "unit_name", "handling_level", "commune_name", "channel", "service_level",
    "received", "due", "finished", "returned", "status", "vneid", "digitized", "applicant_id",
]  # fmt: skip
PAKN_COLUMNS = ["pakn_id", "unit_code", "received", "due", "handled", "published"]
RATING_COLUMNS = ["dossier_id", "unit_code", "rated_at", "level"]
TASK_PROGRESS_COLUMNS = ["milestone_code", "unit_code", "done", "document_number"]
SELF_REPORT_COLUMNS = ["unit_code", "period_code", "indicator_code", "numerator", "denominator"]


class RejectedFile(Exception):
    """The whole file is refused; the message says why, in one sentence. It names positions (line,
    column), never a cell's content: reasons travel to audit, logs and alerts."""


# What one file may cost, checked before it is parsed (docs/decisions.md, "Limits").
MAX_LINE_BYTES = 1024 * 1024  # a CSV row or JSON line
MAX_WORKBOOK_INFLATED_BYTES = 256 * 1024 * 1024  # a workbook's members, unzipped
MAX_SHEET_CELLS = 20_000_000  # a worksheet's declared dimension (rows × columns)
_DIMENSION = re.compile(rb'<dimension\s+ref="(?:[A-Z]+\d+:)?([A-Z]+)(\d+)"')


@dataclass(frozen=True)
class ParsedFile:
    kind: str  # dossiers | pakn | ratings | task_progress | self_reports
    dialect: str  # dvcqg | igate | district | pakn | ratings | task_progress | self_reports
    rows: pl.DataFrame  # canonical text columns of the kind, plus row_number (1-based data row)


# Header (after normalize_text) -> canonical column, per CSV/XLSX dialect. ``None`` marks a
# column that is read only to be dropped (PII we do not keep).
IGATE_HEADER = {
    "mã hồ sơ": "dossier_id", "mã thủ tục": "procedure_code", "tên thủ tục": "procedure_name",
    "lĩnh vực": "sector_name", "đơn vị xử lý": "unit_name", "hình thức nộp": "channel",
    "mức độ dvc": "service_level", "số cccd/cmnd": "applicant_id", "ngày tiếp nhận": "received",
    "ngày hẹn trả": "due", "ngày có kết quả": "finished", "ngày trả kết quả": "returned",
    "trạng thái": "status", "xác thực vneid": "vneid", "kết quả điện tử": "digitized",
}  # fmt: skip
IGATE_OPTIONAL = {"procedure_code", "procedure_name"}
DISTRICT_HEADER = {
    "số biên nhận": "dossier_id", "thủ tục": "procedure_name", "lĩnh vực": "sector_name",
    "cấp xử lý": "handling_level", "phường/xã": "commune_name", "kênh nộp": "channel",
    "ngày nhận": "received", "hẹn trả": "due", "ngày hoàn thành": "finished", "ngày trả": "returned",
    "tình trạng": "status", "vneid": "vneid", "kq điện tử": "digitized", "số giấy tờ": "applicant_id",
}  # fmt: skip
DISTRICT_OPTIONAL = {"procedure_name"}
PAKN_HEADER = {
    "mã pakn": "pakn_id", "mã đơn vị": "unit_code", "ngày tiếp nhận": "received",
    "hạn xử lý": "due", "ngày xử lý": "handled", "ngày công khai": "published",
}  # fmt: skip
RATING_HEADER = {
    "mã hồ sơ": "dossier_id", "mã đơn vị": "unit_code", "thời điểm đánh giá": "rated_at",
    "mức độ hài lòng": "level",
}  # fmt: skip
# The plan's two self-reported exports (docs/plan-exports.md). "Ghi chú" is free text that may
# name people: read, never kept.
TASK_PROGRESS_HEADER = {
    "mã nhiệm vụ": "milestone_code", "mã đơn vị": "unit_code", "ngày hoàn thành": "done",
    "số văn bản": "document_number", "ghi chú": None,
}  # fmt: skip
SELF_REPORT_HEADER = {
    "mã đơn vị": "unit_code", "kỳ báo cáo": "period_code", "mã chỉ tiêu": "indicator_code",
    "tử số": "numerator", "mẫu số": "denominator", "ghi chú": None,
}  # fmt: skip
CSV_COLUMNS = {
    "dossiers": DOSSIER_COLUMNS, "pakn": PAKN_COLUMNS, "ratings": RATING_COLUMNS,
    "task_progress": TASK_PROGRESS_COLUMNS, "self_reports": SELF_REPORT_COLUMNS,
}  # fmt: skip
DISTRICT_HEADER_MARK = "số biên nhận"
DISTRICT_HEADER_SEARCH_ROWS = 20


def parse_file(path: Path, content: bytes, units: UnitRegistry) -> ParsedFile:
    """Reads one export; its format comes from its extension and header, never its name."""
    suffix = path.suffix.casefold()
    if is_json_lines(path):
        check_line_lengths(content)
        return ParsedFile("dossiers", "dvcqg", read_dvcqg(content))
    if suffix == ".csv":
        check_line_lengths(content)
        return read_csv_export(content)
    if suffix == ".xlsx":
        check_workbook_size(content)
        return ParsedFile("dossiers", "district", read_district_workbook(content, units))
    raise RejectedFile("unrecognised format (the file name's extension): expected .jsonl, .csv or .xlsx")


def is_json_lines(path: Path) -> bool:
    """A JSON Lines export (dvcqg dossiers), by its extension, as parse_file decides."""
    return path.suffix.casefold() == ".jsonl"


def parse_json_lines_files(contents: list[bytes]) -> list[ParsedFile] | None:
    """parse_file for several JSON Lines exports at once (read_dvcqg_files); None when any needs
    reading alone."""
    frames = read_dvcqg_files(contents)
    return None if frames is None else [ParsedFile("dossiers", "dvcqg", frame) for frame in frames]


def check_line_lengths(content: bytes) -> None:
    """Refuses a text file with a line longer than MAX_LINE_BYTES (no export row is that long).
    A file no longer than the limit cannot hold such a line: nearly every file skips the scan."""
    if len(content) <= MAX_LINE_BYTES:
        return
    lengths = [len(line) for line in content.split(b"\n")]
    if max(lengths) > MAX_LINE_BYTES:
        number = next(i for i, length in enumerate(lengths, start=1) if length > MAX_LINE_BYTES)
        raise RejectedFile(f"line {number} is longer than {MAX_LINE_BYTES // 1024} KiB: not an export row")


def check_workbook_size(content: bytes) -> None:
    """Refuses a workbook whose members inflate past MAX_WORKBOOK_INFLATED_BYTES, or whose sheets
    declare more than MAX_SHEET_CELLS cells, before any reader allocates for it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        raise RejectedFile("corrupt or unreadable workbook (not a zip archive)") from None
    inflated = sum(member.file_size for member in members)
    if inflated > MAX_WORKBOOK_INFLATED_BYTES:
        raise RejectedFile(
            f"the workbook inflates to {inflated // 2**20} MiB, over the {MAX_WORKBOOK_INFLATED_BYTES // 2**20} MiB an export may take"
        )
    for member in members:
        if not (member.filename.startswith("xl/worksheets/") and member.filename.endswith(".xml")):
            continue
        try:
            with archive.open(member) as sheet:
                head = sheet.read(64 * 1024)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            raise RejectedFile("corrupt or unreadable workbook (a sheet cannot be unzipped)") from None
        if match := _DIMENSION.search(head):
            rows, columns = int(match[2]), _column_number(match[1].decode())
            if rows * columns > MAX_SHEET_CELLS:
                raise RejectedFile(
                    f"a sheet declares {rows:,} rows × {columns:,} columns, over the {MAX_SHEET_CELLS:,} cells an export may have"
                )


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - ord("A") + 1
    return number


@dataclass(frozen=True)
class _Utf8:
    """A text file's bytes, without byte-order mark (Polars reads bytes several times faster than
    a Python string), and whether the text is NFC already."""

    content: bytes
    is_nfc: bool


def _utf8(content: bytes) -> _Utf8:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise RejectedFile(
            f"not UTF-8 text (invalid byte at position {error.start}); ask the unit to re-export it as UTF-8"
        ) from None
    return _Utf8(content.removeprefix(codecs.BOM_UTF8), unicodedata.is_normalized("NFC", text))


def _blank_to_null(value: object) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", str(value)).strip()
    return text or None


def _numbered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_row_index("row_number", offset=1).with_columns(pl.col("row_number").cast(pl.Int64))


def _laid_out(
    frame: pl.DataFrame, cells: dict[str, pl.Expr], columns: list[str], *, already_nfc: bool, computed: dict[str, pl.Expr] | None = None
) -> pl.DataFrame:
    """A reader's frame in canonical columns, numbered from 1: each text cell as every export's are
    kept (NFC, trimmed, empty as null), a column the export lacks as nulls, ``computed`` as given.
    Normalising costs Polars seven times what Python's check of a file's whole text does, so a
    text file found NFC skips it."""

    def kept(cell: pl.Expr) -> pl.Expr:
        return (cell if already_nfc else cell.str.normalize("NFC")).str.strip_chars().replace("", None)

    laid_out = {name: kept(cell) for name, cell in cells.items()} | (computed or {})
    return _numbered(frame.select(laid_out.get(c, pl.lit(None, pl.String)).alias(c) for c in columns))


def _frame(records: list[dict[str, str | None]], columns: list[str]) -> pl.DataFrame:
    return _numbered(pl.DataFrame(records, schema={c: pl.String for c in columns}))


# --- dvcqg: JSON Lines ---------------------------------------------------------------------------

_DVCQG_FIELDS = {
    "MaHoSo": "dossier_id", "MaTTHC": "procedure_code", "TenTTHC": "procedure_name",
    "MaLinhVuc": "sector_code", "TenLinhVuc": "sector_name", "DonViXuLy": "unit_code",
    "KenhThucHien": "channel", "MucDoDVC": "service_level", "NgayTiepNhan": "received",
    "NgayHenTra": "due", "NgayKetThucXuLy": "finished", "NgayTra": "returned",
    "TrangThaiHoSo": "status", "TaiKhoanDuocXacThucVoiVNeID": "vneid", "SoGiayToChuHoSo": "applicant_id",
}  # fmt: skip
MALFORMED_LINE = "__malformed__"


def _is_digitized(results: object) -> str:
    if not isinstance(results, list):
        return "0"
    return "1" if any(isinstance(r, dict) and _blank_to_null(r.get("DuongDanTepTinKetQua")) for r in results) else "0"


_DVCQG_SCHEMA = {
    **dict.fromkeys(_DVCQG_FIELDS, pl.String),
    "DanhSachGiayToKetQua": pl.List(pl.Struct({"DuongDanTepTinKetQua": pl.String})),
}


def read_dvcqg(content: bytes) -> pl.DataFrame:
    """Polars' JSON reader for a well-formed file; line by line when any line is not an object
    of the expected shape, so that a bad line is kept (and quarantined) instead of the file lost."""
    text = _utf8(content)
    try:
        frame = pl.read_ndjson(text.content, schema=_DVCQG_SCHEMA)
    except (pl.exceptions.PolarsError, ValueError):
        return _read_dvcqg_lines(text.content.decode("utf-8"))
    return _dvcqg_laid_out(frame, [text])


def read_dvcqg_files(contents: list[bytes]) -> list[pl.DataFrame] | None:
    """Several JSON Lines exports in one call of Polars' reader, each file's frame as read_dvcqg
    gives it: a call costs milliseconds whatever the file's size, and a drop brings twenty small
    files. None when any of them needs read_dvcqg's own care (not UTF-8, a line too long or not an
    object of the expected shape): each is then read alone."""
    try:
        for content in contents:
            check_line_lengths(content)
        texts = [_utf8(content) for content in contents]
        frame = pl.read_ndjson(b"\n".join(text.content for text in texts), schema=_DVCQG_SCHEMA)
    except (RejectedFile, pl.exceptions.PolarsError, ValueError):
        return None
    # Polars skips blank lines, as _read_dvcqg_lines does: each file's rows are its other lines.
    counts = [sum(1 for line in text.content.split(b"\n") if line.strip()) for text in texts]
    if sum(counts) != frame.height:
        return None
    laid_out = _dvcqg_laid_out(frame, texts)
    starts = accumulate(counts, initial=0)
    return [laid_out.slice(start, count).with_columns(pl.col("row_number") - start) for start, count in zip(starts, counts)]


def _dvcqg_laid_out(frame: pl.DataFrame, texts: list[_Utf8]) -> pl.DataFrame:
    # A \u escape may spell a character NFC changes, unseen by the check of the file's text.
    already_nfc = all(text.is_nfc and b"\\u" not in text.content for text in texts)
    path = pl.element().struct.field("DuongDanTepTinKetQua").str.strip_chars()
    digitized = pl.col("DanhSachGiayToKetQua").list.eval(path.is_not_null() & (path != "")).list.any().fill_null(False)
    return _laid_out(
        frame,
        {canonical: pl.col(key) for key, canonical in _DVCQG_FIELDS.items()},
        DOSSIER_COLUMNS,
        already_nfc=already_nfc,
        computed={"digitized": pl.when(digitized).then(pl.lit("1")).otherwise(pl.lit("0"))},
    )


def _read_dvcqg_lines(text: str) -> pl.DataFrame:
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            item = None
        if not isinstance(item, dict):
            # Kept as a row so that it is quarantined and counted, never silently skipped.
            records.append({**dict.fromkeys(DOSSIER_COLUMNS), "status": MALFORMED_LINE})
            continue
        record = {canonical: _blank_to_null(_json_text(item.get(key))) for key, canonical in _DVCQG_FIELDS.items()}
        record["digitized"] = _is_digitized(item.get("DanhSachGiayToKetQua"))
        records.append(record)
    return _frame(records, DOSSIER_COLUMNS)


def _json_text(value: object) -> object:
    """A JSON value as Polars' reader writes it into a text column (2.0 → "2", true → "true")."""
    if isinstance(value, (bool, dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value


# --- CSV: igate dossiers, PAKN, ratings ----------------------------------------------------------


def read_csv_export(content: bytes) -> ParsedFile:
    text = _utf8(content)
    try:
        raw = pl.read_csv(text.content, infer_schema=False, truncate_ragged_lines=False)
    except (pl.exceptions.PolarsError, ValueError):
        # Polars' message quotes the offending row (names, ID numbers): say where, not what.
        raise RejectedFile(f"not a well-formed CSV file ({_csv_fault(text.content.decode('utf-8'))})") from None
    headers = {normalize_text(name): name for name in raw.columns}
    if "mã pakn" in headers:
        kind, dialect, mapping, optional = "pakn", "pakn", PAKN_HEADER, set()
    elif "mức độ hài lòng" in headers:
        kind, dialect, mapping, optional = "ratings", "ratings", RATING_HEADER, set()
    elif "mã nhiệm vụ" in headers:
        kind, dialect, mapping, optional = "task_progress", "task_progress", TASK_PROGRESS_HEADER, {None}
    elif "mã chỉ tiêu" in headers:
        kind, dialect, mapping, optional = "self_reports", "self_reports", SELF_REPORT_HEADER, {None}
    elif "mã hồ sơ" in headers:
        kind, dialect, mapping, optional = "dossiers", "igate", IGATE_HEADER, IGATE_OPTIONAL
    else:
        raise RejectedFile(
            "unrecognised format: the CSV header matches none of the igate dossier, PAKN, rating, task progress or self-report exports"
        )
    missing = [h for h, c in mapping.items() if c not in optional and h not in headers]
    if missing:
        raise RejectedFile(f"required column(s) missing from the {dialect} header: {', '.join(missing)}")
    cells = {c: pl.col(headers[h]) for h, c in mapping.items() if h in headers and c is not None}
    return ParsedFile(kind, dialect, _laid_out(raw, cells, CSV_COLUMNS[kind], already_nfc=text.is_nfc))


def _csv_fault(text: str) -> str:
    """Where a CSV file breaks RFC 4180, by line number only."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        width = len(next(reader, []))
        for row in reader:
            if row and len(row) != width:
                return f"line {reader.line_num} has {len(row)} fields where the header has {width}"
    except csv.Error:
        return f"the quoting breaks at line {reader.line_num}"
    return "its rows cannot be split into the header's columns"


# --- district: Excel workbook ---------------------------------------------------------------------


def _cell_text(value: object, *, is_id: bool = False) -> str | None:
    if type(value) is str:  # most cells, so tested first
        return _blank_to_null(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return "x" if value else None
    if isinstance(value, (int, float)):
        if is_id:
            return spreadsheet_number_to_id(value)
        return str(int(value)) if float(value).is_integer() else str(value)
    return _blank_to_null(value)


def read_district_workbook(content: bytes, units: UnitRegistry) -> pl.DataFrame:
    try:
        sheet = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(content)).get_sheet_by_index(0)
        cells = sheet.to_python(skip_empty_area=False)
    except Exception as error:  # calamine raises several unrelated types for a broken file
        raise RejectedFile(f"corrupt or unreadable workbook ({type(error).__name__})") from None
    header_index = next(
        (i for i, row in enumerate(cells[:DISTRICT_HEADER_SEARCH_ROWS])
         if any(isinstance(c, str) and normalize_text(c) == DISTRICT_HEADER_MARK for c in row)),
        None,
    )  # fmt: skip
    if header_index is None:
        raise RejectedFile(f"no header row: no cell reads 'Số biên nhận' in the first {DISTRICT_HEADER_SEARCH_ROWS} rows of the first sheet")
    district_code = next(
        (code for row in cells[:header_index] for c in row if isinstance(c, str) and (code := units.match_district_title(c))),
        None,
    )  # fmt: skip
    if district_code is None:
        raise RejectedFile("the title block above the header names no registered district")
    positions = {normalize_text(c): i for i, c in enumerate(cells[header_index]) if isinstance(c, str) and c.strip()}
    missing = [h for h, c in DISTRICT_HEADER.items() if c not in DISTRICT_OPTIONAL and h not in positions]
    if missing:
        raise RejectedFile(f"required column(s) missing from the district header: {', '.join(missing)}")

    rows = cells[header_index + 1 : header_index + 1 + _data_row_count(cells[header_index + 1 :])]
    # Column by column: Python writes only the cells that are not text (dates, numbers, ticks),
    # Polars trims and normalises the text, as for the CSV and JSON exports.
    columns = {
        column: [
            cell if type(cell) is str else _cell_text(cell, is_id=column == "applicant_id")
            for cell in (row[position] for row in rows)
        ]
        for header, column in DISTRICT_HEADER.items()
        if (position := positions.get(header)) is not None
    }
    frame = pl.DataFrame(columns, schema={c: pl.String for c in columns}, orient="col", height=len(rows))
    cells = {c: pl.col(c) for c in columns}
    return _laid_out(frame, cells, DOSSIER_COLUMNS, already_nfc=False, computed={"unit_code": pl.lit(district_code)})


def _data_row_count(rows: list[list]) -> int:
    """The rows above the first blank or totals row: that row ends the data, anything below is a footer."""
    for count, row in enumerate(rows):
        first = _cell_text(row[0]) if row else None
        if first is None and not any(_cell_text(cell) is not None for cell in row[1:]):
            return count
        if first and normalize_text(first).startswith("tổng"):
            return count
    return len(rows)

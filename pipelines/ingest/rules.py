"""Row rules: canonical text columns in, typed rows to load and rows to quarantine out.

Every rule of ``docs/exports.md`` is one named reason. A row breaking any rule is quarantined
with all the reasons it breaks and its non-PII values; every other row is loaded. Applicant ID
numbers leave this module only as keyed hashes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from pipelines.ingest.dialects import MALFORMED_LINE, ParsedFile
from pipelines.ingest.reference import (
    AMBIGUOUS_UNIT,
    PlanCatalogue,
    SectorCatalogue,
    UnitRegistry,
    applicant_hasher,
    normalize_text,
    normalized_applicant_id,
)

STATUS_LABELS = {
    "dvcqg": {str(code): code for code in range(1, 11)},
    "igate": {
        "mới đăng ký": 1, "đã tiếp nhận": 2, "không tiếp nhận": 3, "đang xử lý": 4, "chờ bổ sung": 5,
        "chờ thực hiện nghĩa vụ tài chính": 6, "đã rút": 7, "dừng xử lý": 8, "đã xử lý xong": 9,
        "đã trả kết quả": 10,
    },
    "district": {
        "tiếp nhận": 2, "từ chối": 3, "đang xử lý": 4, "bổ sung": 5, "chờ nvtc": 6, "rút hs": 7,
        "dừng": 8, "đã xử lý": 9, "đã trả": 10,
    },
}  # fmt: skip
CHANNEL_LABELS = {
    "dvcqg": {"1": 1, "2": 2, "3": 3},
    "igate": {"trực tiếp": 1, "trực tuyến": 2, "bưu chính công ích": 3, "bcci": 3},
}
SERVICE_LEVEL_LABELS = {
    "dvcqg": {"toan_trinh": "TOAN_TRINH", "mot_phan": "MOT_PHAN"},
    "igate": {"toàn trình": "TOAN_TRINH", "một phần": "MOT_PHAN"},
}
# The district workbook folds the service level into the channel label.
DISTRICT_CHANNEL_LABELS = {
    "trực tiếp": (1, None), "trực tuyến": (2, None), "trực tuyến (toàn trình)": (2, "TOAN_TRINH"),
    "trực tuyến (một phần)": (2, "MOT_PHAN"), "bcci": (3, None), "bưu chính công ích": (3, None),
}  # fmt: skip
FLAG_LABELS = {"1": True, "có": True, "x": True, "true": True, "0": False, "không": False, "false": False}
RATING_LEVELS = {"rất hài lòng": 5, "hài lòng": 4, "bình thường": 3, "không hài lòng": 2, "rất không hài lòng": 1}

DOSSIER_DATES = {"received": "received_at", "due": "due_at", "finished": "finished_at", "returned": "returned_at"}
PAKN_DATES = {"received": "received_on", "due": "due_on", "handled": "handled_on", "published": "published_on"}
PII_COLUMNS = {"applicant_id"}
# What a date cell of any dialect looks like: dd/mm/yyyy [hh:mm[:ss]], yyyymmdd[hhmmss], ISO.
DATE_SHAPE = r"^\s*(\d{1,2}[/.-]\d{1,2}[/.-]\d{4}([ T]\d{1,2}:\d{2}(:\d{2})?)?|\d{8}(\d{6})?|\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?)\s*$"
# Signs that a row's fields are out of place (a broken quote or line break shifted or merged them),
# so that an applicant's name or number may sit in any column: a date cell holding something else,
# a date, a line break or a phone or ID number (9 digits or more) in any other cell. No value of
# such a row is kept.
DATE_INSIDE = r"\d{1,2}/\d{1,2}/\d{4}|(^|\D)\d{14}(\D|$)"
PII_LIKE = r"[\r\n]|\d{9,}"
HIDDEN_VALUES = '{"hidden": "the row\'s fields are out of place (a date column holds something else): its values are not kept"}'
# No dossier, PAKN item or rating of the plan is older; an earlier date is a typo (1900, 0024…).
EARLIEST_PLAUSIBLE = dt.date(2000, 1, 1)


@dataclass(frozen=True)
class CheckedRows:
    loaded: pl.DataFrame
    quarantined: pl.DataFrame  # row_number, record_key, reasons, raw_values (JSON, no PII)
    online_without_level: int = 0


def label(column: str) -> pl.Expr:
    """``reference.normalize_text`` as a Polars expression, for labels on every row (the readers
    wrote every cell NFC)."""
    return pl.col(column).str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


# (format, is a date without time), the most frequent first. No text matches two of them, so
# the first that parses a value is the only one: a column stops being parsed once every value is.
_FORMATS = [
    ("%Y%m%d%H%M%S", False), ("%d/%m/%Y %H:%M", False), ("%d/%m/%Y", True), ("%Y-%m-%d %H:%M:%S", False),
    ("%d/%m/%Y %H:%M:%S", False), ("%Y-%m-%d", True), ("%Y-%m-%dT%H:%M:%S", False), ("%Y%m%d", True),
]  # fmt: skip


def _parse_datetimes(raw: pl.Series) -> pl.Series:
    text = raw.str.strip_chars()
    parsed = pl.Series(raw.name, [None] * len(raw), dtype=pl.Datetime("us"))
    for fmt, is_date in _FORMATS:
        if not (parsed.is_null() & text.is_not_null()).any():
            break
        if is_date:
            parsed = parsed.fill_null(text.str.strptime(pl.Date, fmt, strict=False).cast(pl.Datetime("us")))
        else:
            parsed = parsed.fill_null(text.str.strptime(pl.Datetime("us"), fmt, strict=False))
    return parsed


def parse_datetime(column: str) -> pl.Expr:
    return pl.col(column).map_batches(_parse_datetimes, return_dtype=pl.Datetime("us"))


def _lookup(expr: pl.Expr, mapping: dict, dtype: pl.DataType) -> pl.Expr:
    return expr.replace_strict(mapping, default=None, return_dtype=dtype)


def _map_unique(frame: pl.DataFrame, columns: list[str], function, alias: str) -> pl.DataFrame:
    """Applies a Python lookup once per distinct value combination, then joins it back."""
    distinct = frame.select(columns).unique()
    mapped = distinct.with_columns(
        pl.Series(alias, [function(*values) for values in distinct.iter_rows()], dtype=pl.String)
    )
    return frame.join(mapped, on=columns, how="left", nulls_equal=True)


def _split(
    parsed: ParsedFile, frame: pl.DataFrame, rules: list[tuple[pl.Expr, str]], key: str, date_columns: list[str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows breaking no rule, and the others with their reasons and their file values minus PII
    (none at all for a row whose fields are out of place)."""
    raw_columns = [c for c in parsed.rows.columns if c != "row_number" and c not in PII_COLUMNS]
    reasons = pl.concat_str([pl.when(rule).then(pl.lit(reason)) for rule, reason in rules], separator="; ", ignore_nulls=True)
    frame = frame.with_columns(reasons.alias("_reasons"))
    bad = frame.filter(pl.col("_reasons") != "")
    text = {c: pl.col(c).cast(pl.String) for c in raw_columns}
    misaligned = pl.any_horizontal(
        *(text[c].is_not_null() & ~text[c].str.contains(DATE_SHAPE).fill_null(False) for c in date_columns),
        *(text[c].str.contains(DATE_INSIDE).fill_null(False) for c in raw_columns if c not in date_columns),
        *(text[c].str.contains(PII_LIKE).fill_null(False) for c in raw_columns if c not in date_columns),
    )
    quarantined = bad.select(
        "row_number",
        pl.when(misaligned).then(None).otherwise(pl.col(key)).alias("record_key"),
        pl.col("_reasons").alias("reasons"),
        pl.when(misaligned).then(pl.lit(HIDDEN_VALUES)).otherwise(pl.struct(raw_columns).struct.json_encode()).alias("raw_values"),
    )
    return frame.filter(pl.col("_reasons") == "").drop("_reasons"), quarantined


def _registered(units: UnitRegistry) -> pl.Expr:
    return pl.col("unit_code").is_in(list(units.units)).fill_null(False)


def _unparseable(dates: dict[str, str]) -> pl.Expr:
    return pl.any_horizontal(pl.col(raw).is_not_null() & pl.col(parsed).is_null() for raw, parsed in dates.items())


def _after_drop(columns: list[str], drop_date: dt.date) -> tuple[pl.Expr, str]:
    """An event (received, finished, handled, rated…) dated after the night its file was dropped
    has not happened yet: a typo or a clock error. Due dates lie ahead by nature and are not checked."""
    return pl.any_horizontal(pl.col(c).dt.date() > drop_date for c in columns).fill_null(False), "date_after_drop"


def _before_2000(columns: list[str]) -> tuple[pl.Expr, str]:
    return pl.any_horizontal(pl.col(c).dt.date() < EARLIEST_PLAUSIBLE for c in columns).fill_null(False), "date_before_2000"


def check_dossiers(parsed: ParsedFile, units: UnitRegistry, sectors: SectorCatalogue, salt: str, drop_date: dt.date) -> CheckedRows:
    frame, dialect = parsed.rows, parsed.dialect

    if dialect == "district":
        channel = _lookup(label("channel"), {k: v[0] for k, v in DISTRICT_CHANNEL_LABELS.items()}, pl.Int8)
        level = _lookup(label("channel"), {k: v[1] for k, v in DISTRICT_CHANNEL_LABELS.items() if v[1]}, pl.String)
        level_unknown = pl.lit(False)

        def unit_of(level_label, commune, district):
            match normalize_text(level_label or ""):
                case "huyện":
                    return district
                case "xã":
                    return units.match_commune(commune, district)
            return None

        frame = _map_unique(frame, ["handling_level", "commune_name", "unit_code"], unit_of, "resolved_unit")
    else:
        channel = _lookup(label("channel"), CHANNEL_LABELS[dialect], pl.Int8)
        level = _lookup(label("service_level"), SERVICE_LEVEL_LABELS[dialect], pl.String)
        level_unknown = pl.col("service_level").is_not_null() & level.is_null() & (channel == 2)
        if dialect == "igate":
            frame = _map_unique(frame, ["unit_name"], units.match_name, "resolved_unit")
        else:
            frame = frame.with_columns(pl.when(_registered(units)).then(pl.col("unit_code")).alias("resolved_unit"))

    frame = _map_unique(frame, ["sector_code", "sector_name"], sectors.code_for, "resolved_sector")

    # Normalised on the whole column, then one keyed hash per distinct ID.
    frame = frame.with_columns(normalized_applicant_id("applicant_id").alias("_applicant"))
    frame = _map_unique(frame, ["_applicant"], applicant_hasher(salt), "applicant_hash")

    frame = frame.with_columns(
        *(parse_datetime(raw).alias(parsed_name) for raw, parsed_name in DOSSIER_DATES.items()),
        _lookup(label("status"), STATUS_LABELS[dialect], pl.Int8).alias("status_code"),
        channel.alias("channel_code"),
        pl.when(channel == 2).then(level).alias("service_level_code"),
        level_unknown.alias("_level_unknown"),
        _lookup(label("vneid").fill_null("0"), FLAG_LABELS, pl.Boolean).alias("vneid_authenticated"),
        _lookup(label("digitized").fill_null("0"), FLAG_LABELS, pl.Boolean).alias("result_digitized"),
    )
    received_day = pl.col("received_at").dt.date()
    rules = [
        (pl.col("status") == MALFORMED_LINE, "malformed_line"),
        (pl.col("dossier_id").is_null(), "missing_dossier_id"),
        (_unparseable(DOSSIER_DATES), "unparseable_date"),
        (pl.col("received").is_null(), "missing_received_date"),
        (pl.col("due").is_null(), "missing_due_date"),
        (
            pl.any_horizontal(pl.col(c).dt.date() < received_day for c in ("due_at", "finished_at", "returned_at")).fill_null(False),
            "date_before_received",
        ),
        (pl.col("resolved_unit").is_null(), "unknown_unit"),
        (pl.col("resolved_unit") == AMBIGUOUS_UNIT, "ambiguous_unit"),
        (pl.col("resolved_sector").is_null(), "unknown_sector"),
        (pl.col("status_code").is_null() & (pl.col("status") != MALFORMED_LINE).fill_null(True), "unknown_status"),
        (pl.col("channel_code").is_null() | pl.col("_level_unknown"), "unknown_channel"),
        (pl.col("vneid_authenticated").is_null() | pl.col("result_digitized").is_null(), "unknown_flag"),
        (
            pl.col("status_code").is_in([9, 10]) & pl.col("finished_at").is_null() & pl.col("returned_at").is_null(),
            "resolved_without_finish_date",
        ),
        _after_drop(["received_at", "finished_at", "returned_at"], drop_date),
        _before_2000(list(DOSSIER_DATES.values())),
    ]
    good, quarantined = _split(parsed, frame, rules, "dossier_id", list(DOSSIER_DATES))
    loaded = good.select(
        "row_number",
        pl.col("dossier_id"),
        "procedure_code",
        "procedure_name",
        pl.col("resolved_sector").alias("sector_code"),
        pl.col("resolved_unit").alias("unit_code"),
        pl.col("channel_code").alias("channel"),
        pl.col("service_level_code").alias("service_level"),
        *DOSSIER_DATES.values(),
        pl.col("status_code").alias("status"),
        "vneid_authenticated",
        "result_digitized",
        "applicant_hash",
    )
    return CheckedRows(loaded, quarantined, online_without_level(loaded))


def online_without_level(loaded: pl.DataFrame) -> int:
    """Loaded online dossiers whose export gave no service level (counted, never guessed)."""
    return int(((loaded["channel"] == 2) & loaded["service_level"].is_null()).sum())  # Series: no query per file


def check_pakn(parsed: ParsedFile, units: UnitRegistry, drop_date: dt.date) -> CheckedRows:
    frame = parsed.rows.with_columns(*(parse_datetime(raw).dt.date().alias(day) for raw, day in PAKN_DATES.items()))
    rules = [
        (pl.col("pakn_id").is_null(), "missing_pakn_id"),
        (_unparseable(PAKN_DATES), "unparseable_date"),
        (pl.col("due").is_null(), "missing_due_date"),
        (~_registered(units), "unknown_unit"),
        _after_drop(["received_on", "handled_on", "published_on"], drop_date),
        _before_2000(list(PAKN_DATES.values())),
    ]
    good, quarantined = _split(parsed, frame, rules, "pakn_id", list(PAKN_DATES))
    return CheckedRows(good.select("row_number", "pakn_id", "unit_code", *PAKN_DATES.values()), quarantined)


def check_ratings(parsed: ParsedFile, units: UnitRegistry, drop_date: dt.date) -> CheckedRows:
    frame = parsed.rows.with_columns(
        parse_datetime("rated_at").alias("rated_at_parsed"),
        _lookup(label("level"), RATING_LEVELS, pl.Int8).alias("level_code"),
    )
    rules = [
        (pl.col("dossier_id").is_null(), "missing_dossier_id"),
        (pl.col("rated_at").is_null(), "missing_rating_date"),
        (_unparseable({"rated_at": "rated_at_parsed"}), "unparseable_date"),
        (~_registered(units), "unknown_unit"),
        (pl.col("level_code").is_null(), "unknown_level"),
        _after_drop(["rated_at_parsed"], drop_date),
        _before_2000(["rated_at_parsed"]),
    ]
    good, quarantined = _split(parsed, frame, rules, "dossier_id", ["rated_at"])
    loaded = good.select(
        "row_number", "dossier_id", "unit_code", pl.col("rated_at_parsed").alias("rated_at"), pl.col("level_code").alias("level")
    )
    return CheckedRows(loaded, quarantined)


# --- the plan's self-reported exports (docs/plan-exports.md) ------------------------------------

COUNT = r"^\d{1,12}$"  # a non-negative whole number, as units type it


def check_task_progress(parsed: ParsedFile, units: UnitRegistry, plan: PlanCatalogue, drop_date: dt.date) -> CheckedRows:
    """A row reports one milestone done by one unit; an empty date withdraws an earlier report."""
    owed = plan.obligations.with_columns(pl.lit(True).alias("_owed"))
    frame = parsed.rows.join(owed, on=["milestone_code", "unit_code"], how="left", maintain_order="left")
    frame = frame.with_columns(
        parse_datetime("done").dt.date().alias("done_on"),
        pl.concat_str(["milestone_code", "unit_code"], separator=" ", ignore_nulls=True).alias("progress_key"),
    )
    known_milestone = pl.col("milestone_code").is_in(list(plan.obligees)).fill_null(False)
    rules = [
        (~known_milestone, "unknown_milestone"),
        (~_registered(units), "unknown_unit"),
        (known_milestone & _registered(units) & pl.col("_owed").is_null(), "not_an_obligee"),
        (_unparseable({"done": "done_on"}), "unparseable_date"),
        (pl.col("done_on").is_not_null() & pl.col("document_number").is_null(), "missing_document_number"),
        _after_drop(["done_on"], drop_date),
        _before_2000(["done_on"]),
    ]
    good, quarantined = _split(parsed, frame, rules, "progress_key", ["done"])
    return CheckedRows(good.select("row_number", "milestone_code", "unit_code", "done_on", "document_number"), quarantined)


def check_self_reports(parsed: ParsedFile, units: UnitRegistry, plan: PlanCatalogue, drop_date: dt.date) -> CheckedRows:
    """A row is one unit's counts behind one indicator for one report period."""
    frame = parsed.rows.with_columns(
        *(pl.when(pl.col(c).str.contains(COUNT)).then(pl.col(c).cast(pl.Int64, strict=False)).alias(f"{c}_count") for c in ("numerator", "denominator")),
        pl.col("period_code").map_elements(plan.period_start, return_dtype=pl.Date).alias("period_start"),
        pl.concat_str(["unit_code", "period_code", "indicator_code"], separator=" ", ignore_nulls=True).alias("report_key"),
    )
    rules = [
        (~_registered(units), "unknown_unit"),
        (_registered(units) & ~pl.col("unit_code").is_in(list(plan.reporting_units)).fill_null(False), "not_a_reporting_unit"),
        # A period that has not begun by the night of the drop cannot have been measured yet.
        (pl.col("period_start").is_null() | (pl.col("period_start") > drop_date).fill_null(False), "unknown_period"),
        (~pl.col("indicator_code").is_in(list(plan.indicators)).fill_null(False), "unknown_indicator"),
        (pl.col("numerator_count").is_null() | pl.col("denominator_count").is_null(), "count_not_a_whole_number"),
        ((pl.col("numerator_count") > pl.col("denominator_count")).fill_null(False), "numerator_above_denominator"),
    ]
    good, quarantined = _split(parsed, frame, rules, "report_key", [])
    loaded = good.select(
        "row_number", "unit_code", "period_code", "indicator_code",
        pl.col("numerator_count").alias("numerator"), pl.col("denominator_count").alias("denominator"),
    )  # fmt: skip
    return CheckedRows(loaded, quarantined)

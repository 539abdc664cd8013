"""`make bench-data SCALE=...`: a synthetic city-year of nightly drops, in every dialect.

One drop folder per working day of 2024 (the plan's 2024 holidays and make-up Saturday), each the
delta of that day: dossiers received that day (still in progress unless finished the same day) and
dossiers finished or returned that day (their final state), so most dossiers arrive twice and the
pipeline must supersede. Departments send dvcqg JSON Lines, most districts the igate CSV, a few
districts (with the wards of Ba Đình and Hoàn Kiếm) the district workbook; PAKN and ratings come
as their CSVs. Volumes, on-time, online, VNeID and digitisation rates vary by unit. Deterministic
for a given scale and seed. Applicant PII is fake but present, as in real exports.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from openpyxl import Workbook

from pipelines.config import PROJECT_ROOT, SEEDS_DIR
from pipelines.progress import progress

HOLIDAYS = Path(__file__).parent / "holidays_2024.csv"
YEAR = 2024
XLSX_DISTRICTS = ["001", "002", "272", "276", "281"]  # districts whose one-stop system exports workbooks
STATUS_IGATE = {2: "Đã tiếp nhận", 4: "Đang xử lý", 7: "Đã rút", 9: "Đã xử lý xong", 10: "Đã trả kết quả"}
STATUS_DISTRICT = {2: "Tiếp nhận", 4: "Đang xử lý", 7: "Rút HS", 9: "Đã xử lý", 10: "Đã trả"}
CHANNEL_IGATE = {1: "Trực tiếp", 2: "Trực tuyến", 3: "Bưu chính công ích"}
RATINGS = ["Rất không hài lòng", "Không hài lòng", "Bình thường", "Hài lòng", "Rất hài lòng"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ"]
GIVEN = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hương", "Lan", "Minh", "Nam", "Phương", "Quân", "Trang"]


def working_days(until: dt.date) -> np.ndarray:
    """Working days from 1 Jan of YEAR to ``until``: Monday–Friday, minus holidays, plus make-up days."""
    with HOLIDAYS.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    holidays = {dt.date.fromisoformat(r["date"]) for r in rows if r["kind"] == "holiday"}
    extra = {dt.date.fromisoformat(r["date"]) for r in rows if r["kind"] == "workday"}
    day, days = dt.date(YEAR, 1, 1), []
    while day <= until:
        if (day.weekday() < 5 and day not in holidays) or day in extra:
            days.append(day)
        day += dt.timedelta(days=1)
    return np.array(days, dtype="datetime64[D]")


def read_seed(name: str) -> list[dict[str, str]]:
    with (SEEDS_DIR / name).open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def generate_dossiers(scale: int, rng: np.random.Generator) -> pl.DataFrame:
    """One row per dossier with its whole life: received, due, finished, returned."""
    units = [u for u in read_seed("units.csv") if u["level"] != "city"]
    sectors = read_seed("sectors.csv")
    weight = {"department": 1.0, "district": 2.5, "commune": 0.25}
    weights = np.array([weight[u["level"]] for u in units]) * rng.lognormal(0, 0.5, len(units))
    unit_index = rng.choice(len(units), size=scale, p=weights / weights.sum())
    # Rates by unit: most units meet the on-time target, some clearly do not.
    on_time_rate = np.where(rng.random(len(units)) < 0.7, rng.uniform(0.997, 1.0, len(units)), rng.uniform(0.9, 0.99, len(units)))
    online_rate = rng.uniform(0.35, 0.95, len(units))
    full_online_rate = rng.uniform(0.6, 0.98, len(units))
    vneid_rate = rng.uniform(0.3, 0.9, len(units))
    digitized_rate = rng.uniform(0.4, 0.95, len(units))

    calendar = working_days(dt.date(YEAR + 1, 6, 30))
    year_days = int((calendar <= np.datetime64(f"{YEAR}-12-31")).sum())
    received_index = rng.integers(0, year_days, scale)
    allowed = rng.choice([1, 2, 3, 5, 7, 10, 15, 20], size=scale, p=[0.1, 0.1, 0.2, 0.2, 0.15, 0.15, 0.05, 0.05])
    due_index = received_index + allowed
    on_time = rng.random(scale) < on_time_rate[unit_index]
    finish_index = np.where(on_time, received_index + rng.integers(0, allowed + 1), due_index + rng.integers(1, 11, scale))
    return_index = finish_index + rng.choice([0, 0, 1, 2, 3], size=scale)
    withdrawn = rng.random(scale) < 0.01
    not_returned = rng.random(scale) < 0.15  # finished, result not yet handed over (status 9)

    at_work = lambda days: (days + rng.integers(7 * 60 + 30, 17 * 60, scale).astype("timedelta64[m]")).astype("datetime64[us]")  # noqa: E731
    channel = np.where(rng.random(scale) < online_rate[unit_index], 2, np.where(rng.random(scale) < 0.9, 1, 3))
    sector_index = rng.integers(0, len(sectors), scale)
    # A commune's display name carries its district, as one-stop exports write it: fourteen commune
    # names exist in two districts, and a bare one would be quarantined as ambiguous.
    district_names = {u["unit_code"]: u["unit_name"] for u in units if u["level"] == "district"}
    display_names = [f"{u['unit_name']} ({district_names[u['parent_code']]})" if u["level"] == "commune" else u["unit_name"] for u in units]
    return pl.DataFrame(
        {
            "seq": np.arange(1, scale + 1),
            "unit_code": np.array([u["unit_code"] for u in units])[unit_index],
            "unit_name": np.array(display_names)[unit_index],
            "level": np.array([u["level"] for u in units])[unit_index],
            "parent_code": np.array([u["parent_code"] for u in units])[unit_index],
            "sector_code": np.array([s["sector_code"] for s in sectors])[sector_index],
            "sector_name": np.array([s["sector_name"] for s in sectors])[sector_index],
            "channel": channel,
            "fully_online": (channel == 2) & (rng.random(scale) < full_online_rate[unit_index]),
            "received_at": at_work(calendar[received_index]),
            "due_on": calendar[due_index],
            "finished_at": np.where(withdrawn, np.datetime64("NaT"), at_work(calendar[finish_index])),
            "returned_at": np.where(withdrawn | not_returned, np.datetime64("NaT"), at_work(calendar[return_index])),
            "withdrawn": withdrawn,
            "vneid": (channel == 2) & (rng.random(scale) < vneid_rate[unit_index]),
            "digitized": rng.random(scale) < digitized_rate[unit_index],
            "applicant": rng.integers(10**11, 10**12 - 1, scale // 2 + 1)[rng.integers(0, scale // 2 + 1, scale)],
            "family": rng.integers(0, len(FAMILY), scale),
            "given": rng.integers(0, len(GIVEN), scale),
        }
    ).with_columns(
        # The final state reaches the drop of the day it is settled: returned, else finished.
        pl.coalesce("returned_at", "finished_at").dt.date().alias("settled_on"),
    ).with_columns(
        pl.format("H26.{}-{}-{}", "unit_code", pl.col("received_at").dt.strftime("%y%m%d"), pl.col("seq").cast(pl.String).str.zfill(8)).alias("dossier_id"),
    )


def export_rows(dossiers: pl.DataFrame, last_drop: dt.date) -> pl.DataFrame:
    """The rows the drops carry: the state at receipt, and the final state on the day it is settled."""
    received_day = pl.col("received_at").dt.date()
    settled_same_day = pl.col("settled_on") == received_day
    at_receipt = dossiers.with_columns(
        pl.lit(None, pl.Datetime("us")).alias("finished_at"),
        pl.lit(None, pl.Datetime("us")).alias("returned_at"),
        pl.when(pl.col("withdrawn")).then(7).otherwise(4).alias("status"),
        received_day.alias("drop_on"),
    ).filter(~settled_same_day.fill_null(False) & ~pl.col("withdrawn"))
    settled = dossiers.filter(pl.col("settled_on").is_not_null() | pl.col("withdrawn")).with_columns(
        pl.when(pl.col("withdrawn")).then(7).when(pl.col("returned_at").is_not_null()).then(10).otherwise(9).alias("status"),
        pl.coalesce("settled_on", received_day).alias("drop_on"),
    )
    rows = pl.concat([at_receipt, settled.select(at_receipt.columns)])
    return rows.filter(pl.col("drop_on") <= last_drop).with_columns(
        pl.col("applicant").cast(pl.String).str.zfill(12).alias("applicant_id"),
        (pl.col("family").replace_strict(dict(enumerate(FAMILY)), return_dtype=pl.String) + " Văn " + pl.col("given").replace_strict(dict(enumerate(GIVEN)), return_dtype=pl.String)).alias("applicant_name"),
        ("Thủ tục thuộc lĩnh vực " + pl.col("sector_name")).alias("procedure_name"),
        ("1." + (pl.col("seq") % 2000 + 1000).cast(pl.String)).alias("procedure_code"),
    )  # fmt: skip


def write_dvcqg(rows: pl.DataFrame, folder: Path, stamp: str) -> None:
    stamp_of = lambda c: pl.col(c).dt.strftime("%Y%m%d%H%M%S")  # noqa: E731
    records = rows.select(
        pl.col("dossier_id").alias("MaHoSo"), pl.col("procedure_code").alias("MaTTHC"), pl.col("procedure_name").alias("TenTTHC"),
        pl.col("sector_code").alias("MaLinhVuc"), pl.col("sector_name").alias("TenLinhVuc"), pl.col("unit_code").alias("DonViXuLy"),
        pl.col("channel").alias("KenhThucHien"),
        pl.when(pl.col("channel") == 2).then(pl.when(pl.col("fully_online")).then(pl.lit("TOAN_TRINH")).otherwise(pl.lit("MOT_PHAN"))).alias("MucDoDVC"),
        pl.col("applicant_name").alias("ChuHoSo"), pl.col("applicant_id").alias("SoGiayToChuHoSo"),
        stamp_of("received_at").alias("NgayTiepNhan"), (pl.col("due_on").dt.strftime("%Y%m%d") + "170000").alias("NgayHenTra"),
        stamp_of("finished_at").alias("NgayKetThucXuLy"), stamp_of("returned_at").alias("NgayTra"),
        pl.col("status").alias("TrangThaiHoSo"), pl.col("vneid").cast(pl.Int8).alias("TaiKhoanDuocXacThucVoiVNeID"),
        pl.when(pl.col("status").is_in([9, 10])).then(
            pl.concat_list(pl.struct(
                pl.lit("Kết quả").alias("TenGiayTo"),
                pl.when(pl.col("digitized")).then("/kq/" + pl.col("dossier_id") + ".pdf").otherwise(pl.lit("")).alias("DuongDanTepTinKetQua"),
            ))
        ).alias("DanhSachGiayToKetQua"),
        pl.col("unit_code"),
    )  # fmt: skip
    for (unit,), part in records.partition_by("unit_code", as_dict=True).items():
        part.drop("unit_code").write_ndjson(folder / f"{unit}_hoso_{stamp}.jsonl")


def _text_date(column: str, with_time: bool = True) -> pl.Expr:
    return pl.col(column).dt.strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def write_igate(rows: pl.DataFrame, folder: Path, stamp: str, rows_per_file: int = 50_000, per_unit: bool = False) -> None:
    """One export of the whole system per drop (cut in parts of ``rows_per_file``), or one per unit."""
    if per_unit:
        for (unit,), part in rows.partition_by("unit_code", as_dict=True).items():
            write_igate(part, folder, f"{unit}_{stamp}", rows_per_file)
        return
    yes_no = lambda e: pl.when(e).then(pl.lit("Có")).otherwise(pl.lit("Không"))  # noqa: E731
    table = rows.select(
        pl.col("dossier_id").alias("Mã hồ sơ"), pl.col("procedure_code").alias("Mã thủ tục"), pl.col("procedure_name").alias("Tên thủ tục"),
        pl.col("sector_name").alias("Lĩnh vực"), pl.col("unit_name").alias("Đơn vị xử lý"),
        pl.col("channel").replace_strict(CHANNEL_IGATE, return_dtype=pl.String).alias("Hình thức nộp"),
        pl.when(pl.col("channel") == 2).then(pl.when(pl.col("fully_online")).then(pl.lit("Toàn trình")).otherwise(pl.lit("Một phần"))).alias("Mức độ DVC"),
        pl.col("applicant_name").alias("Người nộp"), pl.col("applicant_id").alias("Số CCCD/CMND"),
        _text_date("received_at").alias("Ngày tiếp nhận"), _text_date("due_on", with_time=False).alias("Ngày hẹn trả"),
        _text_date("finished_at").alias("Ngày có kết quả"), _text_date("returned_at").alias("Ngày trả kết quả"),
        pl.col("status").replace_strict(STATUS_IGATE, return_dtype=pl.String).alias("Trạng thái"),
        yes_no(pl.col("vneid")).alias("Xác thực VNeID"),
        yes_no(pl.col("digitized") & pl.col("status").is_in([9, 10])).alias("Kết quả điện tử"),
    )  # fmt: skip
    for part_number, start in enumerate(range(0, table.height, rows_per_file), start=1):
        part = table.slice(start, rows_per_file)
        part.insert_column(0, pl.Series("STT", range(1, part.height + 1))).write_csv(
            folder / f"igate_export_{stamp}_{part_number}.csv", include_bom=True
        )


DISTRICT_HEADER = [
    "STT", "Số biên nhận", "Thủ tục", "Lĩnh vực", "Cấp xử lý", "Phường/Xã", "Kênh nộp", "Ngày nhận", "Hẹn trả",
    "Ngày hoàn thành", "Ngày trả", "Tình trạng", "VNeID", "KQ điện tử", "Chủ hồ sơ", "Số giấy tờ",
]  # fmt: skip


def write_district_workbooks(rows: pl.DataFrame, units: dict[str, str], folder: Path, stamp: str) -> None:
    channel = (
        pl.when(pl.col("channel") == 1).then(pl.lit("Trực tiếp"))
        .when(pl.col("channel") == 3).then(pl.lit("BCCI"))
        .when(pl.col("fully_online")).then(pl.lit("Trực tuyến (toàn trình)"))
        .otherwise(pl.lit("Trực tuyến (một phần)"))
    )  # fmt: skip
    x = lambda e: pl.when(e).then(pl.lit("x")).otherwise(pl.lit(""))  # noqa: E731
    table = rows.select(
        pl.when(pl.col("level") == "commune").then(pl.col("parent_code")).otherwise(pl.col("unit_code")).alias("district"),
        "dossier_id", "procedure_name", "sector_name",
        pl.when(pl.col("level") == "commune").then(pl.lit("Xã")).otherwise(pl.lit("Huyện")).alias("handling_level"),
        # inside its district's workbook a commune goes by its own name
        pl.when(pl.col("level") == "commune").then(pl.col("unit_name").str.replace(r" \(.*\)$", "")).otherwise(pl.lit("")).alias("commune"),
        channel.alias("channel"), _text_date("received_at"), _text_date("due_on", with_time=False),
        _text_date("finished_at").fill_null(""), _text_date("returned_at").fill_null(""),
        pl.col("status").replace_strict(STATUS_DISTRICT, return_dtype=pl.String),
        x(pl.col("vneid")).alias("vneid"), x(pl.col("digitized") & pl.col("status").is_in([9, 10])).alias("digitized"),
        "applicant_name", "applicant_id",
    )  # fmt: skip
    for (district,), part in table.partition_by("district", as_dict=True).items():
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet()
        for line in ("ỦY BAN NHÂN DÂN", units[district].upper(), "DANH SÁCH HỒ SƠ THỦ TỤC HÀNH CHÍNH", ""):
            sheet.append([line])
        sheet.append(DISTRICT_HEADER)
        for number, values in enumerate(part.drop("district").iter_rows(), start=1):
            sheet.append([number, *values])
        sheet.append(["Tổng cộng", part.height])
        name = units[district].split(" ", 1)[1].replace(" ", "_")
        workbook.save(folder / f"{district}_{name}_{stamp}.xlsx")


def generate_pakn_and_ratings(dossiers: pl.DataFrame, scale: int, rng: np.random.Generator, last_drop: dt.date) -> tuple[pl.DataFrame, pl.DataFrame]:
    units = [u["unit_code"] for u in read_seed("units.csv") if u["level"] != "city"]
    count = max(scale // 50, 1)
    calendar = working_days(dt.date(YEAR + 1, 6, 30))
    year_days = int((calendar <= np.datetime64(f"{YEAR}-12-31")).sum())
    received = rng.integers(0, year_days, count)
    handled = received + np.where(rng.random(count) < 0.95, rng.integers(1, 15, count), rng.integers(16, 30, count))
    pakn = pl.DataFrame(
        {
            "Mã PAKN": [f"PAKN-{i:08d}" for i in range(1, count + 1)],
            "Mã đơn vị": np.array(units)[rng.integers(0, len(units), count)],
            "received": calendar[received],
            "due": calendar[received + 15],
            "handled": calendar[handled],
            "published": calendar[handled + rng.choice([0, 0, 0, 1, 20], size=count)],
        }
        # exported the night its result is published: no export carries a date still to come
    ).with_columns(pl.col("published").alias("drop_on")).filter(pl.col("drop_on") <= last_drop)

    resolved = dossiers.filter(pl.col("returned_at").is_not_null() & (pl.col("returned_at").dt.date() <= last_drop))
    rated = resolved.sample(fraction=0.3, seed=int(rng.integers(0, 2**31)))
    satisfied = rng.random(rated.height) < np.clip(rng.normal(0.88, 0.06, rated.height), 0, 1)
    level = np.where(satisfied, rng.integers(4, 6, rated.height), rng.integers(1, 4, rated.height))
    ratings = rated.select(
        pl.col("dossier_id").alias("Mã hồ sơ"),
        pl.col("unit_code").alias("Mã đơn vị"),
        (pl.col("returned_at") + pl.duration(hours=2)).dt.strftime("%d/%m/%Y %H:%M").alias("Thời điểm đánh giá"),
        pl.Series(np.array(RATINGS)[level - 1]).alias("Mức độ hài lòng"),
        pl.col("returned_at").dt.date().alias("drop_on"),
    )  # fmt: skip
    return pakn, ratings


def write_drop(folder: Path, day: dt.date, delta: pl.DataFrame, pakn, ratings, units: dict[str, str], in_workbook: pl.Expr, per_unit: bool = False) -> None:
    folder.mkdir(parents=True)
    stamp = day.strftime("%Y%m%d")
    write_dvcqg(delta.filter(pl.col("level") == "department"), folder, stamp)
    write_igate(delta.filter((pl.col("level") != "department") & ~in_workbook), folder, stamp, per_unit=per_unit)
    write_district_workbooks(delta.filter(in_workbook), units, folder, stamp)
    if pakn is not None:
        pakn.select(
            "Mã PAKN", "Mã đơn vị",
            *(pl.col(c).dt.strftime("%d/%m/%Y").alias(name) for c, name in
              (("received", "Ngày tiếp nhận"), ("due", "Hạn xử lý"), ("handled", "Ngày xử lý"), ("published", "Ngày công khai"))),
        ).write_csv(folder / f"pakn_{stamp}.csv")  # fmt: skip
    if ratings is not None:
        ratings.drop("drop_on").write_csv(folder / f"danhgia_{stamp}.csv")


# The other shape units send: the whole year as two snapshots, each the state of every dossier on
# that day, one file per unit (and per district workbook).
SNAPSHOT_DAYS = (dt.date(YEAR, 7, 1), dt.date(YEAR + 1, 1, 2))


def generate(scale: int, out: Path, seed: int = 2024, snapshots: bool = False) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    last_drop = dt.date(YEAR, 12, 31)
    with progress(f"Generating {scale:,} dossiers, their export rows, feedback and ratings", 3) as advance:
        dossiers = generate_dossiers(scale, rng)
        advance(1)
        rows = export_rows(dossiers, last_drop)
        advance(1)
        pakn, ratings = generate_pakn_and_ratings(dossiers, scale, rng, last_drop)
        advance(1)
    units = {u["unit_code"]: u["unit_name"] for u in read_seed("units.csv")}
    in_workbook = pl.col("unit_code").is_in(XLSX_DISTRICTS) | pl.col("parent_code").is_in(XLSX_DISTRICTS)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    if snapshots:
        drops = {
            (day,): rows.filter(pl.col("drop_on") <= day).sort("drop_on").unique("dossier_id", keep="last", maintain_order=True)
            for day in SNAPSHOT_DAYS
        }
        pakn_by_drop = {(day,): pakn.filter(pl.col("drop_on") <= day) for day in SNAPSHOT_DAYS}
        ratings_by_drop = {(day,): ratings.filter(pl.col("drop_on") <= day) for day in SNAPSHOT_DAYS}
    else:
        drops = rows.partition_by("drop_on", as_dict=True)
        pakn_by_drop = pakn.partition_by("drop_on", as_dict=True)
        ratings_by_drop = ratings.partition_by("drop_on", as_dict=True)
    with progress("Writing the drop folders", len(drops)) as advance:
        for (day,), delta in sorted(drops.items()):
            write_drop(
                partial / day.isoformat(), day, delta, pakn_by_drop.get((day,)), ratings_by_drop.get((day,)), units, in_workbook, per_unit=snapshots
            )
            advance(1)
    shutil.rmtree(out, ignore_errors=True)

    partial.rename(out)
    return {
        "dossiers": scale,
        "dossier_rows": sum(delta.height for delta in drops.values()),
        "pakn_rows": pakn.height,
        "rating_rows": ratings.height,
        "drops": len(drops),
        "files": sum(1 for _ in out.rglob("*.*")),
    }


def data_dir(scale: int, shape: str = "daily") -> Path:
    return PROJECT_ROOT / "bench" / "data" / (f"scale-{scale}" if shape == "daily" else f"{shape}-{scale}") / "raw"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench-data", description=__doc__)
    parser.add_argument("--scale", default="1000000", help="dossiers in the year")
    parser.add_argument("--out", type=Path, help="drop folders go here (default bench/data/<shape>-<SCALE>/raw)")
    parser.add_argument("--shape", choices=["daily", "snapshots"], default="daily", help="a drop per working day, or two snapshots of the year")
    args = parser.parse_args(argv)
    scale = int(args.scale) if args.scale.isdigit() else 0
    if scale < 1000:
        print(f"SCALE is the number of dossiers in the year, at least 1000 (got '{args.scale}'): e.g. SCALE=1000000.", file=sys.stderr)
        return 2
    out = args.out or data_dir(scale, args.shape)
    started = time.perf_counter()
    counts = generate(scale, out, snapshots=args.shape == "snapshots")
    print(f"{out}: {', '.join(f'{v:,} {k}' for k, v in counts.items())} in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

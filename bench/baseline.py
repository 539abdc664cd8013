"""The benchmark's yardstick: one plain script, no orchestration, that reads the same drops and
computes the same ``kpi_results`` rows.

It trusts its input (the generator's clean drops): no quarantine, no manifest, no PII hashing, no
lake, no gates, no alerts. What the pipeline costs beyond it is the price of those guarantees.

    python -m bench.baseline RAW_DIR OUT.parquet
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import duckdb
import fastexcel
import polars as pl

from pipelines.config import SEEDS_DIR

DOSSIER_SCHEMA = {
    "dossier_id": pl.String, "unit_code": pl.String, "sector_code": pl.String, "channel": pl.Int8,
    "service_level": pl.String, "received_at": pl.Datetime("us"), "due_at": pl.Datetime("us"),
    "finished_at": pl.Datetime("us"), "returned_at": pl.Datetime("us"), "status": pl.Int8,
    "vneid": pl.Boolean, "digitized": pl.Boolean, "applicant": pl.String,
}  # fmt: skip
IGATE_STATUS = {"Đã tiếp nhận": 2, "Đang xử lý": 4, "Đã rút": 7, "Đã xử lý xong": 9, "Đã trả kết quả": 10}
DISTRICT_STATUS = {"Tiếp nhận": 2, "Đang xử lý": 4, "Rút HS": 7, "Đã xử lý": 9, "Đã trả": 10}
CHANNELS = {"Trực tiếp": 1, "Trực tuyến": 2, "Bưu chính công ích": 3}
DISTRICT_CHANNELS = {"Trực tiếp": 1, "BCCI": 3, "Trực tuyến (toàn trình)": 2, "Trực tuyến (một phần)": 2}
RATING_LEVELS = {"Rất không hài lòng": 1, "Không hài lòng": 2, "Bình thường": 3, "Hài lòng": 4, "Rất hài lòng": 5}


def when(text: str, with_time: bool = True) -> pl.Expr:
    return pl.col(text).str.to_datetime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y", strict=False)


def read_dvcqg(path: Path) -> pl.DataFrame:
    text_fields = ["MaHoSo", "DonViXuLy", "MaLinhVuc", "MucDoDVC", "NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra", "SoGiayToChuHoSo"]
    results_type = pl.List(pl.Struct({"TenGiayTo": pl.String, "DuongDanTepTinKetQua": pl.String}))
    raw = pl.read_ndjson(path, schema_overrides={**dict.fromkeys(text_fields, pl.String), "DanhSachGiayToKetQua": results_type})
    stamp = lambda c: pl.col(c).str.to_datetime("%Y%m%d%H%M%S", strict=False)  # noqa: E731
    results = pl.col("DanhSachGiayToKetQua")
    return raw.select(
        pl.col("MaHoSo").alias("dossier_id"), pl.col("DonViXuLy").alias("unit_code"), pl.col("MaLinhVuc").alias("sector_code"),
        pl.col("KenhThucHien").alias("channel"), pl.col("MucDoDVC").alias("service_level"),
        stamp("NgayTiepNhan").alias("received_at"), stamp("NgayHenTra").alias("due_at"),
        stamp("NgayKetThucXuLy").alias("finished_at"), stamp("NgayTra").alias("returned_at"),
        pl.col("TrangThaiHoSo").alias("status"), (pl.col("TaiKhoanDuocXacThucVoiVNeID") == 1).alias("vneid"),
        results.list.eval(pl.element().struct.field("DuongDanTepTinKetQua") != "").list.any().fill_null(False).alias("digitized"),
        pl.col("SoGiayToChuHoSo").alias("applicant"),
    )  # fmt: skip


def read_igate(frame: pl.DataFrame, units: dict[str, str], sectors: dict[str, str]) -> pl.DataFrame:
    return frame.select(
        pl.col("Mã hồ sơ").alias("dossier_id"), pl.col("Đơn vị xử lý").replace_strict(units).alias("unit_code"),
        pl.col("Lĩnh vực").replace_strict(sectors).alias("sector_code"), pl.col("Hình thức nộp").replace_strict(CHANNELS).alias("channel"),
        pl.col("Mức độ DVC").replace_strict({"Toàn trình": "TOAN_TRINH", "Một phần": "MOT_PHAN"}, default=None).alias("service_level"),
        when("Ngày tiếp nhận").alias("received_at"), when("Ngày hẹn trả", with_time=False).alias("due_at"),
        when("Ngày có kết quả").alias("finished_at"), when("Ngày trả kết quả").alias("returned_at"),
        pl.col("Trạng thái").replace_strict(IGATE_STATUS).alias("status"),
        (pl.col("Xác thực VNeID") == "Có").alias("vneid"), (pl.col("Kết quả điện tử") == "Có").alias("digitized"),
        pl.col("Số CCCD/CMND").alias("applicant"),
    )  # fmt: skip


def read_district(path: Path, districts: dict[str, str], communes: dict[tuple[str, str], str], sectors: dict[str, str]) -> pl.DataFrame:
    sheet = fastexcel.read_excel(path).load_sheet(0, header_row=4, dtypes="string").to_polars()
    title = fastexcel.read_excel(path).load_sheet(0, header_row=None, n_rows=2, dtypes="string").to_polars()
    district = districts[title[1, 0]]
    sheet = sheet.filter(pl.col("STT") != "Tổng cộng")
    online = pl.col("Kênh nộp")
    unit = pl.when(pl.col("Cấp xử lý") == "Xã").then(pl.col("Phường/Xã").replace_strict({c: code for (d, c), code in communes.items() if d == district}, default=None)).otherwise(pl.lit(district))
    return sheet.select(
        pl.col("Số biên nhận").alias("dossier_id"), unit.alias("unit_code"), pl.col("Lĩnh vực").replace_strict(sectors).alias("sector_code"),
        online.replace_strict(DISTRICT_CHANNELS).alias("channel"),
        pl.when(online == "Trực tuyến (toàn trình)").then(pl.lit("TOAN_TRINH")).when(online == "Trực tuyến (một phần)").then(pl.lit("MOT_PHAN")).alias("service_level"),
        when("Ngày nhận").alias("received_at"), when("Hẹn trả", with_time=False).alias("due_at"),
        when("Ngày hoàn thành").alias("finished_at"), when("Ngày trả").alias("returned_at"),
        pl.col("Tình trạng").replace_strict(DISTRICT_STATUS).alias("status"),
        (pl.col("VNeID") == "x").alias("vneid"), (pl.col("KQ điện tử") == "x").alias("digitized"), pl.col("Số giấy tờ").alias("applicant"),
    )  # fmt: skip


def read_drops(raw_dir: Path) -> dict[str, pl.DataFrame]:
    units = pl.read_csv(SEEDS_DIR / "units.csv", infer_schema=False)
    district_names = dict(units.filter(pl.col("level") == "district").select("unit_code", "unit_name").iter_rows())
    by_name = {  # the generator writes a commune with its district: "Phường X (Quận Y)"
        f"{name} ({district_names[parent]})" if level == "commune" else name: code
        for name, code, parent, level in units.select("unit_name", "unit_code", "parent_code", "level").iter_rows()
    }
    districts = {name.upper(): code for name, code, level in units.select("unit_name", "unit_code", "level").iter_rows() if level == "district"}
    communes = {(parent, name): code for name, code, parent, level in units.select("unit_name", "unit_code", "parent_code", "level").iter_rows() if level == "commune"}
    sectors = dict(pl.read_csv(SEEDS_DIR / "sectors.csv", infer_schema=False).select("sector_name", "sector_code").iter_rows())
    frames: dict[str, list[pl.DataFrame]] = {"dossiers": [], "pakn": [], "ratings": []}
    for drop in sorted(p for p in raw_dir.iterdir() if p.is_dir()):
        for path in sorted(drop.iterdir()):
            provenance = [pl.lit(drop.name).str.to_date().alias("drop_date"), pl.lit(path.name).alias("source_file")]
            if path.suffix == ".jsonl":
                kind, frame = "dossiers", read_dvcqg(path)
            elif path.suffix == ".xlsx":
                kind, frame = "dossiers", read_district(path, districts, communes, sectors)
            else:
                csv = pl.read_csv(path, infer_schema=False)
                if "Mã PAKN" in csv.columns:
                    kind, frame = "pakn", csv.select(
                        pl.col("Mã PAKN").alias("pakn_id"), pl.col("Mã đơn vị").alias("unit_code"),
                        *(when(c, with_time=False).dt.date().alias(n) for c, n in (("Hạn xử lý", "due_on"), ("Ngày xử lý", "handled_on"), ("Ngày công khai", "published_on"))),
                    )  # fmt: skip
                elif "Mức độ hài lòng" in csv.columns:
                    kind, frame = "ratings", csv.select(
                        pl.col("Mã hồ sơ").alias("dossier_id"), pl.col("Mã đơn vị").alias("unit_code"),
                        when("Thời điểm đánh giá").dt.date().alias("rated_on"), pl.col("Mức độ hài lòng").replace_strict(RATING_LEVELS).alias("level"),
                    )  # fmt: skip
                else:
                    kind, frame = "dossiers", read_igate(csv, by_name, sectors)
            if kind == "dossiers":
                frame = frame.cast(DOSSIER_SCHEMA)
            frames[kind].append(frame.with_row_index("row_number").with_columns(provenance))
    return {kind: pl.concat(parts) for kind, parts in frames.items()}


KPI_SQL = """
with latest_dossiers as (
    select * from dossiers
    qualify row_number() over (partition by dossier_id order by drop_date desc, source_file desc, row_number desc) = 1
),
data_date as (
    select max(drop_date) as d from (select drop_date from dossiers union all select drop_date from pakn union all select drop_date from ratings)
),
d as (
    select *, s.target_group as sector_group, status in (9, 10) as resolved, status not in (1, 3) as received,
           case when status in (9, 10) then coalesce(finished_at, returned_at)::date end as finish_on, received_at::date as received_on,
           coalesce(applicant, 'dossier:' || dossier_id) as applicant_key
    from latest_dossiers left join sectors as s using (sector_code)
),
latest_pakn as (
    select * from pakn qualify row_number() over (partition by pakn_id order by drop_date desc, source_file desc, row_number desc) = 1
),
latest_ratings as (
    select * from ratings qualify row_number() over (partition by dossier_id order by drop_date desc, source_file desc, row_number desc) = 1
),
events as (
    select 'ONTIME' as kpi_code, unit_code, finish_on as day, dossier_id as k, finish_on <= due_at::date as ok from d where resolved and sector_group = 'OTHER'
    union all select 'ONTIME_TNMT_KHDT', unit_code, finish_on, dossier_id, finish_on <= due_at::date from d where resolved and sector_group in ('TNMT', 'KHDT')
    union all select 'DIGITIZED_RESULT', unit_code, finish_on, dossier_id, digitized from d where resolved
    union all select 'FULLY_ONLINE', unit_code, received_on, dossier_id, channel = 2 and coalesce(service_level = 'TOAN_TRINH', false) from d where received
    union all select 'EID_AUTH', unit_code, received_on, applicant_key, vneid from d where received and channel = 2
    union all select 'PAKN_ONTIME', unit_code, due_on, pakn_id, coalesce(handled_on <= due_on and published_on <= due_on, false)
        from latest_pakn, data_date where due_on <= data_date.d or (handled_on <= data_date.d and published_on <= data_date.d)
    union all select 'SATISFACTION', unit_code, rated_on, dossier_id, level >= 4 from latest_ratings
),
years as (
    select distinct year(day) + (month(day) = 12 and day(day) >= 15)::int as year from events where day is not null
    union select distinct year(day) from events where day is not null
),
all_periods as (
    select y.year || '-' || r.period_suffix as period,
           (make_date(y.year, 1, 15) + to_months(r.start_month_offset))::date as start_on,
           (make_date(y.year, 1, 14) + to_months(r.end_month_offset))::date as end_on
    from years as y cross join report_periods as r
    union all
    select strftime(make_date(y.year, m, 1), '%Y-%m'), make_date(y.year, m, 1), last_day(make_date(y.year, m, 1))
    from years as y cross join range(1, 13) as t(m)
),
periods as (
    select all_periods.*, least(end_on, data_date.d) as e from all_periods, data_date where start_on <= data_date.d
),
daily as (
    select kpi_code, unit_code, day, count(*) filter (where ok) as n, count(*) as d
    from events where kpi_code <> 'EID_AUTH' group by all
),
unit_counts as (
    select p.period, e.kpi_code, e.unit_code, sum(e.n) as n, sum(e.d) as d
    from daily as e join periods as p on e.day between p.start_on and p.end_on group by all
    union all
    select p.period, 'OPEN_WITHIN_DUE', x.unit_code, count(*) filter (where x.due_at::date >= p.e), count(*)
    from d as x join periods as p on x.received_on <= p.e and (x.finish_on is null or x.finish_on > p.e)
    where x.received and x.status not in (7, 8) group by all
),
applicants as (
    select p.period, e.unit_code, u.level, e.k, bool_or(e.ok) as ok
    from events as e join periods as p on e.day between p.start_on and p.end_on join units as u using (unit_code)
    where e.kpi_code = 'EID_AUTH' group by all
),
counts as (
    select c.period, c.kpi_code,
           case when grouping(c.unit_code) = 0 then c.unit_code when grouping(u.level) = 0 then r.unit_code else '01' end as unit_code,
           grouping(c.unit_code, u.level) as g, u.level, sum(c.n) as numerator, sum(c.d) as denominator
    from unit_counts as c join units as u using (unit_code) left join roll_ups as r on r.rolls_up_level = u.level
    group by grouping sets ((c.period, c.kpi_code, c.unit_code, u.level, r.unit_code), (c.period, c.kpi_code, u.level, r.unit_code), (c.period, c.kpi_code))
    union all
    select period, 'EID_AUTH', unit_code, 0, level, count(*) filter (where ok), count(*) from applicants group by all
    union all
    select period, 'EID_AUTH', r.unit_code, 2, level, count(distinct k) filter (where ok), count(distinct k)
    from applicants join roll_ups as r on r.rolls_up_level = applicants.level group by all
    union all
    select period, 'EID_AUTH', '01', 3, null, count(distinct k) filter (where ok), count(distinct k) from applicants group by all
),
result_rows as (
    select unit_code, unit_name, level from units
    union all select unit_code, unit_name, rolls_up_level from roll_ups
),
grid as (
    select p.period, u.unit_code, u.unit_name, k.kpi_code,
           case u.level when 'city' then k.target_city when 'department' then k.target_department
                        when 'district' then k.target_district else k.target_commune end as target
    from all_periods as p cross join result_rows as u cross join kpis as k
    where u.level <> 'city' or k.kpi_code <> 'DIGITIZED_RESULT'
)
select g.period, g.unit_code, g.unit_name, g.kpi_code,
       coalesce(c.numerator, 0) as numerator, coalesce(c.denominator, 0) as denominator,
       case when c.denominator > 0 then (((2 * c.numerator * 10000 + c.denominator) // (2 * c.denominator)) * 0.0001)::decimal(10, 4) end as value,
       g.target,
       case when coalesce(c.denominator, 0) = 0 then 'no_data'
            when 100 * c.numerator >= round(g.target * 100) * c.denominator then 'met' else 'below' end as status
from grid as g
left join (select * from counts where g = 3 or level <> 'city') as c
    on c.period = g.period and c.unit_code = g.unit_code and c.kpi_code = g.kpi_code
"""


def compute_kpis(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    con = duckdb.connect()
    for name, frame in frames.items():
        con.register(name, frame)
    for seed in ("units", "roll_ups", "sectors", "kpis", "report_periods"):
        con.execute(f"create table {seed} as select * from read_csv('{SEEDS_DIR / seed}.csv', all_varchar = true)")
    # the dossier KPIs: the plan's task and self-report rows need files the synthetic drops lack
    con.execute("delete from kpis where source <> 'dossiers'")
    con.execute("alter table kpis alter target_city type decimal(3, 2); alter table kpis alter target_department type decimal(3, 2)")
    con.execute("alter table kpis alter target_district type decimal(3, 2); alter table kpis alter target_commune type decimal(3, 2)")
    con.execute("alter table report_periods alter start_month_offset type integer; alter table report_periods alter end_month_offset type integer")
    return con.sql(KPI_SQL).pl()


def main(argv: list[str]) -> int:
    raw_dir, out = Path(argv[0]), Path(argv[1])
    started = time.perf_counter()
    frames = read_drops(raw_dir)
    read_seconds = time.perf_counter() - started
    results = compute_kpis(frames)
    results.write_parquet(out)
    print(f"baseline: {sum(f.height for f in frames.values()):,} rows read in {read_seconds:.1f} s, "
          f"{results.height:,} kpi rows in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""`make report PERIOD=...`: the period report for officials, as self-contained HTML and a workbook.

Every number comes from the published warehouse (`marts.kpi_results` and the dimensions), so the
report says exactly what analysts and `make kpis` see.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from pipelines.cli.kpis import COLUMNS, UserError, fetch_period, open_warehouse
from pipelines.config import load_settings
from pipelines.storage import grouped, rows_as_dicts
from pipelines.vietnamese import CITY_CODE, ROLL_UP_LEVELS, data_date_note, integer, percent, vn_date

TEMPLATES_DIR = Path(__file__).parent / "templates"
LEVEL_LABELS = {
    "city": "Thành phố",
    "roll_up": "Theo cấp",
    "department": "Sở, ban, ngành",
    "district": "Quận, huyện, thị xã",
    "commune": "Xã, phường, thị trấn",
}
STATUS_LABELS = {"met": "Đạt", "below": "Không đạt", "no_data": "Không có dữ liệu"}
TASK_STATE_LABELS = {"overdue": "Quá hạn", "due_soon": "Sắp đến hạn (30 ngày)"}
# Biểu số 06's columns in the form's order: (column of marts.fct_form06_statistics, header).
FORM06_COLUMNS = [
    ("carried_over", "Kỳ trước chuyển qua"), ("received_online", "Trực tuyến"), ("received_in_person", "Trực tiếp"),
    ("received_postal", "Bưu chính công ích"), ("received_total", "Tổng tiếp nhận mới"),
    ("resolved_early", "Trước hạn"), ("resolved_on_time", "Đúng hạn"), ("resolved_late", "Quá hạn"),
    ("resolved_total", "Tổng đã giải quyết"), ("withdrawn_or_stopped", "Rút, dừng xử lý"),
    ("in_progress_within_due", "Trong hạn"), ("in_progress_overdue", "Quá hạn"), ("in_progress_total", "Tổng đang giải quyết"),
]  # fmt: skip
# The form's column groups over those columns: (header, how many columns).
FORM06_GROUPS = [("Tiếp nhận", 5), ("Đã giải quyết", 4), ("Rút, dừng", 1), ("Đang giải quyết", 3)]


@dataclass(frozen=True)
class KpiSection:
    kpi_code: str
    name_vi: str
    plan_section: str
    source: str  # dossiers | tasks | self_report
    city: dict | None  # the city roll-up row; None for KPIs without one (DIGITIZED_RESULT)
    levels: list[dict]  # the level roll-ups: CAP_TP, CAP_HUYEN, CAP_XA
    units: list[dict]  # every unit's row, in registry order
    targets: dict[str, Decimal]  # level -> target, for the levels this KPI has

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.units)

    @property
    def rows(self) -> list[dict]:
        """The city first, then the levels, then every unit."""
        return ([self.city] if self.city else []) + self.levels + self.units

    @property
    def below(self) -> list[dict]:
        return [row for row in self.units if row["status"] == "below"]


@dataclass(frozen=True)
class TrendRow:
    kpi_code: str
    name_vi: str
    city_values: list[Decimal | None]  # one per month of the year; None where there is no city figure
    units_below: list[int]
    city_target: Decimal | None


@dataclass(frozen=True)
class PeriodReport:
    period: dict
    generated_at: datetime
    sections: list[KpiSection]
    form06: list[dict]  # Biểu 06 total rows: the city, the levels, every unit (zeros included)
    form06_city_sectors: list[dict]  # the city's Biểu 06 rows per sector
    months: list[dict]
    trend: list[TrendRow]
    silent_units: list[dict]  # units whose every dossier KPI is no_data in the period
    tasks_to_chase: list[dict]  # key-task obligations overdue or due within 30 days of the data date, by unit
    not_reported: list[dict]  # departments and districts without any self-report for the period

    @property
    def data_date_note(self) -> str:
        return data_date_note(self.period)

    @property
    def tasks_data_date_note(self) -> str:
        data_date = self.tasks_to_chase[0]["data_date"] if self.tasks_to_chase else None
        return f"tình trạng tại ngày số liệu {vn_date(data_date)}"

    @property
    def tasks_by_unit(self) -> dict[str, list[dict]]:
        return grouped(self.tasks_to_chase, "unit_code")

    @property
    def form06_active(self) -> list[dict]:
        """The Biểu 06 rows worth a line on paper: roll-ups, and units with any dossier."""
        return [row for row in self.form06 if row["level"] in ROLL_UP_LEVELS or row["carried_over"] or row["received_total"]]

    @property
    def rows(self) -> list[dict]:
        """Every kpi_results row of the period, in `make kpis` order."""
        rows = [row for section in self.sections for row in section.rows]
        return sorted(rows, key=lambda row: (row["registry_order"], row["kpi_order"]))


def load_report(con: duckdb.DuckDBPyConnection, period: str, generated_at: datetime) -> PeriodReport:
    period_row = fetch_period(con, period)
    results = rows_as_dicts(
        con.execute(
            f"""
            select {", ".join(f"r.{c}" for c in COLUMNS)}, u.level, u.registry_order, u.parent_name,
                   k.name_vi as kpi_name, k.plan_section, k.kpi_order, k.source
            from marts.kpi_results as r
            join marts.dim_units as u using (unit_code)
            join marts.dim_kpis as k using (kpi_code)
            where r.period = ?
            order by k.kpi_order, u.registry_order
            """,
            [period],
        )
    )
    months = rows_as_dicts(
        con.execute(
            """
            select period_code, name_vi, start_on, end_on,
                   start_on <= ? and end_on >= ? as overlaps_period
            from marts.dim_periods
            where period_kind = 'month' and year = ?
            order by start_on
            """,
            [period_row["end_on"], period_row["start_on"], period_row["year"]],
        )
    )
    monthly = rows_as_dicts(
        con.execute(
            """
            select r.period, r.kpi_code,
                   max(r.value) filter (where r.unit_code = ?) as city_value,
                   count(*) filter (where r.status = 'below' and u.level not in ('city', 'roll_up')) as units_below
            from marts.kpi_results as r
            join marts.dim_units as u using (unit_code)
            where r.period in (select period_code from marts.dim_periods where period_kind = 'month' and year = ?)
            group by all
            """,
            [CITY_CODE, period_row["year"]],
        )
    )
    form06 = rows_as_dicts(
        con.execute(
            """
            select f.*, u.level, u.registry_order
            from marts.fct_form06_statistics as f
            join marts.dim_units as u using (unit_code)
            where f.period = ? and (f.sector_code is null or f.unit_code = ?)
            order by u.registry_order, f.sector_code nulls first
            """,
            [period, CITY_CODE],
        )
    )

    sections = []
    for kpi_code in dict.fromkeys(row["kpi_code"] for row in results):
        rows = [row for row in results if row["kpi_code"] == kpi_code]
        units = [row for row in rows if row["level"] not in ROLL_UP_LEVELS]
        sections.append(
            KpiSection(
                kpi_code=kpi_code,
                name_vi=rows[0]["kpi_name"],
                plan_section=rows[0]["plan_section"],
                source=rows[0]["source"],
                city=next((row for row in rows if row["unit_code"] == CITY_CODE), None),
                levels=[row for row in rows if row["level"] == "roll_up"],
                units=units,
                targets={level: row["target"] for level in LEVEL_LABELS for row in rows if row["level"] == level},
            )
        )
    by_month = {(row["period"], row["kpi_code"]): row for row in monthly}
    trend = [
        TrendRow(
            kpi_code=section.kpi_code,
            name_vi=section.name_vi,
            city_values=[by_month.get((m["period_code"], section.kpi_code), {}).get("city_value") for m in months],
            units_below=[by_month.get((m["period_code"], section.kpi_code), {}).get("units_below", 0) for m in months],
            city_target=section.city["target"] if section.city else None,
        )
        for section in sections
        if section.source == "dossiers"  # the plan's other targets have no monthly figures
    ]
    statuses: dict[tuple[str, str], set[str]] = {}
    for row in results:
        if row["level"] not in ROLL_UP_LEVELS:
            statuses.setdefault((row["source"], row["unit_code"]), set()).add(row["status"])
    silent = [row for row in sections[0].units if statuses[("dossiers", row["unit_code"])] == {"no_data"}] if sections else []
    self_reported = next((section for section in sections if section.source == "self_report"), None)
    not_reported = [row for row in self_reported.units if statuses[("self_report", row["unit_code"])] == {"no_data"}] if self_reported else []
    tasks_to_chase = rows_as_dicts(
        con.execute(
            """
            select t.*, u.registry_order
            from marts.fct_plan_tasks as t
            join marts.dim_units as u using (unit_code)
            where t.state in ('overdue', 'due_soon')
            order by u.registry_order, t.state = 'due_soon', t.deadline, t.task_number, t.milestone_number
            """
        )
    )
    return PeriodReport(
        period=period_row,
        generated_at=generated_at,
        sections=sections,
        form06=[row for row in form06 if row["sector_code"] is None],
        form06_city_sectors=[row for row in form06 if row["sector_code"] is not None],
        months=months,
        trend=trend,
        silent_units=silent,
        tasks_to_chase=tasks_to_chase,
        not_reported=not_reported,
    )


def sparkline(values: list[Decimal | None], target: Decimal | None, width: int = 180, height: int = 36) -> str:
    """An inline SVG of the monthly city values (0–100%) with the target as a dashed line."""
    step = width / max(len(values) - 1, 1)
    y = lambda v: round(height - float(v) * height, 1)  # noqa: E731
    segments, current = [], []
    for i, value in enumerate(values):
        if value is None:
            segments, current = segments + ([current] if current else []), []
        else:
            current.append(f"{round(i * step, 1)},{y(value)}")
    segments += [current] if current else []
    lines = "".join(f'<polyline points="{" ".join(s)}"/>' for s in segments if len(s) > 1)
    dots = "".join(f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2"/>' for s in segments for p in s)
    goal = f'<line class="goal" x1="0" x2="{width}" y1="{y(target)}" y2="{y(target)}"/>' if target is not None else ""
    return (
        f'<svg class="spark" viewBox="-3 -3 {width + 6} {height + 6}" width="{width}" height="{height}" '
        f'role="img" aria-label="Xu hướng theo tháng">{goal}{lines}{dots}</svg>'
    )


def render_html(report: PeriodReport) -> str:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True
    )
    environment.filters.update(percent=percent, integer=integer, vn_date=vn_date)
    environment.globals.update(
        level_labels=LEVEL_LABELS, status_labels=STATUS_LABELS, task_state_labels=TASK_STATE_LABELS, sparkline=sparkline, form06_columns=FORM06_COLUMNS, form06_groups=FORM06_GROUPS
    )
    return environment.get_template("report.html.j2").render(report=report)


RED_FILL = PatternFill("solid", fgColor="FDE2E1")
HEADER_FILL = PatternFill("solid", fgColor="1F3B63")
HEADER_FONT = Font(bold=True, color="FFFFFF")
PERCENT = "0.00%"


def _sheet(workbook: Workbook, title: str, heading: str, header: list[str], widths: list[int]):
    sheet = workbook.create_sheet(title)
    sheet.append([heading])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([])
    sheet.append(header)
    for cell in sheet[3]:
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for i, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "A4"
    return sheet


def _form06_sheet(workbook: Workbook, report: PeriodReport, title: str) -> None:
    """Biểu số 06 laid out as the official form: grouped two-row header, every row of the warehouse."""
    sheet = workbook.create_sheet("Biểu 06")
    sheet.append([f"Biểu số 06/VPCP/KSTT — Tình hình, kết quả giải quyết TTHC — {title} ({report.data_date_note})"])
    sheet["A1"].font = Font(bold=True, size=13)
    sheet.append([])
    top = ["STT", "Mã", "Đơn vị / lĩnh vực"]
    for group, width in FORM06_GROUPS:
        top += [group] + [None] * (width - 1)
    sheet.append([*top, "Tỷ lệ đúng hạn, trước hạn"])
    sheet.append([None, None, None, *(header for _, header in FORM06_COLUMNS), None])
    for column in (1, 2, 3, 4 + len(FORM06_COLUMNS)):
        sheet.merge_cells(start_row=3, end_row=4, start_column=column, end_column=column)
    start = 4
    for _, width in FORM06_GROUPS:
        sheet.merge_cells(start_row=3, end_row=3, start_column=start, end_column=start + width - 1)
        start += width
    for cell in [*sheet[3], *sheet[4]]:
        cell.fill, cell.font = HEADER_FILL, HEADER_FONT
        cell.alignment = Alignment(wrap_text=True, vertical="center", horizontal="center")
    city_sectors = [{**row, "unit_name": f"    {row['sector_name']}"} for row in report.form06_city_sectors]
    rows = [report.form06[0], *city_sectors, *report.form06[1:]] if report.form06 else []
    for number, row in enumerate(rows, start=1):
        sheet.append([number, row["unit_code"], row["unit_name"], *(row[c] for c, _ in FORM06_COLUMNS), row["on_time_rate"]])
        sheet.cell(sheet.max_row, 4 + len(FORM06_COLUMNS)).number_format = PERCENT
        if row["level"] in ROLL_UP_LEVELS and row["sector_code"] is None:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
    for i, width in enumerate([6, 10, 42, *([11] * len(FORM06_COLUMNS)), 13], start=1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    sheet.freeze_panes = "D5"


def write_workbook(report: PeriodReport, path: Path) -> None:
    """The report's tables, one sheet each, with numbers as numbers (percent-formatted rates)."""
    workbook = Workbook()
    workbook.remove(workbook.active)
    title = f"{report.period['name_vi']} ({vn_date(report.period['start_on'])} – {vn_date(report.period['end_on'])})"

    summary = _sheet(
        workbook, "Tổng hợp", f"Kết quả chỉ tiêu CCHC — {title}",
        ["Mã chỉ tiêu", "Chỉ tiêu", "Toàn thành phố", "Mục tiêu thành phố", "Đơn vị không đạt", "Đơn vị đạt", "Không có dữ liệu"],
        [18, 70, 16, 16, 16, 12, 16],
    )  # fmt: skip
    for section in report.sections:
        city = section.city or {}
        summary.append(
            [section.kpi_code, section.name_vi, city.get("value"), city.get("target"),
             section.count("below"), section.count("met"), section.count("no_data")]
        )  # fmt: skip
        summary.cell(summary.max_row, 3).number_format = summary.cell(summary.max_row, 4).number_format = PERCENT

    for section in report.sections:
        sheet = _sheet(
            workbook, section.kpi_code, f"{section.name_vi} — {title}",
            ["Mã đơn vị", "Đơn vị", "Cấp", "Tử số", "Mẫu số", "Kết quả", "Mục tiêu", "Đánh giá"],
            [11, 42, 20, 10, 10, 11, 11, 18],
        )  # fmt: skip
        for row in section.rows:
            sheet.append(
                [row["unit_code"], row["unit_name"], LEVEL_LABELS[row["level"]], row["numerator"], row["denominator"],
                 row["value"], row["target"], STATUS_LABELS[row["status"]]]
            )  # fmt: skip
            sheet.cell(sheet.max_row, 6).number_format = sheet.cell(sheet.max_row, 7).number_format = PERCENT
            if row["status"] == "below":
                for cell in sheet[sheet.max_row]:
                    cell.fill = RED_FILL
        sheet.auto_filter.ref = f"A3:H{sheet.max_row}"

    trend = _sheet(
        workbook, "Xu hướng theo tháng", f"Toàn thành phố theo tháng, năm {report.period['year']}",
        ["Mã chỉ tiêu", "Chỉ tiêu", *(m["name_vi"] for m in report.months)], [18, 60, *([13] * len(report.months))],
    )  # fmt: skip
    for row in report.trend:
        trend.append([row.kpi_code, row.name_vi, *row.city_values])
        for column in range(3, 3 + len(report.months)):
            trend.cell(trend.max_row, column).number_format = PERCENT
    trend.append([])
    trend.append(["Số đơn vị không đạt theo tháng"])
    trend.cell(trend.max_row, 1).font = Font(bold=True)
    for row in report.trend:
        trend.append([row.kpi_code, row.name_vi, *row.units_below])

    _form06_sheet(workbook, report, title)

    silent = _sheet(workbook, "Không có dữ liệu", f"Đơn vị không gửi dữ liệu — {title}", ["Mã đơn vị", "Đơn vị", "Cấp"], [11, 42, 22])
    for row in report.silent_units:
        silent.append([row["unit_code"], row["unit_name"], LEVEL_LABELS[row["level"]]])

    tasks = _sheet(
        workbook, "Nhiệm vụ chậm, sắp đến hạn", f"Nhiệm vụ trọng tâm quá hạn và sắp đến hạn — {report.tasks_data_date_note}",
        ["Mã đơn vị", "Đơn vị", "Mã nhiệm vụ", "Nhiệm vụ", "Sản phẩm", "Hạn", "Tình trạng", "Số ngày quá hạn"],
        [11, 36, 11, 70, 30, 12, 20, 14],
    )  # fmt: skip
    for row in report.tasks_to_chase:
        tasks.append(
            [row["unit_code"], row["unit_name"], row["milestone_code"], row["task_vi"], row["product_vi"], row["deadline"],
             TASK_STATE_LABELS[row["state"]], row["days_overdue"]]
        )  # fmt: skip
        tasks.cell(tasks.max_row, 6).number_format = "DD/MM/YYYY"
        if row["state"] == "overdue":
            for cell in tasks[tasks.max_row]:
                cell.fill = RED_FILL

    unreported = _sheet(
        workbook, "Chưa tự báo cáo", f"Đơn vị chưa gửi chỉ tiêu tự báo cáo — {title}", ["Mã đơn vị", "Đơn vị", "Cấp"], [11, 42, 22]
    )
    for row in report.not_reported:
        unreported.append([row["unit_code"], row["unit_name"], LEVEL_LABELS[row["level"]]])

    data = _sheet(workbook, "Dữ liệu", f"marts.kpi_results — {report.period['period_code']}", COLUMNS, [10, 11, 42, 20, 11, 12, 10, 9, 10])
    for row in report.rows:
        data.append([row[c] for c in COLUMNS])

    workbook.save(path)


def write_report(con: duckdb.DuckDBPyConnection, period: str, out_dir: Path) -> tuple[Path, Path]:
    report = load_report(con, period, generated_at=datetime.now().replace(microsecond=0))
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, workbook_path = out_dir / f"bao-cao-cchc-{period}.html", out_dir / f"bao-cao-cchc-{period}.xlsx"
    # Written under a temporary name, then renamed: a reader never opens half a report.
    for path, write in ((html_path, lambda p: p.write_text(render_html(report), encoding="utf-8")),
                        (workbook_path, lambda p: write_workbook(report, p))):  # fmt: skip
        partial = path.with_name(path.name + ".tmp")
        write(partial)
        partial.replace(path)
    return html_path, workbook_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make report", description=__doc__)
    parser.add_argument("--period", default="")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        with open_warehouse(settings) as con:
            html_path, workbook_path = write_report(con, args.period, settings.report_dir)
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Báo cáo kỳ {args.period}: {html_path}\nBảng tính: {workbook_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make report`: the HTML rendered in headless Chromium and the workbook, both checked against the warehouse."""

from __future__ import annotations

import os
import re
import struct
from html.parser import HTMLParser

import duckdb
import pytest
from openpyxl import load_workbook

from pipelines.config import PROJECT_ROOT
from tests.conftest import run_chromium, run_cli

PERIOD = "2024-Q2"
SCREENSHOT = PROJECT_ROOT / "test-artifacts" / f"report-{PERIOD}.png"
STATUS_LABELS = {"met": "Đạt", "below": "▼ Không đạt", "no_data": "Không có dữ liệu"}


@pytest.fixture(scope="module")
def report(sample_warehouse, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reports")
    result = run_cli("pipelines.cli.report", "--period", PERIOD, env={**os.environ, **sample_warehouse, "CCHC_REPORT_DIR": str(out)})
    assert result.returncode == 0, result.stderr
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        cursor = con.execute(
            """
            select r.*, u.level, u.registry_order, k.kpi_order from marts.kpi_results as r
            join marts.dim_units as u using (unit_code) join marts.dim_kpis as k using (kpi_code)
            where period = ? order by u.registry_order, k.kpi_order
            """,
            [PERIOD],
        )
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
        form06 = [
            dict(zip([d[0] for d in con.description], row, strict=True))
            for row in con.execute(
                """
                select f.*, u.level from marts.fct_form06_statistics as f join marts.dim_units as u using (unit_code)
                where f.period = ? order by u.registry_order, f.sector_code nulls first
                """,
                [PERIOD],
            ).fetchall()
        ]
        monthly = {
            (kpi, month): value
            for kpi, month, value in con.execute(
                "select kpi_code, period, value from marts.kpi_results where unit_code = '01' and period like '2024-__'"
            ).fetchall()
        }
    return {
        "html": out / f"bao-cao-cchc-{PERIOD}.html", "xlsx": out / f"bao-cao-cchc-{PERIOD}.xlsx",
        "rows": rows, "monthly": monthly, "form06": form06,
    }  # fmt: skip


def is_unit(row: dict) -> bool:
    return row["level"] not in ("city", "roll_up")


def vietnamese_percent(value) -> str:
    return "—" if value is None else f"{value * 100:.2f}".replace(".", ",") + "%"


def vietnamese_integer(value: int) -> str:
    return f"{value:,}".replace(",", ".")


class TableRows(HTMLParser):
    """Rows carrying data-unit or data-kpi, with their cells' text, keyed by the enclosing section."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str], dict] = {}
        self.section = ""
        self.row: dict | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "section":
            self.section = attributes.get("id", "")
        elif tag == "tr" and ("data-unit" in attributes or "data-kpi" in attributes):
            key = attributes.get("data-unit") or attributes["data-kpi"]
            self.row = self.rows[(self.section, key)] = {"class": attributes.get("class", "").split(), "cells": []}
        elif tag == "td" and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self.cell is not None:
            self.row["cells"].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr":
            self.row = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)

    @staticmethod
    def sector_keys(dom: str) -> list[tuple[str, str]]:
        return [("form06", code) for code in re.findall(r'<tr class="sector" data-sector="([^"]+)"', dom)]


@pytest.fixture(scope="module")
def rendered(report, chromium, tmp_path_factory) -> dict:
    """The report as Chromium rendered it: its DOM, a screenshot and a printed PDF."""
    profile = tmp_path_factory.mktemp("chromium-profile")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    url = report["html"].as_uri()
    dom = run_chromium(chromium, profile, "--dump-dom", url).stdout
    run_chromium(chromium, profile, "--window-size=1366,2000", f"--screenshot={SCREENSHOT}", url)
    pdf = profile / "report.pdf"
    run_chromium(chromium, profile, f"--print-to-pdf={pdf}", url)
    parser = TableRows()
    parser.feed(dom)
    return {"dom": dom, "rows": parser.rows, "pdf": pdf.read_bytes()}


def test_every_unit_is_shown_against_its_target_as_in_kpi_results(report, rendered):
    for row in report["rows"]:
        shown = rendered["rows"][(f"kpi-{row['kpi_code']}", row["unit_code"])]
        assert shown["cells"] == [
            row["unit_code"], row["unit_name"], vietnamese_integer(row["numerator"]), vietnamese_integer(row["denominator"]),
            vietnamese_percent(row["value"]), vietnamese_percent(row["target"]), "", STATUS_LABELS[row["status"]],
        ]  # fmt: skip
        assert ("below" in shown["class"]) == (row["status"] == "below"), row
    unit_rows = [key for key in rendered["rows"] if key[0].startswith("kpi-")]
    assert len(unit_rows) == len(report["rows"])


def test_summary_gives_the_city_figure_and_counts_below(report, rendered):
    for kpi in dict.fromkeys(row["kpi_code"] for row in report["rows"]):
        rows = [row for row in report["rows"] if row["kpi_code"] == kpi]
        city = next((row for row in rows if row["unit_code"] == "01"), None)
        units = [row for row in rows if is_unit(row)]
        counts = [str(sum(row["status"] == status for row in units)) for status in ("below", "met", "no_data")]
        cells = rendered["rows"][("summary", kpi)]["cells"]
        assert cells[1] == vietnamese_percent(city["value"] if city else None)
        assert cells[3:] == counts


def test_monthly_trend_shows_the_city_value_of_every_month(report, rendered):
    for kpi in ("ONTIME", "FULLY_ONLINE", "SATISFACTION"):
        cells = rendered["rows"][("trend", kpi)]["cells"]
        for month in range(1, 13):
            value = report["monthly"][(kpi, f"2024-{month:02d}")]
            assert cells[month].startswith(vietnamese_percent(value)), (kpi, month)


def test_units_without_any_data_are_listed(report, rendered):
    statuses: dict[str, set[str]] = {}
    for row in report["rows"]:
        if is_unit(row):
            statuses.setdefault(row["unit_code"], set()).add(row["status"])
    silent = {unit for unit, seen in statuses.items() if seen == {"no_data"}}
    assert silent, "the sample drops have units that sent nothing in 2024-Q2"
    assert {key[1] for key in rendered["rows"] if key[0] == "silent"} == silent


def test_report_is_self_contained_vietnamese_and_printable(report, rendered):
    html = report["html"].read_text(encoding="utf-8")
    assert '<html lang="vi">' in html and "Báo cáo kết quả thực hiện chỉ tiêu CCHC" in html
    assert "<script" not in html and "<link" not in html and "src=" not in html and "url(" not in html
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1366, 2000)
    assert len(png) > 50_000, "the screenshot is blank"
    pages = len(re.findall(rb"/Type\s*/Page\b(?!s)", rendered["pdf"]))
    assert rendered["pdf"].startswith(b"%PDF") and pages > 7, "each KPI starts its own printed page"


def test_workbook_holds_the_same_tables(report):
    workbook = load_workbook(report["xlsx"])
    kpis = list(dict.fromkeys(row["kpi_code"] for row in sorted(report["rows"], key=lambda row: row["kpi_order"])))
    assert workbook.sheetnames == ["Tổng hợp", *kpis, "Xu hướng theo tháng", "Biểu 06", "Không có dữ liệu", "Nhiệm vụ chậm, sắp đến hạn", "Chưa tự báo cáo", "Dữ liệu"]

    data = list(workbook["Dữ liệu"].iter_rows(min_row=3, values_only=True))
    columns = ["period", "unit_code", "unit_name", "kpi_code", "numerator", "denominator", "value", "target", "status"]
    assert list(data[0]) == columns
    as_floats = lambda v: None if v is None else float(v)  # noqa: E731
    assert [
        (*r[:6], as_floats(r[6]), as_floats(r[7]), r[8]) for r in data[1:]
    ] == [tuple(row[c] if c not in ("value", "target") else as_floats(row[c]) for c in columns) for row in report["rows"]]

    sheet = workbook["ONTIME"]
    ontime = [row for row in report["rows"] if row["kpi_code"] == "ONTIME"]
    for excel_row, row in zip(sheet.iter_rows(min_row=4), ontime, strict=True):
        assert excel_row[0].value == row["unit_code"] and excel_row[5].value == as_floats(row["value"])
        assert excel_row[5].number_format == "0.00%"
        assert (excel_row[0].fill.fgColor.rgb == "00FDE2E1") == (row["status"] == "below")


FORM06_MEASURES = [
    "carried_over", "received_online", "received_in_person", "received_postal", "received_total", "resolved_early",
    "resolved_on_time", "resolved_late", "resolved_total", "withdrawn_or_stopped", "in_progress_within_due",
    "in_progress_overdue", "in_progress_total",
]  # fmt: skip


def test_each_kpi_table_starts_with_the_city_then_the_levels(report, rendered):
    keys = [key[1] for key in rendered["rows"] if key[0] == "kpi-ONTIME"]
    assert keys[:4] == ["01", "CAP_TP", "CAP_HUYEN", "CAP_XA"]
    assert [key[1] for key in rendered["rows"] if key[0] == "kpi-DIGITIZED_RESULT"][:3] == ["CAP_TP", "CAP_HUYEN", "CAP_XA"]
    assert ("kpi-OPEN_WITHIN_DUE", "01") in rendered["rows"], "the backlog KPI has its section"


def test_form06_section_shows_the_marts_rows_as_the_form(report, rendered):
    totals = [row for row in report["form06"] if row["sector_code"] is None]
    shown = {key[1]: row["cells"] for key, row in rendered["rows"].items() if key[0] == "form06"}
    active = [row for row in totals if not is_unit(row) or row["carried_over"] or row["received_total"]]
    assert list(shown) == [row["unit_code"] for row in active]
    assert len(active) < len(totals), "units without dossiers stay off the page (the workbook has them)"
    for row in active:
        numbers = [vietnamese_integer(row[m]) for m in FORM06_MEASURES]
        assert shown[row["unit_code"]] == [row["unit_name"], *numbers, vietnamese_percent(row["on_time_rate"])]
    city_sectors = [row["sector_code"] for row in report["form06"] if row["unit_code"] == "01" and row["sector_code"]]
    assert city_sectors and city_sectors == [key[1] for key in TableRows.sector_keys(rendered["dom"])]

    sheet = list(load_workbook(report["xlsx"])["Biểu 06"].iter_rows(min_row=5, values_only=True))
    assert len(sheet) == len(totals) + len(city_sectors)
    by_code = {row[1]: row for row in sheet if not str(row[2]).startswith(" ")}
    for row in totals:
        assert list(by_code[row["unit_code"]][3:-1]) == [row[m] for m in FORM06_MEASURES]


def test_a_running_period_says_how_far_its_data_go(sample_warehouse, tmp_path):
    result = run_cli("pipelines.cli.report", "--period", "2025-Q1", env={**os.environ, **sample_warehouse, "CCHC_REPORT_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    html = (tmp_path / "bao-cao-cchc-2025-Q1.html").read_text(encoding="utf-8")
    assert "Kỳ đang diễn ra, số liệu đến ngày 20/12/2024" in html
    closed = run_cli("pipelines.cli.report", "--period", "2024-Y", env={**os.environ, **sample_warehouse, "CCHC_REPORT_DIR": str(tmp_path)})
    assert "Số liệu đến ngày 14/12/2024" in (tmp_path / "bao-cao-cchc-2024-Y.html").read_text(encoding="utf-8"), closed.stderr


def test_unknown_period_writes_nothing(sample_warehouse, tmp_path):
    result = run_cli("pipelines.cli.report", "--period", "2024-Q9", env={**os.environ, **sample_warehouse, "CCHC_REPORT_DIR": str(tmp_path)})
    assert result.returncode == 2 and "Unknown period '2024-Q9'" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []

"""The plan beyond dossiers: the task catalogue's fidelity to the plan, the two self-reported
exports' rules, and the hand-checked results of the sample files (pipelines/cli/plan_samples.py)."""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import io
import json
import os
import re
import shutil

import duckdb
import pytest

from pipelines.alerts import enqueue_overdue_tasks
from pipelines.cli import plan_samples
from pipelines.config import PROJECT_ROOT, SEEDS_DIR, AlertChannels
from pipelines.ingest.dialects import RejectedFile, read_csv_export
from pipelines.ingest.reference import PlanCatalogue, UnitRegistry
from pipelines.ingest.rules import check_self_reports, check_task_progress
from tests.conftest import run_cli

PLAN = PROJECT_ROOT / "data" / "reference" / "6745-QD-UBND-2023-ke-hoach-cchc-2024.md"
units = UnitRegistry.from_seed()
plan = PlanCatalogue.from_seeds(units)
DROP = dt.date(2024, 6, 20)


def catalogue() -> list[dict[str, str]]:
    with (SEEDS_DIR / "plan_tasks.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def appendix_tasks() -> dict[int, str]:
    """Each numbered task of the plan's appendix -> the text of its deadline cells ("Thời gian
    hoàn thành"), across its milestone rows and the rows a page break split off."""
    text = PLAN.read_text(encoding="utf-8")
    deadlines: dict[int, list[str]] = {}
    current = None
    for line in text[text.index("**PHỤ LỤC**") :].splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 7 or cells[0] == "TT" or cells == list("1234567") or all(re.fullmatch(r"-{2,}", c) for c in cells if c):
            continue  # not a table row, a page's repeated header, its column numbers or its rule
        if cells[0].startswith("<b>"):
            continue  # a section heading ("<b>II</b> Cải cách thể chế")
        if cells[0].isdigit():
            current = int(cells[0])
            deadlines[current] = []
        deadlines[current].append(cells[6])  # a milestone row ("-", "") or a page's spill-over
    return {task: re.sub(r"\s+", " ", " ".join(cells).replace("<br>", " ")).strip() for task, cells in deadlines.items()}


def test_every_numbered_task_of_the_appendix_is_in_the_catalogue():
    tasks = appendix_tasks()
    assert sorted(tasks) == list(range(1, 44))
    assert {int(row["task_number"]) for row in catalogue()} == set(tasks)


def test_every_deadline_is_read_from_the_plan_by_the_rules():
    tasks = appendix_tasks()
    for row in catalogue():
        written, deadline = row["deadline_as_written"], dt.date.fromisoformat(row["deadline"])
        assert written in tasks[int(row["task_number"])], f"{row['milestone_code']}: {written!r} is not what the plan says"
        if match := re.fullmatch(r"Trước ngày (\d{1,2})/(\d{1,2})/(\d{4})", written):
            day, month, year = map(int, match.groups())
            assert deadline == dt.date(year, month, day) - dt.timedelta(days=1), row["milestone_code"]
        elif match := re.search(r"trước tháng (\d{1,2})/(\d{4})$", written):
            month, year = map(int, match.groups())
            assert deadline == dt.date(year, month, 1) - dt.timedelta(days=1), row["milestone_code"]
        elif match := re.search(r"[Tt]háng (\d{1,2})/(\d{4})$", written):
            month, year = map(int, match.groups())
            if year == 2023:  # task 8 reads "Tháng 3/2023", before the plan itself: the note says so
                assert "lỗi đánh máy" in row["note"] and deadline == dt.date(2024, month, calendar.monthrange(2024, month)[1])
            else:
                assert deadline == dt.date(year, month, calendar.monthrange(year, month)[1]), row["milestone_code"]
        else:
            assert row["note"], f"{row['milestone_code']}: a deadline the rules do not read ({written!r}) needs a note"


def test_every_tháng_of_a_task_became_a_milestone():
    tasks, rows = appendix_tasks(), catalogue()
    for task, text in tasks.items():
        deadlines = {dt.date.fromisoformat(row["deadline"]) for row in rows if int(row["task_number"]) == task}
        for before, month, year in re.findall(r"(Từ |trước )?[Tt]háng (\d{1,2})/(\d{4})", text):
            year = 2024 if year == "2023" else int(year)  # task 8's slip, noted in the catalogue
            last = dt.date(year, int(month), calendar.monthrange(year, int(month))[1])
            if before == "Từ ":
                continue  # "Từ tháng 3/2024 đến tháng 6/2024": the start of a span, not a deadline
            if before == "trước ":
                last = dt.date(year, int(month), 1) - dt.timedelta(days=1)  # "trước tháng 3": by the end of February
            assert last in deadlines, f"task {task}: tháng {month}/{year}"
    recurring = [row for row in rows if row["deadline_as_written"].startswith("Theo kỳ báo cáo")]
    assert {row["deadline"] for row in recurring} == {"2024-03-14", "2024-06-14", "2024-09-14", "2024-12-14"}
    assert [row["milestone_code"] for row in rows if row["task_number"] == "6"] == ["6.1", "6.2", "6.3", "6.4"]


def test_a_group_lead_expands_to_each_of_its_units():
    departments = {code for code, unit in units.units.items() if unit.level == "department"}
    districts = {code for code, unit in units.units.items() if unit.level == "district"}
    assert len(departments) == 22 and len(districts) == 30
    assert plan.obligees["1.2"] == departments | districts
    assert plan.obligees["24.1"] == departments
    assert plan.obligees["11.1"] == districts
    assert plan.obligees["1.1"] == {"SNV"}


def test_the_warehouse_expands_groups_as_ingestion_does(sample_warehouse):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        rows = con.sql("select milestone_code, unit_code from marts.fct_plan_tasks").fetchall()
    assert {(m, u) for m, u in rows} == {(m, u) for m, owed in plan.obligees.items() for u in owed}


def parsed(text: str):
    return read_csv_export(text.encode())


PROGRESS_HEADER = "Mã nhiệm vụ,Mã đơn vị,Ngày hoàn thành,Số văn bản,Ghi chú\n"
SELF_HEADER = "Mã đơn vị,Kỳ báo cáo,Mã chỉ tiêu,Tử số,Mẫu số,Ghi chú\n"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("1.2,002,20/02/2024,,", "missing_document_number"),
        ("99.1,SNV,01/03/2024,1/KH,", "unknown_milestone"),
        (",SNV,01/03/2024,1/KH,", "unknown_milestone"),
        ("6.1,STP,01/03/2024,2/KH,", "not_an_obligee"),
        ("1.2,XYZ,20/02/2024,3/KH,", "unknown_unit"),
        ("2.2,003,31/02/2024,4/KH,", "unparseable_date"),
        ("2.2,004,21/06/2024,5/KH,", "date_after_drop"),
        ("2.2,005,01/01/1999,6/KH,", "date_before_2000"),
    ],
)
def test_each_task_progress_rule_quarantines_its_row(row, reason):
    checked = check_task_progress(parsed(PROGRESS_HEADER + row + "\n"), units, plan, DROP)
    assert checked.loaded.height == 0
    assert checked.quarantined["reasons"].to_list() == [reason]


def test_a_progress_row_without_a_date_is_a_withdrawal_and_the_note_is_never_kept():
    text = PROGRESS_HEADER + "10.1,SNV,,,Báo cáo nhầm\n1.1,SNV,02/02/2024,125/KH-SNV,Liên hệ Nguyễn Văn A 0912345678\n"
    checked = check_task_progress(parsed(text), units, plan, DROP)
    assert checked.quarantined.height == 0
    assert checked.loaded.select("milestone_code", "done_on").rows() == [("10.1", None), ("1.1", dt.date(2024, 2, 2))]
    assert "Nguyễn" not in repr(checked.loaded.rows())


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("ZZZ,2024-Q1,E_ARCHIVE,1,2,", "unknown_unit"),
        ("00001,2024-Q1,E_ARCHIVE,1,2,", "not_a_reporting_unit"),
        ("SNV,2024-Q5,E_ARCHIVE,1,2,", "unknown_period"),
        ("SNV,2024-03,E_ARCHIVE,1,2,", "unknown_period"),
        ("SNV,2024-Q4,E_ARCHIVE,1,2,", "unknown_period"),  # not begun by the drop
        ("SNV,2024-Q1,TRAIN_X,1,2,", "unknown_indicator"),
        ("SNV,2024-Q1,ROTATION,-3,10,", "count_not_a_whole_number"),
        ('SNV,2024-Q1,ROTATION,"12,5",20,', "count_not_a_whole_number"),
        ("SNV,2024-Q1,ROTATION,,20,", "count_not_a_whole_number"),
        ("SNV,2024-Q1,ARCHIVE_ONLINE,21,20,", "numerator_above_denominator"),
    ],
)
def test_each_self_report_rule_quarantines_its_row(row, reason):
    checked = check_self_reports(parsed(SELF_HEADER + row + "\n"), units, plan, DROP)
    assert checked.loaded.height == 0
    assert checked.quarantined["reasons"].to_list() == [reason]


def test_a_good_self_report_loads_as_counts():
    checked = check_self_reports(parsed(SELF_HEADER + "001,2024-Q3,WORK_PLATFORM,58,100,\n"), units, plan, DROP)
    assert checked.loaded.drop("row_number").rows() == [("001", "2024-Q3", "WORK_PLATFORM", 58, 100)]


def test_the_two_exports_are_recognised_by_their_headers_and_a_missing_column_rejects_the_file():
    assert parsed(PROGRESS_HEADER).kind == "task_progress"
    assert parsed(SELF_HEADER).kind == "self_reports"
    assert parsed("Mã nhiệm vụ,Mã đơn vị,Ngày hoàn thành,Số văn bản\n").kind == "task_progress", "Ghi chú is optional"
    with pytest.raises(RejectedFile, match="required column.*số văn bản"):
        parsed("Mã nhiệm vụ,Mã đơn vị,Ngày hoàn thành\n")


def test_the_committed_samples_are_the_scripts_output():
    for relative, text in plan_samples.file_texts().items():
        assert (PROJECT_ROOT / "data" / "raw" / relative).read_text(encoding="utf-8") == text, relative


def results(warehouse: str, sql: str, *parameters) -> list[tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return con.execute(sql, list(parameters)).fetchall()


KPI_ROW = "select numerator, denominator, value::varchar, status from marts.kpi_results where period = ? and unit_code = ? and kpi_code = ?"


@pytest.mark.parametrize(
    ("period", "unit", "kpi", "expected"),
    [
        # SNV owes eight milestones due in Q1 (1.1, 1.2, 2.1, 2.2, 4.1, 5.1, 27.1, 34.1): four reported on time.
        ("2024-Q1", "SNV", "TASKS_ONTIME", (4, 8, "0.5000", "below")),
        # 001: 1.2 late in June's drop, corrected to on time in December's; 2.2 and 5.1 not reported.
        ("2024-Q1", "001", "TASKS_ONTIME", (1, 3, "0.3333", "below")),
        # Self-reports: a quarter is its own report; H1, 9M and Y take the latest report inside them.
        ("2024-Q1", "SNV", "TRAIN_DIGITAL", (120, 130, "0.9231", "below")),
        ("2024-H1", "SNV", "TRAIN_DIGITAL", (130, 130, "1.0000", "met")),
        ("2024-Y", "SNV", "TRAIN_DIGITAL", (129, 131, "0.9847", "below")),
        ("2024-Q2", "001", "WORK_PLATFORM", (64, 100, "0.6400", "met")),  # December corrected June's 62
        ("2024-Y", "001", "WORK_PLATFORM", (58, 100, "0.5800", "below")),  # Q3's: no Q4 report
        ("2024-Q2", "STP", "E_ARCHIVE", (0, 0, None, "no_data")),  # STP reported H1 only
        ("2024-Y", "STP", "E_ARCHIVE", (400, 500, "0.8000", "met")),
        ("2024-Q2", "CAP_HUYEN", "WORK_PLATFORM", (64, 100, "0.6400", "met")),
        ("2024-Q2", "01", "TRAIN_DIGITAL", (130, 130, "1.0000", "met")),
    ],
)
def test_sample_plan_results_are_the_hand_checked_ones(sample_warehouse, period, unit, kpi, expected):
    assert results(sample_warehouse["CCHC_WAREHOUSE"], KPI_ROW, period, unit, kpi) == [expected]


def test_plan_rows_concern_departments_districts_and_report_periods_only(sample_warehouse):
    rows = results(
        sample_warehouse["CCHC_WAREHOUSE"],
        """
        select distinct u.level, p.period_kind
        from marts.kpi_results as r join marts.dim_kpis as k using (kpi_code)
        join marts.dim_units as u using (unit_code) join marts.dim_periods as p on p.period_code = r.period
        where k.source <> 'dossiers'
        """,
    )
    assert {level for level, _ in rows} == {"city", "roll_up", "department", "district"}
    assert {kind for _, kind in rows} == {"report"}


def test_sample_obligations_have_their_state_at_the_data_date(sample_warehouse):
    states = dict(
        results(
            sample_warehouse["CCHC_WAREHOUSE"],
            "select obligation_key, state from marts.fct_plan_tasks where obligation_key in ?",
            ["1.1 SNV", "10.1 SNV", "12.1 SNV", "1.2 001", "6.4 SNV", "13.1 SNV", "3.1 STTTT"],
        )
    )
    assert states == {
        "1.1 SNV": "done_on_time",
        "10.1 SNV": "overdue",  # reported in June, withdrawn in December
        "12.1 SNV": "done_late",
        "1.2 001": "done_on_time",  # the correction wins
        "6.4 SNV": "done_on_time",
        "13.1 SNV": "due_soon",  # 31/12/2024, 11 days after the data date
        "3.1 STTTT": "done_late",
    }


def test_sample_plan_files_quarantine_one_row_per_rule(sample_warehouse):
    rows = results(
        sample_warehouse["CCHC_WAREHOUSE"],
        "select kind, reasons, count(*) from audit.quarantined_rows where kind in ('task_progress', 'self_reports') group by all",
    )
    assert sorted(rows) == sorted([
        ("task_progress", "missing_document_number", 1), ("task_progress", "unknown_milestone", 2),
        ("task_progress", "not_an_obligee", 1), ("task_progress", "unknown_unit", 1), ("task_progress", "unparseable_date", 1),
        ("task_progress", "date_after_drop", 1), ("task_progress", "date_before_2000", 1),
        ("self_reports", "unknown_unit", 1), ("self_reports", "not_a_reporting_unit", 1), ("self_reports", "unknown_period", 2),
        ("self_reports", "unknown_indicator", 1), ("self_reports", "count_not_a_whole_number", 3),
        ("self_reports", "numerator_above_denominator", 1),
    ])  # fmt: skip
    files = results(
        sample_warehouse["CCHC_WAREHOUSE"],
        "select kind, sum(rows_read), sum(rows_loaded) + sum(rows_quarantined) from audit.ingested_files "
        "where kind in ('task_progress', 'self_reports') group by kind",
    )
    assert all(read == accounted for _, read, accounted in files) and len(files) == 2, "every row loaded or quarantined"


def test_a_note_in_a_progress_file_never_reaches_the_warehouse(sample_warehouse):
    with open(sample_warehouse["CCHC_WAREHOUSE"], "rb") as f:
        content = f.read()
    assert "Nguyễn Thị Mẫu Test".encode() not in content and b"0912345678" not in content


def test_make_kpis_shows_the_plan_rows_and_filters_by_source(sample_warehouse):
    env = {**os.environ, **sample_warehouse}
    table = run_cli("pipelines.cli.kpis", "--period", "2024-Q2", env=env).stdout
    assert "Nhiệm vụ trọng tâm và chỉ tiêu tự báo cáo" in table and "Nhiệm vụ đúng" in table
    tasks = run_cli("pipelines.cli.kpis", "--period", "2024-Q2", "--format", "csv", "--source", "tasks", env=env).stdout
    assert {row["kpi_code"] for row in csv.DictReader(io.StringIO(tasks))} == {"TASKS_ONTIME"}
    wrong = run_cli("pipelines.cli.kpis", "--period", "2024-Q2", "--source", "nope", env=env)
    assert wrong.returncode == 2 and "Unknown SOURCE 'nope'" in wrong.stderr and "Traceback" not in wrong.stderr


def test_an_overdue_obligation_is_alerted_to_its_unit_once(sample_warehouse, tmp_path):
    copy = tmp_path / "copy.duckdb"
    shutil.copy(sample_warehouse["CCHC_WAREHOUSE"], copy)
    with duckdb.connect(str(copy)) as con:
        (overdue,) = con.execute("select count(*) from marts.fct_plan_tasks where state = 'overdue'").fetchone()
        (alerted,) = con.execute("select count(*) from audit.task_alerts").fetchone()
        (body,) = con.execute("select body from audit.alert_outbox where kind = 'task_overdue' and recipient_unit = 'SNV'").fetchone()
        assert alerted == overdue > 0
        assert "Nhiệm vụ 10.1" in body and "quá 203 ngày" in body
        now = dt.datetime(2024, 12, 21, 1, 30)
        assert enqueue_overdue_tasks(con, AlertChannels(), now) == 0, "already alerted"
        con.execute("delete from audit.task_alerts where obligation_key = '10.1 SNV'")
        assert enqueue_overdue_tasks(con, AlertChannels(), now) == 1
        (recipient,) = con.execute(
            "select recipient_unit from audit.alert_outbox where kind = 'task_overdue' and created_at = ?", [now]
        ).fetchone()
    assert recipient == "SNV"


def test_the_report_lists_overdue_and_due_soon_tasks_and_who_has_not_reported(sample_warehouse):
    from pipelines.cli.report import load_report

    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        report = load_report(con, "2024-Q2", dt.datetime(2024, 12, 21))
    snv = report.tasks_by_unit["SNV"]
    assert {"10.1", "13.1"} <= {task["milestone_code"] for task in snv}
    assert {task["state"] for task in report.tasks_to_chase} == {"overdue", "due_soon"}
    not_reported = {row["unit_code"] for row in report.not_reported}
    assert "SNV" not in not_reported and "001" not in not_reported and "STP" in not_reported  # STP sent H1, not Q2
    assert len(not_reported) == 50


def test_the_kpi_gate_flags_plan_rows_below_target(sample_warehouse):
    (rows,) = results(
        sample_warehouse["CCHC_WAREHOUSE"],
        "select unexpected_rows from audit.validation_results where suite = 'kpi_targets' and not success",
    )[0]
    flagged = {(row["period"], row["unit_code"], row["kpi_code"]) for row in json.loads(rows)}
    assert {("2024-Q1", "SNV", "TASKS_ONTIME"), ("2024-Y", "SNV", "TRAIN_DIGITAL"), ("2024-Q3", "001", "WORK_PLATFORM")} <= flagged
    assert ("2024-Q2", "001", "WORK_PLATFORM") not in flagged


def test_plan_files_have_the_dossier_exports_guarantees(tmp_path):
    """Resent content is skipped wherever it lands, an unreadable file is rejected with a reason,
    and every row read is loaded or quarantined."""
    from pipelines.ingest.lake import Lake, discover_drops
    from pipelines.ingest.reference import SectorCatalogue

    progress = (PROGRESS_HEADER + "1.1,SNV,02/02/2024,125/KH-SNV,\n99.1,SNV,02/02/2024,1/KH,\n").encode()
    raw = tmp_path / "raw"
    for day, name, content in [
        ("2024-06-20", "tien_do.csv", progress),
        ("2024-06-21", "tien_do_gui_lai.csv", progress),  # the same file again, renamed
        ("2024-06-21", "tu_bao_cao.csv", (SELF_HEADER + "SNV,2024-Q1,TRAIN_DATA,3,10,Đã rà soát\n").encode("utf-16")),
    ]:
        (raw / day).mkdir(parents=True, exist_ok=True)
        (raw / day / name).write_bytes(content)
    files, _ = discover_drops(raw)
    entries = {entry.path: entry for entry in Lake(tmp_path / "lake").ingest(files, units, SectorCatalogue.from_seed(), "salt", plan=plan)}
    first, resent, latin = (
        entries["2024-06-20/tien_do.csv"],
        entries["2024-06-21/tien_do_gui_lai.csv"],
        entries["2024-06-21/tu_bao_cao.csv"],
    )
    assert (first.status, first.kind, first.rows_read, first.rows_loaded, first.rows_quarantined) == ("loaded", "task_progress", 2, 1, 1)
    assert resent.status == "skipped" and "already ingested" in resent.reason
    assert latin.status == "rejected" and "not UTF-8" in latin.reason


def test_a_months_report_says_self_reports_are_per_report_period(sample_warehouse):
    from pipelines.cli.report import load_report, render_html

    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        month = render_html(load_report(con, "2024-03", dt.datetime(2024, 12, 21)))
        quarter = render_html(load_report(con, "2024-Q2", dt.datetime(2024, 12, 21)))
    assert "không theo tháng" in month and "không theo tháng" not in quarter
    assert 'data-unit="STP"' in quarter.split('id="not-reported"')[1]

"""The whole job on the sample drops, in a warehouse under a temporary folder."""

import csv
import io
import json
import os
from pathlib import Path

import duckdb
import pytest

from tests.conftest import FIXTURES, SAMPLE_DROPS, materialize, run_cli

# Every 2024 report period (closed at the samples' data date, 20/12/2024) and one running period.
REPORT_PERIODS = ["2024-Q1", "2024-Q2", "2024-H1", "2024-Q3", "2024-9M", "2024-Q4", "2024-Y", "2025-Q1"]


def cli_env(environment: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **environment}


def expected_rows(period: str) -> list[str]:
    lines = (FIXTURES / "expected_kpis.csv").read_text(encoding="utf-8").splitlines()
    return [lines[0], *(line for line in lines[1:] if line.startswith(period + ","))]


@pytest.mark.parametrize("period", REPORT_PERIODS)
def test_kpis_csv_equals_the_expected_rows(sample_warehouse, period):
    result = run_cli("pipelines.cli.kpis", "--period", period, "--format", "csv", "--source", "dossiers", env=cli_env(sample_warehouse))
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stdout and not result.stdout.startswith("\ufeff")
    assert result.stdout.splitlines() == expected_rows(period)
    # Every source (the default): the plan's task and self-report rows come after each unit's
    # dossier KPIs; without them the lines are the expected ones, in the same order.
    every = run_cli("pipelines.cli.kpis", "--period", period, "--format", "csv", env=cli_env(sample_warehouse)).stdout.splitlines()
    expected_codes = {line.split(",")[-6] for line in expected_rows(period)[1:]}
    assert [line for line in every if line.split(",")[-6] in expected_codes or line == every[0]] == expected_rows(period)


def test_json_and_unit_filter_give_the_same_numbers(sample_warehouse):
    result = run_cli("pipelines.cli.kpis", "--period", "2024-Q2", "--format", "json", "--unit", "001", "--source", "dossiers", env=cli_env(sample_warehouse))
    rows = json.loads(result.stdout)
    expected = [r for r in csv.DictReader(io.StringIO("\n".join(expected_rows("2024-Q2")))) if r["unit_code"] == "001"]
    assert [(r["kpi_code"], r["numerator"], r["denominator"], r["status"]) for r in rows] == [
        (r["kpi_code"], int(r["numerator"]), int(r["denominator"]), r["status"]) for r in expected
    ]
    assert all((r["value"] is None) == (r["status"] == "no_data") for r in rows)


def test_long_table_marks_below_target_rows_in_vietnamese(sample_warehouse):
    result = run_cli("pipelines.cli.kpis", "--period", "2024-Q1", "--format", "long", "--source", "dossiers", env=cli_env(sample_warehouse))
    below = sum(line.endswith(",below") for line in expected_rows("2024-Q1"))
    assert result.stdout.count("KHÔNG ĐẠT") == below
    assert "Thành phố Hà Nội" in result.stdout and "Tỷ lệ hồ sơ TTHC được xử lý hoàn toàn trực tuyến" in result.stdout


def test_table_is_one_line_per_unit_and_fits_a_200_column_terminal(sample_warehouse):
    lines = run_cli("pipelines.cli.kpis", "--period", "2024-Q2", "--source", "dossiers", env=cli_env(sample_warehouse)).stdout.splitlines()
    rows = list(csv.DictReader(io.StringIO("\n".join(expected_rows("2024-Q2")))))
    units = list(dict.fromkeys(row["unit_code"] for row in rows))
    unit_lines = [line for line in lines if line.split(maxsplit=1)[:1] and line.split(maxsplit=1)[0] in units]
    assert [line.split()[0] for line in unit_lines] == units, "one line per unit, the city and the levels first"
    assert units[:4] == ["01", "CAP_TP", "CAP_HUYEN", "CAP_XA"]
    assert max(len(line) for line in lines) <= 200
    assert sum(line.count("▼") for line in unit_lines) == sum(row["status"] == "below" for row in rows)
    ba_dinh = next(line for line in unit_lines if line.split()[0] == "001")
    shown = [cell for cell in ba_dinh.split("  ") if cell.strip()][2:]
    ba_dinh_rows = [row for row in rows if row["unit_code"] == "001"]
    expected = [("▼" if r["status"] == "below" else "") + ("—" if not r["value"] else f"{float(r['value']) * 100:.2f}%") for r in ba_dinh_rows]
    assert [cell.strip() for cell in shown] == expected


def test_unknown_period_lists_the_valid_codes_and_fails(sample_warehouse):
    result = run_cli("pipelines.cli.kpis", "--period", "2024-Q5", "--format", "csv", env=cli_env(sample_warehouse))
    assert result.returncode != 0 and result.stdout == ""
    assert "Unknown period '2024-Q5'" in result.stderr and "2024-Q1" in result.stderr and "2024-9M" in result.stderr
    assert "Traceback" not in result.stderr


def test_absent_warehouse_is_one_sentence(tmp_path):
    result = run_cli("pipelines.cli.kpis", "--period", "2024-Q1", env=cli_env({"CCHC_WAREHOUSE": str(tmp_path / "none.duckdb")}))
    assert result.returncode != 0
    assert result.stderr.strip().startswith("No warehouse at") and "make run" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_periods_follow_the_cut_off_rule(sample_warehouse):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        periods = con.execute(
            "select period_code, start_on::varchar, end_on::varchar from marts.dim_periods where year = 2025 and period_kind = 'report' order by period_order"
        ).fetchall()
        months = con.execute("select count(*) from marts.dim_periods where year = 2024 and period_kind = 'month'").fetchall()
    assert periods == [
        ("2025-Q1", "2024-12-15", "2025-03-14"), ("2025-Q2", "2025-03-15", "2025-06-14"),
        ("2025-H1", "2024-12-15", "2025-06-14"), ("2025-Q3", "2025-06-15", "2025-09-14"),
        ("2025-9M", "2024-12-15", "2025-09-14"), ("2025-Q4", "2025-09-15", "2025-12-14"),
        ("2025-Y", "2024-12-15", "2025-12-14"),
    ]  # fmt: skip
    assert months == [(12,)]


def test_periods_are_evaluated_at_the_data_date(sample_warehouse):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        states = dict(
            (code, (state, str(evaluated)))
            for code, state, evaluated in con.execute("select period_code, state, evaluation_on from marts.dim_periods").fetchall()
        )
        not_started = con.execute("select distinct status from marts.kpi_results where period = '2025-Q2'").fetchall()
    assert states["2024-Y"] == ("closed", "2024-12-14")
    assert states["2025-Q1"] == ("running", "2024-12-20") and states["2024-12"] == ("running", "2024-12-20")
    assert states["2025-Q2"] == ("not_started", "2024-12-20")
    assert not_started == [("no_data",)]
    table = run_cli("pipelines.cli.kpis", "--period", "2025-Q1", env=cli_env(sample_warehouse)).stdout
    assert table.startswith("Kết quả chỉ tiêu CCHC kỳ 2025-Q1 (kỳ đang diễn ra, số liệu đến ngày 20/12/2024)")


def test_every_row_is_reconciled_and_no_applicant_pii_reaches_the_warehouse(sample_warehouse):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        files = con.execute("select status, rows_read, rows_loaded, rows_quarantined from audit.ingested_files").fetchall()
        text_columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type = 'VARCHAR' and table_schema in ('raw', 'staging', 'intermediate', 'marts', 'audit')"
        ).fetchall()
        values = set()
        for schema, table, column in text_columns:
            values.update(v for (v,) in con.execute(f'select distinct "{column}" from {schema}.{table}').fetchall() if v)
    assert len(files) == sum(1 for _ in SAMPLE_DROPS.glob("*/*"))
    assert all(status == "loaded" and read == loaded + quarantined for status, read, loaded, quarantined in files)

    applicant_ids, applicant_names = set(), set()
    for path in SAMPLE_DROPS.glob("*/*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            applicant_ids.add(item.get("SoGiayToChuHoSo"))
            applicant_names.add(item.get("ChuHoSo"))
    for path in SAMPLE_DROPS.glob("*/igate*.csv"):
        for row in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))):
            applicant_ids.add(row["Số CCCD/CMND"])
            applicant_names.add(row["Người nộp"])
    applicant_ids.discard("")
    applicant_ids.discard(None)
    assert len(applicant_ids) > 100
    assert not (applicant_ids | applicant_names) & values
    assert not any(any(i in v for i in applicant_ids) for v in values if len(v) >= 12)


def test_second_run_on_the_same_drops_changes_nothing(sample_warehouse):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        before = con.execute("select * from marts.kpi_results order by all").fetchall()
        files_before = con.execute("select count(*) from audit.ingested_files").fetchall()
        alerts_before = con.execute("select * from audit.alerts order by all").fetchall()
        messages_before = con.execute("select count(*) from audit.alert_outbox").fetchall()
    assert materialize(sample_warehouse).success
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        assert con.execute("select * from marts.kpi_results order by all").fetchall() == before
        assert con.execute("select count(*) from audit.ingested_files").fetchall() == files_before
        assert con.execute("select * from audit.alerts order by all").fetchall() == alerts_before
        assert con.execute("select count(*) from audit.alert_outbox").fetchall() == messages_before


@pytest.mark.integration
def test_missing_drop_folder_is_one_sentence_and_a_failure(tmp_path):
    environment = {**os.environ, "CCHC_RAW_DIR": str(tmp_path / "nowhere"), "CCHC_WAREHOUSE": str(tmp_path / "w.duckdb")}
    result = run_cli("pipelines.cli.run", env=environment)
    assert result.returncode != 0
    assert result.stderr.strip() == f"The drop folder {tmp_path / 'nowhere'} does not exist: set CCHC_RAW_DIR to the folder holding the nightly YYYY-MM-DD drops."


def test_make_run_prints_a_summary_without_pii_and_warns_about_the_development_salt(sample_warehouse, tmp_path):
    environment = {**cli_env(sample_warehouse), "DAGSTER_HOME": str(tmp_path)}
    environment.pop("CCHC_PII_SALT", None)
    result = run_cli("pipelines.cli.run", env=environment)
    assert result.returncode == 0, result.stderr
    assert f"Warehouse published: {sample_warehouse['CCHC_WAREHOUSE']}" in result.stdout
    assert "files loaded: 86 (4515 rows loaded, 17 quarantined)" in result.stdout
    assert "CCHC_PII_SALT is not set" in result.stderr
    # One line per step; dbt's line per model and test only in the log the summary names.
    steps = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("  ✓ ")]
    assert steps[0] == "ingest_drops" and "cchc_dbt_models" in steps and steps[-1] == "published_warehouse"
    dbt_log = Path(sample_warehouse["CCHC_WAREHOUSE"]).parent / "dbt-build.log"
    assert "START sql" not in result.stdout and f"its every line: {dbt_log}" in result.stdout
    assert "START sql" in dbt_log.read_text(encoding="utf-8")
    assert len(result.stdout.splitlines()) < 20
    output = result.stdout + result.stderr
    for path in SAMPLE_DROPS.glob("*/*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines()[:20]:
            item = json.loads(line)
            assert item["ChuHoSo"] not in output
            assert not item["SoGiayToChuHoSo"] or item["SoGiayToChuHoSo"] not in output


def test_an_analyst_reading_during_a_run_neither_blocks_it_nor_breaks(sample_warehouse):
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as analyst:
        before = analyst.execute("select count(*) from marts.kpi_results").fetchall()
        assert materialize(sample_warehouse).success
        assert analyst.execute("select count(*) from marts.kpi_results").fetchall() == before


def test_the_readme_queries_for_analysts_run(sample_warehouse):
    readme = (SAMPLE_DROPS.parent.parent / "README.md").read_text(encoding="utf-8")
    queries = [block.split("```", 1)[0] for block in readme.split("```sql\n")[1:]]
    assert len(queries) == 5
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        results = [con.execute(query).fetchall() for query in queries]
    assert results[0] and results[1] and len(results[2]) == 12

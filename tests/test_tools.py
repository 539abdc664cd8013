"""The tools analysts already have: the DuckDB CLI from PyPI (1.x) opens the published warehouse."""

from __future__ import annotations

import io
import os
import shutil
import subprocess

import duckdb

from pipelines.cli.sql import cli_path
from pipelines.config import PROJECT_ROOT
from pipelines.ingest.lake import Lake, discover_drops
from pipelines.ingest.reference import SectorCatalogue, UnitRegistry
from pipelines.progress import DbtProgressLog, progress
from pipelines.storage import make_portable, storage_version
from tests.conftest import SAMPLE_DROPS


def test_the_published_warehouse_is_in_a_format_duckdb_1_4_opens(sample_warehouse):
    assert storage_version(PROJECT_ROOT / sample_warehouse["CCHC_WAREHOUSE"]).startswith("v1.4")


def test_make_sql_is_the_pypi_duckdb_cli_reading_the_marts(sample_warehouse):
    version = subprocess.run([cli_path(), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1."), f"the 1.x CLI from PyPI, not DuckDB 2.0: {version}"
    with duckdb.connect(sample_warehouse["CCHC_WAREHOUSE"], read_only=True) as con:
        (expected,) = con.execute("select count(*) from marts.kpi_results where status = 'below'").fetchone()
    result = subprocess.run(
        ["make", "-s", "sql"], input=".mode csv\nselect count(*) as n from marts.kpi_results where status = 'below';",
        cwd=PROJECT_ROOT, env={**os.environ, **sample_warehouse}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["n", str(expected)]


def test_make_sql_without_a_warehouse_is_one_sentence(tmp_path):
    result = subprocess.run(
        ["make", "-s", "sql"], check=False, input="", cwd=PROJECT_ROOT, env={**os.environ, "CCHC_WAREHOUSE": str(tmp_path / "none.duckdb")},
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "No warehouse at" in result.stderr and "Traceback" not in result.stderr


def test_a_build_file_in_the_newer_format_is_converted_once_with_its_rows(tmp_path):
    path = tmp_path / "old.build.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema audit; create table audit.alert_state as select range as n from range(5)")
    assert storage_version(path).startswith("v2")
    assert make_portable(path) and not make_portable(path)
    assert storage_version(path).startswith("v1.4")
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.execute("select sum(n) from audit.alert_state").fetchone() == (10,)


def test_the_dagster_ui_shows_the_answer_on_the_kpi_mart(sample_run):
    import dagster as dg

    environment, result = sample_run
    (materialization,) = [
        event.event_specific_data.materialization
        for event in result.all_events
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        and event.event_specific_data.materialization.asset_key == dg.AssetKey(["marts", "kpi_results"])
    ]
    table = materialization.metadata["newest_period"].value
    assert "2025-Q1" in table and "số liệu đến ngày 20/12/2024" in table
    assert "| Thành phố Hà Nội | ▼ 91.67% |" in table and "| Cấp xã (phường, xã, thị trấn) |" in table
    with duckdb.connect(environment["CCHC_WAREHOUSE"], read_only=True) as con:
        (below,) = con.execute(
            "select count(*) from marts.kpi_results join marts.dim_units using (unit_code) "
            "where period = '2025-Q1' and kpi_code = 'ONTIME' and status = 'below' and level not in ('city', 'roll_up')"
        ).fetchone()
    assert materialization.metadata["units_below_ontime"].value == below


def test_progress_is_a_plain_line_every_tenth_when_not_a_terminal():
    stream = io.StringIO()
    with progress("Reading drop files", 20, stream) as advance:
        for _ in range(20):
            advance(1)
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [f"Reading drop files: {done}/20" for done in range(2, 21, 2)]


def test_progress_is_a_rich_bar_on_a_terminal():
    stream = io.StringIO()
    with progress("Writing the drop folders", 3, stream, terminal=True) as advance:
        advance(3)
    text = stream.getvalue()
    assert "\x1b[" in text and "━" in text and "3/3" in text and "Writing the drop folders" in text


def test_a_backlog_of_files_reports_its_progress_and_a_nightly_drop_does_not(tmp_path, capfd):
    registry, sectors = UnitRegistry.from_seed(), SectorCatalogue.from_seed()
    files, _ = discover_drops(SAMPLE_DROPS)
    Lake(tmp_path / "lake").ingest(files, registry, sectors, "salt", workers=1)
    assert f"Reading drop files: {len(files)}/{len(files)}" in capfd.readouterr().err
    (tmp_path / "raw" / "2024-12-21").mkdir(parents=True)
    shutil.copy(files[0].path, tmp_path / "raw" / "2024-12-21" / files[0].name)
    night, _ = discover_drops(tmp_path / "raw")
    Lake(tmp_path / "lake").ingest(night, registry, sectors, "salt", workers=1)
    assert capfd.readouterr().err == ""


def test_dbt_lines_go_to_the_log_and_each_finished_node_advances_the_bar(tmp_path):
    log, stream = io.StringIO(), io.StringIO()
    with DbtProgressLog(log, stream) as lines:
        lines.write("Found 3 models\n1 of 1 START hook: cchc_kpi.on-run-start.0 .... [RUN]\n")
        lines.write("1 of 1 OK hook: cchc_kpi.on-run-start.0 .... [OK in 0.02s]\n")  # not a node of the build
        lines.write("1 of 4 START sql view model staging.a .... [RUN]\n")
        lines.write("\x1b[0m1 of 4 OK created sql view model staging.a .... [\x1b[32mOK\x1b[0m in 0.1s]\n")
        for number in (2, 3, 4):
            lines.write(f"{number} of 4 PASS not_null_a_id .... [PASS in 0.1s]\n")
    assert log.getvalue().count("\n") == 8, "every line reaches the log"
    assert [line.split(" (")[0] for line in stream.getvalue().splitlines()] == [f"dbt build: {n}/4" for n in (1, 2, 3, 4)]

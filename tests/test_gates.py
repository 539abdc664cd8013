"""The ingestion-boundary gate: its suite on hand-made frames, and a run with a bad drop."""

import datetime as dt
import shutil
import subprocess
import sys

import duckdb
import pandas as pd
import polars as pl
import pytest

from pipelines.config import PROJECT_ROOT
from pipelines.gates import validate
from pipelines.ingest.lake import LAKE_SCHEMAS, PROVENANCE, Lake, ManifestEntry
from tests.conftest import SAMPLE_DROPS, materialize

CLEAN_FILE = {"path": "2024-06-20/a.csv", "status": "loaded", "reason": None, "rows_read": 3, "rows_accounted": 3, "rows_quarantined": 0}


@pytest.mark.integration
def test_boundary_suite_passes_clean_files_and_is_critical_when_a_row_is_lost(tmp_path):
    clean = validate("ingestion_boundary", pd.DataFrame([CLEAN_FILE]), ["path"], tmp_path)
    assert clean.failures == [] and clean.evaluated == 3
    broken = validate(
        "ingestion_boundary",
        pd.DataFrame([CLEAN_FILE, {**CLEAN_FILE, "path": "2024-06-20/b.csv", "rows_accounted": 2}]),
        ["path"],
        tmp_path,
    )
    assert broken.critical
    assert [(f.severity, [r["path"] for r in f.rows]) for f in broken.failures] == [("critical", ["2024-06-20/b.csv"])]
    assert (tmp_path / "index.html").is_file()


@pytest.mark.integration
def test_great_expectations_runs_in_the_gate_process_never_in_the_run(tmp_path):
    # A fresh interpreter: the run's process validates a frame and still has not imported GX,
    # whose import (seconds) happens in the gate process while the run loads and ingests.
    code = (
        "import os, sys, pandas as pd\n"
        "from pipelines.gates import gate_process, validate\n"
        f"outcome = validate('ingestion_boundary', pd.DataFrame([{CLEAN_FILE!r}]), ['path'], {str(tmp_path)!r})\n"
        "print(outcome.evaluated, 'great_expectations' in sys.modules, gate_process().submit(os.getpid).result() != os.getpid())\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, check=True)
    assert result.stdout.split() == ["3", "False", "True"]


@pytest.mark.integration
def test_a_bad_drop_is_flagged_and_alerted_but_the_rest_publishes(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE_DROPS / "2024-06-20", raw / "2024-06-20")
    (raw / "2024-06-21").mkdir()
    (raw / "2024-06-21" / "broken.csv").write_bytes("Mã hồ sơ,Đơn vị\nĐ,1\n".encode("cp1258", errors="replace") + b"\xd0\n")
    (raw / "2024-06-21" / "pakn_extra.csv").write_text(
        "Mã PAKN,Mã đơn vị,Ngày tiếp nhận,Hạn xử lý,Ngày xử lý,Ngày công khai\nP-1,999,01/03/2024,15/03/2024,,\n", encoding="utf-8"
    )
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(tmp_path / "w" / "cchc.duckdb")}
    result = materialize(environment)
    assert result.success
    (boundary,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "ingestion_boundary"]
    assert not boundary.passed and boundary.severity.value == "WARN"
    assert [r["path"] for r in boundary.metadata["file accepted"].value] == ["2024-06-21/broken.csv"]
    # the sample plan files carry a row for each quarantine rule
    assert [r["path"] for r in boundary.metadata["no row quarantined"].value] == [
        "2024-06-20/chi_tieu_tu_bao_cao_20240620.csv", "2024-06-20/nhiem_vu_tien_do_20240620.csv", "2024-06-21/pakn_extra.csv"
    ]
    with duckdb.connect(environment["CCHC_WAREHOUSE"], read_only=True) as con:
        assert con.execute("select count(*) from marts.kpi_results").fetchall()[0][0] > 0
        assert con.execute("select subject from audit.alert_outbox where kind = 'file_rejected'").fetchall() == [
            ("[CCHC] Tệp bị từ chối: 2024-06-21/broken.csv",)
        ]


@pytest.mark.integration
@pytest.mark.parametrize(
    "received_at, due_at",
    [
        pytest.param(dt.datetime(2024, 6, 3), dt.datetime(2024, 6, 1), id="due before received"),
        # the marts count a period's dossiers up to its evaluation date, on the rule that none is
        # received after the data date
        pytest.param(dt.datetime(2024, 6, 22), dt.datetime(2024, 6, 28), id="received after its drop"),
    ],
)
def test_a_loaded_row_that_breaks_a_rule_stops_the_build_before_publishing(tmp_path, received_at, due_at):
    """The rules run at ingestion; dbt's staging tests prove them. A row planted in the lake past the
    rules (as a bug in them would let it through) fails the build, and analysts keep the last warehouse."""
    raw = tmp_path / "raw"
    shutil.copytree(SAMPLE_DROPS / "2024-06-20", raw / "2024-06-20")
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(tmp_path / "w" / "cchc.duckdb")}
    assert materialize(environment).success
    published = (tmp_path / "w" / "cchc.duckdb").read_bytes()

    lake = Lake(tmp_path / "w" / "lake")
    row = {
        "row_number": 1, "dossier_id": "PLANTED-1", "unit_code": "001", "channel": 1, "status": 4,
        "received_at": received_at, "due_at": due_at,
        "drop_date": dt.date(2024, 6, 21), "source_file": "planted.csv", "file_hash": "planted",
    }  # fmt: skip
    lake.data_path("dossiers", "planted").parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame([row], schema={**LAKE_SCHEMAS["dossiers"], **PROVENANCE}).write_parquet(lake.data_path("dossiers", "planted"))
    lake._record([ManifestEntry("planted", "2024-06-21", "planted.csv", "2024-06-21/planted.csv", "loaded", "dossiers", rows_read=1, rows_loaded=1)])

    result = materialize(environment)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "cchc_dbt_models"
    assert "dossiers_row_rules" in failure.step_failure_data.error.message
    assert (tmp_path / "w" / "cchc.duckdb").read_bytes() == published

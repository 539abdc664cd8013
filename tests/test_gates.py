"""The ingestion-boundary gate: its suite on hand-made frames, and a run with a bad drop."""

import datetime as dt
import shutil

import duckdb
import pandas as pd
import polars as pl

from pipelines.gates import boundary_frame, validate
from pipelines.ingest.lake import LAKE_SCHEMAS, PROVENANCE, Lake, ManifestEntry
from tests.conftest import SAMPLE_DROPS, materialize

CLEAN_FILE = {
    "path": "2024-06-20/a.csv", "status": "loaded", "reason": None, "rows_read": 3, "rows_accounted": 3,
    "rows_quarantined": 0, "loaded_missing_required": 0, "loaded_status_outside_set": 0,
    "loaded_channel_outside_set": 0, "loaded_due_before_received": 0, "loaded_resolved_without_finish": 0,
}  # fmt: skip


def test_boundary_suite_passes_clean_files_and_is_critical_when_loaded_rows_break_a_rule(tmp_path):
    clean = validate("ingestion_boundary", pd.DataFrame([CLEAN_FILE]), ["path"], tmp_path)
    assert clean.failures == [] and clean.evaluated == 8
    broken = validate(
        "ingestion_boundary",
        pd.DataFrame([CLEAN_FILE, {**CLEAN_FILE, "path": "2024-06-20/b.csv", "loaded_due_before_received": 2}]),
        ["path"],
        tmp_path,
    )
    assert broken.critical
    assert [(f.severity, [r["path"] for r in f.rows]) for f in broken.failures] == [("critical", ["2024-06-20/b.csv"])]
    assert (tmp_path / "index.html").is_file()


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
    assert [r["path"] for r in boundary.metadata["no row quarantined"].value] == ["2024-06-21/pakn_extra.csv"]
    with duckdb.connect(environment["CCHC_WAREHOUSE"], read_only=True) as con:
        assert con.execute("select count(*) from marts.kpi_results").fetchall()[0][0] > 0
        assert con.execute("select subject from audit.alert_outbox where kind = 'file_rejected'").fetchall() == [
            ("[CCHC] Tệp bị từ chối: 2024-06-21/broken.csv",)
        ]


def test_boundary_counts_each_loaded_files_broken_rows_once(tmp_path):
    """Counts come from each file's own rows, are kept, and a later file adds its own only."""
    lake = Lake(tmp_path / "lake")
    columns = {**LAKE_SCHEMAS["dossiers"], **PROVENANCE}

    def add_file(file_hash: str, statuses: list[int]) -> None:
        rows = [
            {"row_number": n, "dossier_id": f"{file_hash}-{n}", "unit_code": "000.00.01.H26", "channel": 1, "status": status,
             "received_at": dt.datetime(2024, 6, 3), "due_at": dt.datetime(2024, 6, 1 if n == 1 else 7),
             "drop_date": dt.date(2024, 6, 20), "source_file": f"{file_hash}.csv", "file_hash": file_hash}
            for n, status in enumerate(statuses, start=1)
        ]  # fmt: skip
        lake.data_path("dossiers", file_hash).parent.mkdir(parents=True, exist_ok=True)
        pl.DataFrame(rows, schema=columns).write_parquet(lake.data_path("dossiers", file_hash))
        lake._record(ManifestEntry(file_hash, "2024-06-20", f"{file_hash}.csv", f"2024-06-20/{file_hash}.csv", "loaded", "dossiers", rows_read=len(rows), rows_loaded=len(rows)))

    with duckdb.connect(str(tmp_path / "build.duckdb")) as con:
        add_file("a", [4, 11])
        lake.expose(con)
        first = boundary_frame(con)
        add_file("b", [4, 4, 0])
        lake.expose(con)
        second = boundary_frame(con).set_index("path")
        kept = con.execute("select file_hash, count(*) from audit.loaded_rule_counts group by all order by all").fetchall()
    assert first[["path", "loaded_status_outside_set", "loaded_due_before_received"]].values.tolist() == [["2024-06-20/a.csv", 1, 1]]
    assert second.loc["2024-06-20/a.csv", "loaded_status_outside_set"] == 1
    assert second.loc["2024-06-20/b.csv", ["loaded_status_outside_set", "loaded_due_before_received"]].tolist() == [1, 1]
    assert kept == [("a", 1), ("b", 1)], "each file counted once"

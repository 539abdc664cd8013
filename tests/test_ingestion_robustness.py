"""The lake under resends, deltas, re-drops, odd folders, arbitrary night splits and kill -9."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.config import PROJECT_ROOT
from pipelines.ingest import lake as lake_module
from pipelines.ingest.lake import Lake, discover_drops
from pipelines.ingest.reference import SectorCatalogue, UnitRegistry

units = UnitRegistry.from_seed()
sectors = SectorCatalogue.from_seed()
HEADER = "Mã hồ sơ,Lĩnh vực,Đơn vị xử lý,Hình thức nộp,Mức độ DVC,Số CCCD/CMND,Ngày tiếp nhận,Ngày hẹn trả,Ngày có kết quả,Ngày trả kết quả,Trạng thái,Xác thực VNeID,Kết quả điện tử"
STATUSES = {4: "Đang xử lý", 10: "Đã trả kết quả"}


def igate_csv(rows: list[tuple[str, int]]) -> str:
    lines = [HEADER]
    for dossier_id, status in rows:
        finished = "05/03/2024" if status == 10 else ""
        lines.append(f"{dossier_id},Hộ tịch,Quận Ba Đình,Trực tuyến,Toàn trình,,01/03/2024,10/03/2024,{finished},,{STATUSES[status]},Có,Có")
    return "\n".join(lines) + "\n"


def ingest(raw: Path, lake_dir: Path) -> list[str]:
    files, warnings = discover_drops(raw)
    Lake(lake_dir).ingest(files, units, sectors, "salt")
    return warnings


def lake_state(lake_dir: Path) -> tuple[list[tuple], list[dict]]:
    """What dbt reads (the exposed raw rows) and the manifest's rows by column, without their
    timestamps, timings and lake paths (which name the lake directory)."""
    with duckdb.connect() as con:
        Lake(lake_dir).expose(con)
        rows = con.execute("select * exclude (file_hash, lake_file) from raw.dossiers order by all").fetchall()
        cursor = con.execute("select * exclude (ingested_at, ingest_seconds, lake_file) from audit.ingested_files order by path")
        columns = [column[0] for column in cursor.description]
        files = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return rows, files


def write(raw: Path, relative: str, text: str) -> None:
    path = raw / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def test_resent_file_is_skipped_and_a_delta_export_supersedes(tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write(raw, "2024-06-20/full.csv", igate_csv([("A", 4), ("B", 4)]))
    ingest(raw, lake)
    write(raw, "2024-06-21/renamed copy.csv", igate_csv([("A", 4), ("B", 4)]))
    write(raw, "2024-06-21/delta.csv", igate_csv([("A", 10)]))
    ingest(raw, lake)
    rows, files = lake_state(lake)
    statuses = {file["path"]: file["status"] for file in files}
    assert statuses == {"2024-06-20/full.csv": "loaded", "2024-06-21/renamed copy.csv": "skipped", "2024-06-21/delta.csv": "loaded"}
    assert len(rows) == 3  # the copy added nothing; the delta adds A's new state beside the old one


def test_rejected_file_fixed_and_dropped_again_is_picked_up(tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    without_last_column = "\n".join(line.rsplit(",", 1)[0] for line in igate_csv([("A", 4)]).splitlines())
    write(raw, "2024-06-20/units.csv", without_last_column)
    ingest(raw, lake)
    write(raw, "2024-06-21/units.csv", igate_csv([("A", 4)]))
    ingest(raw, lake)
    _, files = lake_state(lake)
    assert [(f["path"], f["status"]) for f in files] == [("2024-06-20/units.csv", "rejected"), ("2024-06-21/units.csv", "loaded")]
    assert "kết quả điện tử" in files[0]["reason"]


def test_files_outside_drops_and_empty_drops_are_warned_about(tmp_path):
    raw = tmp_path / "raw"
    write(raw, "stray.csv", igate_csv([("A", 4)]))
    write(raw, "june/x.csv", igate_csv([("A", 4)]))
    (raw / "2024-06-22").mkdir()
    files, ignored = discover_drops(raw)
    assert files == []
    assert [str(entry) for entry in ignored] == [
        "Ignored 2024-06-22: an empty drop: no export to ingest from it",
        "Ignored june: only files inside a drop folder named YYYY-MM-DD are ingested",
        "Ignored stray.csv: only files inside a drop folder named YYYY-MM-DD are ingested",
    ]


dossier_versions = st.lists(st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.sampled_from([4, 10])), min_size=0, max_size=4)
nights = st.lists(st.lists(dossier_versions, min_size=1, max_size=3), min_size=1, max_size=4)


@pytest.mark.integration
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(nights=nights, resend=st.booleans())
def test_one_night_at_a_time_equals_all_at_once(tmp_path_factory, nights, resend):
    """dbt is a pure function of the exposed lake, so equal lakes give equal marts."""
    root = tmp_path_factory.mktemp("split")
    raw, nightly_lake, bulk_lake = root / "raw", root / "nightly", root / "bulk"
    for night, exports in enumerate(nights, start=1):
        for number, rows in enumerate(exports):
            write(raw, f"2024-06-{night:02d}/export_{number}.csv", igate_csv(rows))
        if resend and night > 1:  # yesterday's first export sent again under another name
            write(raw, f"2024-06-{night:02d}/zz_resend.csv", igate_csv(nights[night - 2][0]))
        ingest(raw, nightly_lake)
    ingest(raw, bulk_lake)
    assert lake_state(nightly_lake) == lake_state(bulk_lake)


INGEST_SCRIPT = """
import sys
import pytest
from pathlib import Path
from pipelines.ingest.lake import Lake, discover_drops
from pipelines.ingest.reference import SectorCatalogue, UnitRegistry
files, _ = discover_drops(Path(sys.argv[1]))
Lake(Path(sys.argv[2])).ingest(files, UnitRegistry.from_seed(), SectorCatalogue.from_seed(), "salt")
"""


@pytest.mark.integration
def test_a_run_killed_mid_ingestion_then_rerun_equals_an_uninterrupted_run(tmp_path):
    raw = tmp_path / "raw"
    for night in range(1, 9):  # a manifest file per night: each night's files are one batch
        for number in range(4):
            rows = [(f"N{night}-{number}-{i}", 10 if i % 3 else 4) for i in range(4000)]
            write(raw, f"2024-06-{night:02d}/export_{number:02d}.csv", igate_csv(rows))
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    command = [sys.executable, "-c", INGEST_SCRIPT, str(raw), str(killed)]
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    manifest = killed / "manifest"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.is_dir() and len(list(manifest.glob("*.json"))) >= 2:
            break
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    interrupted = len(list(manifest.glob("*.json")))
    assert 2 <= interrupted < 8, "the kill should land in the middle of ingestion"

    subprocess.run(command, cwd=PROJECT_ROOT, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}, check=True)
    ingest(raw, clean)
    assert lake_state(killed) == lake_state(clean)
    assert not list(killed.rglob("*.tmp")), "the rerun clears what the killed run left half-written"


def test_a_lake_file_whose_batch_was_never_recorded_is_not_read_and_is_removed(tmp_path):
    """A run killed after writing a batch's lake file but before its manifest file: the next run
    may batch those input files otherwise (here with a file that arrived since), under another name."""
    raw, lake, clean = tmp_path / "raw", tmp_path / "lake", tmp_path / "clean"
    write(raw, "2024-06-20/a.csv", igate_csv([("A", 4), ("B", 10)]))
    write(raw, "2024-06-20/b.csv", igate_csv([("C", 10)]))
    ingest(raw, lake)
    (written,) = (lake / "dossiers").glob("*.parquet")
    for manifest_file in (lake / "manifest").glob("*.json"):
        manifest_file.unlink()
    write(raw, "2024-06-20/c.csv", igate_csv([("D", 4)]))

    ingest(raw, lake)
    ingest(raw, clean)
    assert lake_state(lake) == lake_state(clean)
    assert len(lake_state(lake)[0]) == 4, "each dossier once"
    assert not written.exists(), "the unrecorded lake file is removed"
    assert len(list((lake / "dossiers").glob("*.parquet"))) == 1


def test_a_lake_written_with_a_file_per_export_is_still_read_and_kept(tmp_path):
    """A lake from before batches: a manifest file holds one entry, with no lake_name, and its rows
    are in a file named by the export's own hash."""
    raw, lake, clean = tmp_path / "raw", tmp_path / "lake", tmp_path / "clean"
    write(raw, "2024-06-20/a.csv", igate_csv([("A", 4), ("B", 10)]))
    ingest(raw, lake)
    (manifest_file,) = (lake / "manifest").glob("*.json")
    (entry,) = json.loads(manifest_file.read_text(encoding="utf-8"))
    (lake / "dossiers" / f"{entry.pop('lake_name')}.parquet").rename(lake / "dossiers" / f"{entry['file_hash']}.parquet")
    manifest_file.write_text(json.dumps(entry), encoding="utf-8")
    write(raw, "2024-06-21/b.csv", igate_csv([("C", 10)]))

    ingest(raw, lake)
    ingest(raw, clean)
    assert lake_state(lake) == lake_state(clean)
    assert (lake / "dossiers" / f"{entry['file_hash']}.parquet").exists()


def test_a_header_only_file_is_accepted_with_zero_rows(tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write(raw, "2024-06-20/quiet_day.csv", HEADER + "\r\n")
    ingest(raw, lake)
    rows, files = lake_state(lake)
    assert rows == [] and [(f["status"], f["rows_read"], f["rows_loaded"]) for f in files] == [("loaded", 0, 0)]


def test_files_unchanged_since_last_night_are_not_read_again(tmp_path):
    raw, lake = tmp_path / "raw", tmp_path / "lake"
    write(raw, "2024-06-20/full.csv", igate_csv([("A", 4)]))
    ingest(raw, lake)
    path = raw / "2024-06-20" / "full.csv"
    stat = path.stat()
    path.write_bytes(b"\xff" * stat.st_size)  # unreadable as UTF-8 if it were read again
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    ingest(raw, lake)
    _, files = lake_state(lake)
    assert [f["status"] for f in files] == ["loaded"]


def test_files_checked_together_give_what_each_gives_alone(tmp_path, monkeypatch):
    """A drop's files of one dialect are checked in one pass, then split back by file: every
    file's loaded rows, quarantined rows and counts are those it gets when checked alone."""
    raw = tmp_path / "raw"
    shutil.copytree(PROJECT_ROOT / "data" / "raw" / "2024-06-20", raw / "2024-06-20")
    for dvcqg in sorted((raw / "2024-06-20").glob("*_hoso_*.jsonl"))[:4]:  # bad lines in several files
        with dvcqg.open("a", encoding="utf-8") as export:
            export.write('{"MaHoSo": "broken\n{"MaHoSo": "X-1", "DonViXuLy": "999", "TrangThaiHoSo": 4}\n')
    ingest(raw, tmp_path / "together")
    monkeypatch.setattr(lake_module, "BATCH_BYTES", 0)  # every file a batch of its own
    ingest(raw, tmp_path / "alone")

    def quarantine(lake_dir: Path) -> list[tuple]:
        with duckdb.connect() as con:
            Lake(lake_dir).expose(con)
            return con.execute("select * from audit.quarantined_rows order by all").fetchall()

    assert lake_state(tmp_path / "together") == lake_state(tmp_path / "alone")
    assert quarantine(tmp_path / "together") == quarantine(tmp_path / "alone")
    assert len({row[-1] for row in quarantine(tmp_path / "together") if row[0] == "dossiers"}) == 4, "bad rows in four dossier files"

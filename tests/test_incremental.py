"""Nightly runs build incrementally, and give exactly the rows a full rebuild gives."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from tests.conftest import materialize, run_dbt

COMPARED = [
    "marts.kpi_results", "marts.fct_dossiers", "marts.fct_form06_statistics", "marts.dim_periods", "marts.dim_units",
    "intermediate.int_dossiers__latest", "intermediate.int_pakn__latest", "intermediate.int_ratings__latest",
    "marts.fct_plan_tasks", "intermediate.int_self_report_values",
]  # fmt: skip
SHIFT = timedelta(days=-90)


def move_dossiers(drop: Path) -> Path:
    """A corrected re-export, dropped late into an old drop folder: dossiers returned that day (no
    later version can follow) move 90 days earlier (dates after the drop would be quarantined), to
    another month, quarter and year, and to another unit. Its name sorts last in the drop, so it
    supersedes the drop's own rows."""
    moved = []
    lines = [line for source in sorted(drop.glob("*_hoso_*.jsonl")) for line in source.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        dossier = json.loads(line)
        if dossier["TrangThaiHoSo"] != 10:
            continue
        for field in ("NgayTiepNhan", "NgayHenTra", "NgayKetThucXuLy", "NgayTra"):
            stamp = datetime.strptime(dossier[field], "%Y%m%d%H%M%S") + SHIFT
            dossier[field] = stamp.strftime("%Y%m%d%H%M%S")
        dossier["DonViXuLy"] = "SNV" if dossier["DonViXuLy"] != "SNV" else "STP"
        moved.append(json.dumps(dossier, ensure_ascii=False))
    assert moved, "the drop has returned dossiers"
    correction = drop / "zz_correction.jsonl"
    correction.write_text("\n".join(moved) + "\n", encoding="utf-8")
    return correction


def table_rows(warehouse: str, table: str) -> list[tuple]:
    with duckdb.connect(warehouse, read_only=True) as con:
        return sorted(con.sql(f"from {table}").fetchall(), key=repr)


def late_pakn_only_drop(raw: Path, day: str) -> Path:
    """A night on which a single department sends one PAKN item, and its key-task progress and
    self-report: the data date still moves, so every running period is evaluated later, for the
    units that sent nothing too."""
    drop = raw / day
    drop.mkdir()
    (drop / "pakn_snv.csv").write_text(
        "Mã PAKN,Mã đơn vị,Ngày tiếp nhận,Hạn xử lý,Ngày xử lý,Ngày công khai\n"
        f"PAKN-LATE-1,SNV,{day[8:]}/{day[5:7]}/{day[:4]},30/04/2024,,\n",
        encoding="utf-8",
    )
    (drop / "tien_do_snv.csv").write_text(
        "Mã nhiệm vụ,Mã đơn vị,Ngày hoàn thành,Số văn bản,Ghi chú\n1.1,SNV,02/02/2024,125/KH-SNV,\n4.1,SNV,05/03/2024,150/KH-SNV,\n",
        encoding="utf-8",
    )
    (drop / "tu_bao_cao_snv.csv").write_text(
        "Mã đơn vị,Kỳ báo cáo,Mã chỉ tiêu,Tử số,Mẫu số,Ghi chú\nSNV,2024-Q1,TRAIN_DIGITAL,90,100,\n", encoding="utf-8"
    )
    return drop


def running_backlog(warehouse: str) -> dict[tuple[str, str], tuple[int, int]]:
    with duckdb.connect(warehouse, read_only=True) as con:
        rows = con.sql(
            """
            select r.period, r.unit_code, r.numerator, r.denominator
            from marts.kpi_results as r join marts.dim_periods as p on p.period_code = r.period
            where p.state = 'running' and r.kpi_code = 'OPEN_WITHIN_DUE' and r.unit_code <> 'SNV'
            """
        ).fetchall()
    return {(period, unit): counts for period, unit, *counts in rows}


def full_build_of(raw: Path, folder: Path) -> str:
    """A full build, in a warehouse of its own, over a copy of the drops in ``raw``."""
    shutil.copytree(raw, folder / "raw")
    warehouse = str(folder / "cchc.duckdb")
    assert materialize({"CCHC_RAW_DIR": str(folder / "raw"), "CCHC_WAREHOUSE": warehouse}).success
    return warehouse


def assert_same_tables(nightly: str, full: str, when: str) -> None:
    for table in COMPARED:
        assert table_rows(nightly, table) == table_rows(full, table), f"{table} {when}"


def test_incremental_runs_equal_a_full_rebuild(drops, tmp_path):
    nightly_raw = tmp_path / "nightly" / "raw"
    nightly = {"CCHC_RAW_DIR": str(nightly_raw), "CCHC_WAREHOUSE": str(tmp_path / "nightly" / "cchc.duckdb")}

    for step in (drops[:8], drops[8:]):
        for drop in step:
            shutil.copytree(drop, nightly_raw / drop.name)
        assert materialize(nightly).success
    move_dossiers(nightly_raw / drops[1].name)
    assert materialize(nightly).success
    # Compared on this night too: the next night's plan files recompute the first quarter again,
    # which would hide a correction that left its old periods as they were.
    assert_same_tables(nightly["CCHC_WAREHOUSE"], full_build_of(nightly_raw, tmp_path / "after_correction"), "after the correction")
    before = running_backlog(nightly["CCHC_WAREHOUSE"])
    late_pakn_only_drop(nightly_raw, "2024-03-29")
    assert materialize(nightly).success
    after = running_backlog(nightly["CCHC_WAREHOUSE"])
    moved = [key for key in before if key in after and before[key] != after[key]]
    assert moved, "a later data date changes the running period's backlog of units that sent nothing"

    full_warehouse = full_build_of(nightly_raw, tmp_path / "full")

    with duckdb.connect(nightly["CCHC_WAREHOUSE"], read_only=True) as con:
        builds = [row[0] for row in con.sql("select incremental from audit.dbt_build_state order by built_at").fetchall()]
    assert builds == [False, True, True, True], "the first build is full, the nightly ones incremental"
    assert_same_tables(nightly["CCHC_WAREHOUSE"], full_warehouse, "after every night")

    with duckdb.connect(full_warehouse, read_only=True) as con:
        moved = con.sql("select count(*) from marts.fct_dossiers where source_file = 'zz_correction.jsonl'").fetchall()[0][0]
    assert moved > 0, "the correction superseded earlier versions"
    with duckdb.connect(nightly["CCHC_WAREHOUSE"], read_only=True) as con:
        plan_rows = con.sql(
            "select kpi_code, numerator, denominator from marts.kpi_results "
            "where period = '2024-Q1' and unit_code = 'SNV' and kpi_code in ('TASKS_ONTIME', 'TRAIN_DIGITAL') order by kpi_code"
        ).fetchall()
    # SNV owes eight milestones due in Q1, all past due at 29 March: 1.1 done on time, 4.1 late
    # (5 March for 29 February), the others not reported. The self-report as sent.
    assert plan_rows == [("TASKS_ONTIME", 1, 8), ("TRAIN_DIGITAL", 90, 100)], "the night's plan files reached kpi_results"


def resolve_late(raw: Path, warehouse: str) -> list[str]:
    """A re-export, into the last drop, of dossiers still open there and received by 14 March (the
    first quarter's last day), each resolved a minute after its receipt. Reported a week late, it
    changes every period from that day on (the backlog at each later evaluation date), not only the
    periods holding the day: the second quarter too."""
    with duckdb.connect(warehouse, read_only=True) as con:
        open_versions = con.sql(
            "select dossier_id, drop_date, source_file, source_row_number from intermediate.int_dossiers__latest "
            "where status < 7 and received_on <= date '2024-03-14' and source_file like '%.jsonl'"
        ).fetchall()
    resolved = []
    for dossier_id, drop_date, source_file, row_number in open_versions:
        dossier = json.loads((raw / str(drop_date) / source_file).read_text(encoding="utf-8").splitlines()[row_number - 1])
        assert dossier["MaHoSo"] == dossier_id
        finished = datetime.strptime(dossier["NgayTiepNhan"], "%Y%m%d%H%M%S") + timedelta(minutes=1)
        dossier.update(TrangThaiHoSo=10, NgayKetThucXuLy=finished.strftime("%Y%m%d%H%M%S"), NgayTra=finished.strftime("%Y%m%d%H%M%S"))
        resolved.append(json.dumps(dossier, ensure_ascii=False))
    assert resolved, "some dossiers received by 14 March are still open"
    last_drop = max(path for path in raw.iterdir())
    (last_drop / "zz_resolved_late.jsonl").write_text("\n".join(resolved) + "\n", encoding="utf-8")
    return [dossier_id for dossier_id, *_ in open_versions]


def test_a_dossier_resolved_a_week_before_it_is_reported_recomputes_every_period_since(drops, tmp_path):
    """Such a dossier moved only at its end, so the nightly build recomputes the periods from the
    day it resolved to the far future where it was open (int_recomputed_periods), beyond the
    periods the new data date moves: here none, the file joins a drop already built."""
    raw = tmp_path / "nightly" / "raw"
    nightly = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(tmp_path / "nightly" / "cchc.duckdb")}
    for drop in drops:
        shutil.copytree(drop, raw / drop.name)
    assert materialize(nightly).success
    before = table_rows(nightly["CCHC_WAREHOUSE"], "marts.kpi_results")
    resolved = resolve_late(raw, nightly["CCHC_WAREHOUSE"])
    assert materialize(nightly).success

    with duckdb.connect(nightly["CCHC_WAREHOUSE"], read_only=True) as con:
        assert con.sql("select incremental from audit.dbt_build_state order by built_at desc limit 1").fetchall() == [(True,)]
        statuses = con.sql(f"select distinct status from marts.fct_dossiers where dossier_id in {tuple(resolved)!r}").fetchall()
        assert statuses == [(10,)], "the re-export superseded the open versions"
    changed_periods = {row[0] for row in set(table_rows(nightly["CCHC_WAREHOUSE"], "marts.kpi_results")) - set(before)}
    assert "2024-Q2" in changed_periods, "the second quarter's backlog changed, though its evaluation date did not move"
    assert_same_tables(nightly["CCHC_WAREHOUSE"], full_build_of(raw, tmp_path / "full"), "after the late resolution")


def failing_rows(build: Path, tests: list[str], work: Path) -> dict[str, int]:
    """Runs dbt's data tests ``tests`` on a build file: each test's number of failing rows."""
    result, results = run_dbt(build, work, "test", "--select", *tests)
    failures = {r["unique_id"].split(".")[2]: r["failures"] for r in results if r["unique_id"].startswith("test.")}
    assert set(failures) == set(tests), result.stdout[-3000:]
    return failures


# The big tables' unique tests, and the raw source whose new files name the keys they check.
KEY_TESTS = {
    "unique_int_dossiers__latest_dossier_id": ("intermediate.int_dossiers__latest", "raw.dossiers"),
    "unique_fct_dossiers_dossier_id": ("marts.fct_dossiers", "raw.dossiers"),
    "unique_int_ratings__latest_dossier_id": ("intermediate.int_ratings__latest", "raw.ratings"),
}


def test_an_incremental_build_tests_the_keys_its_new_files_mention(drops, tmp_path):
    """A latest-state table changes only at the keys a build's new files mention, so an incremental
    build's unique tests read those keys, not the year: a duplicate there fails the test; one
    elsewhere is left to the full builds, which test every row."""
    raw = tmp_path / "raw"
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(tmp_path / "cchc.duckdb")}
    for night in (drops[:2], drops[2:3]):
        for drop in night:
            shutil.copytree(drop, raw / drop.name)
        assert materialize(environment).success
    build = tmp_path / "cchc.duckdb"  # the build file, published by renaming it
    with duckdb.connect(str(build)) as con:
        # Unrecorded, the last night's build is to be done again: its files are the new ones.
        con.execute("delete from audit.dbt_build_state where built_at = (select max(built_at) from audit.dbt_build_state)")
        for table, source in KEY_TESTS.values():
            new_keys = f"select dossier_id from {source} where drop_date = date '{drops[2].name}'"
            (mentioned,) = con.execute(f"select min(dossier_id) from {table} where dossier_id in ({new_keys})").fetchone()
            (elsewhere,) = con.execute(f"select min(dossier_id) from {table} where dossier_id not in ({new_keys})").fetchone()
            assert mentioned and elsewhere
            con.execute(f"insert into {table} select * from {table} where dossier_id in (?, ?)", [mentioned, elsewhere])

    assert failing_rows(build, list(KEY_TESTS), tmp_path / "incremental") == dict.fromkeys(KEY_TESTS, 1)
    with duckdb.connect(str(build)) as con:
        con.execute("drop table audit.dbt_build_state")  # a build file without a record: a full build's tests
    assert failing_rows(build, list(KEY_TESTS), tmp_path / "full") == dict.fromkeys(KEY_TESTS, 2)


NIGHT = datetime(2024, 6, 21, 1, 30)


@pytest.mark.parametrize(
    ("last", "force_full", "engine", "incremental"),
    [
        (None, False, "duckdb", False),  # a new build file
        (("2024-06-20 01:30", "code A"), False, "duckdb", True),  # the usual night
        (("2024-06-20 01:30", "code B"), False, "duckdb", False),  # dbt code or seeds changed (or Spark built it: "spark:code A")
        ((None, "code A"), False, "duckdb", False),  # a build that saw no file
        (("2024-06-20 01:30", "code A"), True, "duckdb", False),  # CCHC_FULL_REFRESH
        (("2024-06-20 01:30", "code A"), False, "spark", False),  # Spark builds are full rebuilds
    ],
)
def test_the_build_is_incremental_only_from_a_duckdb_build_of_the_same_code(last, force_full, engine, incremental):
    from pipelines.incremental import LastBuild, decide_build

    previous = None if last is None else LastBuild(last[0] and datetime.fromisoformat(last[0]), last[1])
    plan = decide_build(previous, "code A", NIGHT, force_full, engine)
    assert plan.ingested_until == NIGHT and plan.fingerprint == "code A"
    # the cut-off itself is read by dbt from audit.dbt_build_state: no variable tells the kind of
    # build, so dbt keeps its parsed project whichever kind comes next
    expected = [] if incremental else ["--full-refresh"]
    assert plan.dbt_args == expected and plan.is_incremental == incremental


def test_changed_dbt_code_forces_a_full_build(tmp_path, monkeypatch):
    from pipelines import incremental

    build_db = tmp_path / "build.duckdb"
    with duckdb.connect(str(build_db)) as con:
        con.execute("create schema audit; create table audit.ingested_files as select timestamp '2024-01-01' as ingested_at")
    first = incremental.plan_build(build_db)
    assert not first.is_incremental
    incremental.record_build(build_db, first)
    assert incremental.plan_build(build_db).dbt_args == []
    assert not incremental.plan_build(build_db, force_full=True).is_incremental
    monkeypatch.setattr(incremental, "dbt_code_fingerprint", lambda: "other code")
    assert not incremental.plan_build(build_db).is_incremental

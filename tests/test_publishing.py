"""The published warehouse: the build file renamed over it on success, untouched by a failed run."""

import shutil

import duckdb
import pytest

from pipelines.config import load_settings
from pipelines.publish import connect_build_file, restore_build_file
from pipelines.storage import connect_build
from tests.conftest import SAMPLE_DROPS, materialize

pytestmark = pytest.mark.integration


def files_seen(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select count(*) from audit.ingested_files").fetchall()[0][0]


def test_an_analyst_sees_new_data_on_reconnecting_and_a_failed_run_keeps_the_last_good_warehouse(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse" / "cchc.duckdb"
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(warehouse)}
    first, second = sorted(SAMPLE_DROPS.iterdir())
    build = warehouse.with_name("cchc.build.duckdb")
    shutil.copytree(first, raw / first.name)
    assert materialize(environment).success
    assert not build.exists(), "published by renaming the build file, not by copying it"

    with duckdb.connect(str(warehouse), read_only=True) as analyst:
        before = files_seen(analyst)
        shutil.copytree(second, raw / second.name)
        assert materialize(environment).success  # while the analyst's connection is open
        assert files_seen(analyst) == before, "an open connection keeps reading the warehouse it opened"
    with duckdb.connect(str(warehouse), read_only=True) as analyst:
        after = files_seen(analyst)
        assert analyst.execute("select incremental from audit.dbt_build_state order by built_at").fetchall() == [(False,), (True,)], (
            "the second night builds on a copy of the first one's published state"
        )
    assert after > before, "reconnecting shows the new drop"
    assert sorted(p.name for p in warehouse.parent.iterdir() if p.is_file()) == ["cchc.duckdb", "dbt-build.log"]

    published = warehouse.stat()
    assert not materialize({**environment, "CCHC_RAW_DIR": str(tmp_path / "missing")}).success
    assert (warehouse.stat().st_ino, warehouse.stat().st_mtime_ns) == (published.st_ino, published.st_mtime_ns)
    with duckdb.connect(str(warehouse), read_only=True) as analyst:
        assert files_seen(analyst) == after
    with duckdb.connect(str(build), read_only=True) as failed_run:
        assert files_seen(failed_run) == after, "the failed run's build file, for the next run to build on, holds what was published"


def test_a_build_file_is_restored_from_the_published_warehouse_only_when_there_is_none(tmp_path):
    settings = load_settings({"CCHC_WAREHOUSE": str(tmp_path / "cchc.duckdb")})
    assert not restore_build_file(settings) and not settings.build_db.exists(), "nothing published yet: a first build"

    with duckdb.connect(str(settings.warehouse)) as published:
        published.execute("create table night as select 1 as n")
    settings.build_db.with_name("cchc.build.duckdb.wal").write_bytes(b"a log whose file was deleted")
    (tmp_path / ".cchc.build.duckdb.999.restoring").write_bytes(b"a killed restore's copy")
    with connect_build_file(settings, read_only=True) as build:
        assert build.execute("select n from night").fetchall() == [(1,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cchc.build.duckdb", "cchc.duckdb"]

    with connect_build(settings.build_db) as failed_run:
        failed_run.execute("insert into night values (2)")
    assert not restore_build_file(settings), "a failed run's build file is built on, never replaced"
    with connect_build(settings.build_db, read_only=True) as build:
        assert build.execute("select count(*) from night").fetchall() == [(2,)]

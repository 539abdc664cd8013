"""The published warehouse: replaced atomically on success, untouched by a failed run."""

import shutil

import duckdb
import pytest

from tests.conftest import SAMPLE_DROPS, materialize

pytestmark = pytest.mark.integration


def files_seen(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute("select count(*) from audit.ingested_files").fetchall()[0][0]


def test_an_analyst_sees_new_data_on_reconnecting_and_a_failed_run_keeps_the_last_good_warehouse(tmp_path):
    raw, warehouse = tmp_path / "raw", tmp_path / "warehouse" / "cchc.duckdb"
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(warehouse)}
    first, second = sorted(SAMPLE_DROPS.iterdir())
    shutil.copytree(first, raw / first.name)
    assert materialize(environment).success

    with duckdb.connect(str(warehouse), read_only=True) as analyst:
        before = files_seen(analyst)
        shutil.copytree(second, raw / second.name)
        assert materialize(environment).success  # while the analyst's connection is open
        assert files_seen(analyst) == before, "an open connection keeps reading the warehouse it opened"
    with duckdb.connect(str(warehouse), read_only=True) as analyst:
        after = files_seen(analyst)
    assert after > before, "reconnecting shows the new drop"

    published = warehouse.stat()
    assert not materialize({**environment, "CCHC_RAW_DIR": str(tmp_path / "missing")}).success
    assert (warehouse.stat().st_ino, warehouse.stat().st_mtime_ns) == (published.st_ino, published.st_mtime_ns)
    with duckdb.connect(str(warehouse), read_only=True) as analyst:
        assert files_seen(analyst) == after

"""dbt's unit tests (the tricky KPI logic, given rows in, rows out) on an empty build: no data needed."""

import duckdb

from pipelines.ingest.lake import Lake
from tests.conftest import run_dbt


def test_every_dbt_unit_test_passes_on_an_empty_build(tmp_path):
    build = tmp_path / "build.duckdb"
    with duckdb.connect(str(build)) as con:
        Lake(tmp_path / "lake").expose(con)  # the raw sources, empty
    result, results = run_dbt(build, tmp_path, "build", "--empty", "--exclude", "test_type:data")
    assert result.returncode == 0, result.stdout[-3000:]
    unit_tests = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(unit_tests) >= 5 and set(unit_tests.values()) == {"pass"}, unit_tests

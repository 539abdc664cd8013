"""dbt's unit tests (the tricky KPI logic, given rows in, rows out) on an empty build: no data needed."""

import json
import subprocess
import sys
from pathlib import Path

import duckdb

from pipelines.defs.project import DBT_PROJECT_DIR
from pipelines.ingest.lake import Lake


def test_every_dbt_unit_test_passes_on_an_empty_build(tmp_path):
    build = tmp_path / "build.duckdb"
    with duckdb.connect(str(build)) as con:
        Lake(tmp_path / "lake").expose(con)  # the raw sources, empty
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--empty", "--exclude", "test_type:data",
         "--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")],
        cwd=DBT_PROJECT_DIR, env={"PATH": str(Path(sys.executable).parent), "HOME": str(tmp_path), "CCHC_BUILD_DB": str(build)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    unit_tests = {r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")}
    assert len(unit_tests) >= 5 and set(unit_tests.values()) == {"pass"}, unit_tests

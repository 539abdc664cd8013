"""CCHC_ENGINE=spark: the same dbt models, run on Spark over the same lake, give every row the
DuckDB build gives, and `make kpis` prints the same thing for every period (docs/spark.md)."""

from __future__ import annotations

import shutil

import duckdb
import pytest

from pipelines.cli import kpis
from tests.conftest import SAMPLE_DROPS, materialize

pytestmark = pytest.mark.integration

DBT_SCHEMAS = ("reference", "intermediate", "marts")
PER_WAREHOUSE_COLUMNS = {"lake_file"}  # a path inside each warehouse's own lake


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The sample drops built from scratch on each engine, into a warehouse of its own (the session's
    sample warehouse has had incremental builds on top, whose build-state tables differ by design)."""
    assert shutil.which("java"), "Spark needs Java: `make test` installs a JRE (the Makefile's java step)"
    root = tmp_path_factory.mktemp("engines")
    shutil.copytree(SAMPLE_DROPS, root / "raw")
    environments = {}
    for engine in ("duckdb", "spark"):
        environment = {"CCHC_RAW_DIR": str(root / "raw"), "CCHC_WAREHOUSE": str(root / engine / "cchc.duckdb"), "CCHC_ENGINE": engine}
        assert materialize(environment).success, f"the nightly job failed on {engine}"
        environments[engine] = environment
    return environments


def tables(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[tuple[str, str]]]:
    """Each table's columns, with their types, in order."""
    rows = con.execute(
        "select table_schema || '.' || table_name, list((column_name, data_type) order by ordinal_position) "
        "from information_schema.columns join information_schema.tables using (table_catalog, table_schema, table_name) "
        "where table_catalog = ? and table_type = 'BASE TABLE' and table_schema in ? group by all",
        [catalog, DBT_SCHEMAS],
    ).fetchall()
    return dict(rows)


def rows_only_in(con: duckdb.DuckDBPyConnection, table: str, columns: list[str], this: str, other: str) -> list[tuple]:
    listed = ", ".join(columns)
    return con.execute(f"select {listed} from {this}.{table} except all select {listed} from {other}.{table} limit 5").fetchall()


def test_every_table_of_a_spark_build_equals_the_duckdb_build_row_for_row(builds):
    with duckdb.connect(builds["duckdb"]["CCHC_WAREHOUSE"], read_only=True) as con:
        con.execute(f"attach '{builds['spark']['CCHC_WAREHOUSE']}' as spark (read_only)")
        on_duckdb, on_spark = tables(con, "cchc"), tables(con, "spark")
        assert sorted(on_spark) == sorted(on_duckdb), "Spark built other tables than DuckDB"
        assert "marts.kpi_results" in on_spark and len(on_spark) >= 20
        differences = {}
        for table, columns in on_duckdb.items():
            assert on_spark[table] == columns, f"{table}: Spark's columns and types {on_spark[table]}, DuckDB's {columns}"
            compared = [name for name, _ in columns if name not in PER_WAREHOUSE_COLUMNS]
            only_duckdb = rows_only_in(con, table, compared, "cchc", "spark")
            only_spark = rows_only_in(con, table, compared, "spark", "cchc")
            if only_duckdb or only_spark:
                differences[table] = {"only on DuckDB": only_duckdb, "only on Spark": only_spark}
        (results,) = con.execute("select count(*) from spark.marts.kpi_results").fetchone()
        built_by = con.execute("select code_fingerprint from spark.audit.dbt_build_state").fetchall()
    assert len(built_by) == 1 and built_by[0][0].startswith("spark:"), "the second warehouse was built by Spark, once"
    assert not differences, f"rows that differ (first five each way): {differences}"
    assert results > 100_000  # every period, unit and KPI: a real build, not an empty one


def test_make_kpis_prints_the_same_on_both_engines_for_every_period(builds, monkeypatch, capsys):
    with duckdb.connect(builds["duckdb"]["CCHC_WAREHOUSE"], read_only=True) as con:
        periods = con.execute("select period_code, period_kind from marts.dim_periods order by period_order").fetchall()
    assert ("2024-Q1", "report") in periods and ("2025-Q1", "report") in periods and ("2024-03", "month") in periods

    def printed(environment: dict[str, str], period: str, output_format: str) -> str:
        monkeypatch.setenv("CCHC_WAREHOUSE", environment["CCHC_WAREHOUSE"])
        assert kpis.main(["--period", period, "--format", output_format]) == 0
        return capsys.readouterr().out

    for period, kind in periods:
        # every period as CSV (every number); the officials' table for the report periods
        for output_format in ("csv", "table") if kind == "report" else ("csv",):
            on_duckdb = printed(builds["duckdb"], period, output_format)
            assert printed(builds["spark"], period, output_format) == on_duckdb, f"make kpis PERIOD={period} FORMAT={output_format}"

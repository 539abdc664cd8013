"""Where the dbt models run: in DuckDB, inside the build file (the default), or on Spark
(``CCHC_ENGINE=spark``), which reads the lake's Parquet files where they are and whose tables are
then copied into the build file, so that the gates, the alerts, ``make kpis``, the report and the
analysts read the same DuckDB warehouse whichever engine built it (docs/spark.md).

The models are the same files on both engines; where the two SQL dialects differ, a macro is
dispatched per adapter (dbt_project/macros/cross_engine.sql). Spark builds are full rebuilds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import polars as pl

from pipelines.config import PROJECT_ROOT, Settings
from pipelines.ingest.lake import KINDS, LAKE_SCHEMAS, PROVENANCE, Lake

ENGINES = ("duckdb", "spark")
SPARK_CONF_DIR = PROJECT_ROOT / "pipelines" / "spark_conf"  # log4j: Spark's warnings stay out of dbt's log

_SPARK_TYPES = {pl.Int8: "tinyint", pl.Int64: "bigint", pl.String: "string", pl.Date: "date", pl.Boolean: "boolean"}


def spark_type(dtype: pl.DataType) -> str:
    """The Spark SQL type Spark reads a lake column of this Polars type as (Polars writes a
    datetime without a time zone, which Spark reads as timestamp_ntz)."""
    return "timestamp_ntz" if isinstance(dtype, pl.Datetime) else _SPARK_TYPES[dtype]


def dbt_target_args(engine: str) -> list[str]:
    return ["--target", "spark"] if engine == "spark" else []


def lake_sources(settings: Settings) -> dict:
    """What the dbt project's ``register_lake_sources`` macro creates on Spark: each kind's folder
    and the columns its files were written with, and the folder of the manifest's copy."""
    lake = Lake(settings.lake_dir)
    return {
        "manifest": str(settings.spark_dir / "manifest"),
        "kinds": {
            kind: {
                "location": str(lake.folder(kind)),
                "columns": ", ".join(f"{name} {spark_type(dtype)}" for name, dtype in {**LAKE_SCHEMAS[kind], **PROVENANCE}.items()),
            }
            for kind in KINDS
        },
    }


def prepare_spark_build(settings: Settings, con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """An empty Spark catalogue folder, the manifest copied beside it, a folder for every lake kind
    (Spark reads an empty one as no rows); returns the environment dbt's Spark profile reads."""
    shutil.rmtree(settings.spark_dir, ignore_errors=True)
    (settings.spark_dir / "manifest").mkdir(parents=True)
    sources = lake_sources(settings)
    for kind in sources["kinds"].values():
        Path(kind["location"]).mkdir(parents=True, exist_ok=True)
    target = settings.spark_dir / "manifest" / "ingested_files.parquet"
    con.execute(f"copy audit.ingested_files to '{target}' (format parquet)")
    return {
        "CCHC_SPARK_DIR": str(settings.spark_dir),
        "CCHC_SPARK_SOURCES": json.dumps(sources),
        "CCHC_SPARK_MEMORY": settings.spark_memory,
        "SPARK_CONF_DIR": str(SPARK_CONF_DIR),
    }


def collect_spark_tables(settings: Settings, con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every table the Spark build wrote (seeds, intermediate tables, marts), replaced in the
    DuckDB build file from its Parquet files, then Spark's folder removed (nothing is kept twice;
    the next Spark build starts from an empty one anyway); returns the tables' names."""
    copied = []
    for table_dir in sorted((settings.spark_dir / "tables").glob("*.db/*")):
        schema, table = table_dir.parent.name.removesuffix(".db"), table_dir.name
        con.execute(f"create schema if not exists {schema}")
        con.execute(f"create or replace table {schema}.{table} as select * from read_parquet('{table_dir}/*.parquet')")
        copied.append(f"{schema}.{table}")
    shutil.rmtree(settings.spark_dir)
    return copied

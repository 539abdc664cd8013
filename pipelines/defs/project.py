"""The dbt project, and the one place that tells dbt which DuckDB file to build."""

from __future__ import annotations

import os

from dagster_dbt import DbtProject

from pipelines.config import PROJECT_ROOT, Settings

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


def export_dbt_environment(settings: Settings, engine_environment: dict[str, str] | None = None) -> None:
    """dbt runs as a subprocess that inherits our environment; its profile reads CCHC_BUILD_DB
    (and, on Spark, what ``pipelines.engines.prepare_spark_build`` returned). Called by the step
    that runs dbt, never on import."""
    settings.build_db.parent.mkdir(parents=True, exist_ok=True)
    os.environ["CCHC_BUILD_DB"] = str(settings.build_db)
    os.environ["CCHC_DUCKDB_MEMORY_LIMIT"] = settings.duckdb_memory_limit
    os.environ.update(engine_environment or {})


dbt_project.prepare_if_dev()  # `dagster dev` only: re-parses the project when its files changed

if __name__ == "__main__":
    # `make` calls this to (re)write the manifest that the Dagster definitions load.
    dbt_project.preparer.prepare(dbt_project)

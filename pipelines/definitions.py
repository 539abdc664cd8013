"""The one Dagster entry point."""

import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.assets import cchc_dbt_models, ingest_drops, published_warehouse
from pipelines.project import dbt_project
from pipelines.schedules import nightly_job, nightly_schedule

defs = dg.Definitions(
    assets=[ingest_drops, cchc_dbt_models, published_warehouse],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    resources={"dbt": DbtCliResource(project_dir=dbt_project)},
)

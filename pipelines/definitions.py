"""The one Dagster entry point."""

import dagster as dg

from pipelines.defs.assets import alerts, cchc_dbt_models, ingest_drops, published_warehouse
from pipelines.defs.checks import ingestion_boundary_gate, kpi_targets_gate
from pipelines.defs.resources import cchc_settings, dbt_cli
from pipelines.defs.schedules import nightly_job, nightly_schedule
from pipelines.defs.sensors import new_drop_sensor, run_failure_alert

defs = dg.Definitions(
    assets=[ingest_drops, cchc_dbt_models, alerts, published_warehouse],
    asset_checks=[kpi_targets_gate, ingestion_boundary_gate],
    jobs=[nightly_job],
    schedules=[nightly_schedule],
    sensors=[new_drop_sensor, run_failure_alert],
    resources={"dbt": dbt_cli, "cchc": cchc_settings},
)

"""Sensors: a run when a new drop folder appears, an alert when a run fails."""

import json

import dagster as dg

from pipelines.alerts import alert_run_failure
from pipelines.defs.resources import CchcSettings
from pipelines.defs.schedules import nightly_job
from pipelines.ingest.lake import is_drop_folder
from pipelines.publish import restore_build_file


@dg.sensor(job=nightly_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def new_drop_sensor(context: dg.SensorEvaluationContext, cchc: CchcSettings):
    """Starts the nightly job for drop folders not seen before (the cursor lists those seen)."""
    raw_dir = cchc.resolve().raw_dir
    if not raw_dir.is_dir():
        return dg.SkipReason(f"The drop folder {raw_dir} does not exist.")
    seen = set(json.loads(context.cursor)) if context.cursor else set()
    drops = {path.name for path in raw_dir.iterdir() if path.is_dir() and is_drop_folder(path.name)}
    new = sorted(drops - seen)
    if not new:
        return dg.SkipReason("No new drop folder.")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"drops:{','.join(new)}", tags={"cchc/new_drops": ",".join(new)})],
        cursor=json.dumps(sorted(drops | seen)),
    )


@dg.run_failure_sensor(monitored_jobs=[nightly_job], default_status=dg.DefaultSensorStatus.RUNNING)
def run_failure_alert(context: dg.RunFailureSensorContext, cchc: CchcSettings):
    """A failed nightly run is alerted to the reform office like any other alert (outbox, retried)."""
    settings = cchc.resolve()
    failed_step = next((e.step_key for e in context.get_step_failure_events()), None) or "?"
    restore_build_file(settings)  # the outbox lives in the build file, which a run that failed early left published
    report = alert_run_failure(
        settings.build_db, settings.alerts, context.dagster_run.run_id, failed_step, context.failure_event.message or ""
    )
    for error in report.errors:
        context.log.warning(f"Run-failure alert not delivered, kept for the next run: {error}")

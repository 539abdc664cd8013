"""`make run`: one full materialisation, in-process, then a short summary for the operator."""

from __future__ import annotations

import gc
import logging
import shutil
import sys
import warnings

import dagster as dg
import duckdb

from pipelines.alerts import alert_run_failure
from pipelines.config import Settings, load_settings
from pipelines.contacts import ContactsFileError, load_contacts
from pipelines.engines import ENGINES
from pipelines.gates import gate_process
from pipelines.ingest.lake import RawDirMissing, require_raw_dir
from pipelines.publish import restore_build_file
from pipelines.runlock import RunLocked, exclusive_run
from pipelines.storage import build_file_holder


def preflight(settings: Settings) -> str | None:
    """A sentence saying what is wrong before anything runs, or None."""
    if settings.engine not in ENGINES:
        return f"CCHC_ENGINE is '{settings.engine}': set it to {' or '.join(ENGINES)} (duckdb when unset)."
    if settings.engine == "spark" and not shutil.which("java"):
        return "CCHC_ENGINE=spark needs Java, and `java` is not on PATH: run `make java` (or install a JRE 17), then run again."
    try:
        require_raw_dir(settings.raw_dir)  # the drops themselves are listed once, by ingest_drops
    except RawDirMissing as missing:
        return str(missing)
    try:
        settings.warehouse.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        return (
            f"The warehouse folder {settings.warehouse.parent} cannot be created ({error.strerror}): "
            "set CCHC_WAREHOUSE to a file in a folder you can write."
        )
    try:
        load_contacts(settings.alerts.contacts_file)
    except ContactsFileError as error:
        return str(error)
    if holder := build_file_holder(settings.build_db):
        return (
            f"The build file {settings.build_db} is open in another program ({holder}): close it and run again "
            f"(analysts open the published warehouse {settings.warehouse}, never the build file)."
        )
    return None


class StepLines(logging.Handler):
    """What `make run` prints while it runs: a line per finished step, and warnings (on stderr)."""

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", {})
        event = meta.get("dagster_event")
        if event is not None and event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            print(f"  ✓ {event.step_key} {event.event_specific_data.duration_ms / 1000:.1f} s", flush=True)
        elif event is not None and event.event_type == dg.DagsterEventType.STEP_FAILURE:
            print(f"  ✗ {event.step_key}", flush=True)
        elif event is None and record.levelno >= logging.WARNING:
            print(f"  ! {meta.get('step_key') or 'run'}: {meta.get('orig_message', record.getMessage())}", file=sys.stderr, flush=True)


@dg.logger(description="One line per finished step, and warnings: the terminal of `make run`.")
def step_lines(_init_context) -> logging.Logger:
    logger = logging.Logger("cchc.steps", level=logging.DEBUG)
    logger.addHandler(StepLines())
    return logger


def failure_cause(error) -> str:
    """The innermost cause of a step's failure, on one line: Dagster wraps the real error in "Error
    occurred while executing op …", which tells the operator nothing."""
    while error.cause is not None:
        error = error.cause
    message = " ".join(error.message.split())
    return (message[:497] + "...") if len(message) > 500 else message or error.cls_name or "unknown error"


def summary(settings: Settings) -> str:
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        files = con.execute(
            "select status, count(*), coalesce(sum(rows_loaded), 0), coalesce(sum(rows_quarantined), 0) "
            "from audit.ingested_files group by status order by status"
        ).fetchall()
        # The latest report period already closed by the newest drop (the longest on a tie: the year).
        latest = con.execute(
            "select period_code from marts.dim_periods where period_kind = 'report' and end_on < "
            "(select max(drop_date) from audit.ingested_files) order by end_on desc, start_on limit 1"
        ).fetchone()
        lines = [f"Warehouse published: {settings.warehouse}"]
        for status, count, loaded, quarantined in files:
            lines.append(f"  files {status}: {count} ({loaded} rows loaded, {quarantined} quarantined)")
        if latest:
            counts = dict(
                con.execute("select status, count(*) from marts.kpi_results where period = ? group by status", [latest[0]]).fetchall()
            )
            lines.append(
                f"  {latest[0]}: {counts.get('met', 0)} met, {counts.get('below', 0)} below target, "
                f"{counts.get('no_data', 0)} no data  →  make kpis PERIOD={latest[0]}"
            )
        open_alerts, undelivered = con.execute(
            "select count(*) filter (where status = 'below'), "
            "count(*) filter (where status = 'below' and 'pending' in (email_state, webhook_state)) from audit.alerts"
        ).fetchone()
        lines.append(f"  alerts open: {open_alerts} (undelivered, retried next run: {undelivered}); Data Docs: {settings.data_docs_dir / 'index.html'}")
        (ignored_contacts,) = con.execute("select count(*) from audit.contact_problems").fetchone()
        if ignored_contacts:
            lines.append(f"  contacts file: {ignored_contacts} rows ignored, listed in audit.contact_problems")
        (incremental,) = con.execute("select incremental from audit.dbt_build_state order by built_at desc limit 1").fetchone()
    build = "incremental (only what new files touch)" if incremental else "full"
    lines.append(f"  dbt build: {build}; its every line: {settings.dbt_log}")
    return "\n".join(lines)


def main() -> int:
    settings = load_settings()
    if problem := preflight(settings):
        print(problem, file=sys.stderr)
        return 1
    try:
        with exclusive_run(settings.warehouse):
            return run(settings)
    except RunLocked as locked:
        print(locked, file=sys.stderr)
        return 1


def run(settings: Settings) -> int:
    warnings.filterwarnings("ignore", category=dg.BetaWarning)
    gate_process()  # GX's import, in its own process, overlaps loading the definitions
    from pipelines.definitions import defs  # imported late: loading dbt and Dagster takes seconds

    instance = dg.DagsterInstance.get()
    nightly = defs.resolve_job_def("nightly")
    print(f"Building {settings.warehouse} from {settings.raw_dir}", flush=True)
    result = nightly.with_logger_defs({**nightly.loggers, "step_lines": step_lines}).execute_in_process(
        instance=instance, run_config={"loggers": {"step_lines": {}}}, raise_on_error=False
    )
    # A step Dagster skips (an asset before it produced no output) leaves the run "successful"
    # with nothing published: a failure to the operator.
    skipped = next((e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_SKIPPED), None)
    if not result.success or skipped:
        failure = next((e for e in result.all_events if e.is_step_failure), None)
        reason = failure_cause(failure.step_failure_data.error) if failure and failure.step_failure_data.error else "see the Dagster log"
        step = failure.step_key if failure else "?"
        if failure is None and skipped:
            step, reason = skipped.step_key, "skipped, because a step before it produced no output (see the Dagster log)"
        print(f"The run failed at step {step}: {reason}", file=sys.stderr)
        if holder := build_file_holder(settings.build_db):
            print(f"The failure was not queued for alerting: the build file is open in another program ({holder}).", file=sys.stderr)
        elif settings.build_db.exists() or restore_build_file(settings):  # none when it failed before its first step
            alert_run_failure(settings.build_db, settings.alerts, result.run_id, step, reason)
        print("The last published warehouse was left in place.", file=sys.stderr)
        return 1
    print(summary(settings))
    return 0


if __name__ == "__main__":
    code = main()
    # The interpreter's last collections walk every object Dagster and dbt loaded (about a second
    # of every run); frozen, they are skipped. Everything is written and closed by now.
    gc.freeze()
    sys.exit(code)

"""Assets: drops → Parquet lake (ingestion) → dbt models → alerts → published warehouse."""

import contextlib
import datetime as dt
import re
import subprocess
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from pipelines.alerts import (
    deliver_pending,
    enqueue_overdue_tasks,
    enqueue_rejected_files,
    enqueue_weekly_digests,
    record_contact_problems,
    sync_kpi_alerts,
)
from pipelines.contacts import load_contacts
from pipelines.defs.project import dbt_project, export_dbt_environment
from pipelines.defs.resources import CchcSettings
from pipelines.engines import collect_spark_tables, dbt_target_args, prepare_spark_build
from pipelines.gates import gate_process, kpi_gate_frame
from pipelines.incremental import plan_build, record_build
from pipelines.ingest.lake import KINDS, Lake, RawDirMissing, discover_drops, record_ignored
from pipelines.ingest.reference import SectorCatalogue, UnitRegistry
from pipelines.progress import DbtProgressLog, without_colours
from pipelines.publish import connect_build_file, publish_warehouse, restore_build_file
from pipelines.storage import make_portable

RAW_KEYS = {kind: dg.AssetKey(["raw", kind]) for kind in KINDS}
INGESTED_FILES = dg.AssetKey(["audit", "ingested_files"])
QUARANTINED_ROWS = dg.AssetKey(["audit", "quarantined_rows"])
KPI_RESULTS = dg.AssetKey(["marts", "kpi_results"])
ALERTS = dg.AssetKey(["audit", "alerts"])


@dg.multi_asset(
    specs=[
        *(dg.AssetSpec(key, description=f"Loaded {kind} rows of every drop, as Parquet in the lake.") for kind, key in RAW_KEYS.items()),
        dg.AssetSpec(INGESTED_FILES, description="Every file seen: hash, status, reconciliation counts, reason."),
        dg.AssetSpec(QUARANTINED_ROWS, description="Rows that broke a rule of the exports spec, with reasons, without PII."),
    ],
    group_name="ingestion",
)
def ingest_drops(context: dg.AssetExecutionContext, cchc: CchcSettings):
    """New files of every drop folder under CCHC_RAW_DIR into the lake, then exposed to dbt."""
    settings = cchc.resolve()
    gate_process()  # GX's import then overlaps the ingestion
    if settings.uses_development_salt:
        context.log.warning("CCHC_PII_SALT is not set: applicant IDs are hashed with the public development salt.")
    # The build file, copied from the last published warehouse while the new files are read.
    with ThreadPoolExecutor(max_workers=1) as background:
        restoring = background.submit(restore_build_file, settings)
        try:
            files, ignored = discover_drops(settings.raw_dir)
        except RawDirMissing as missing:
            raise dg.Failure(str(missing), allow_retries=False) from None
        for entry in ignored:
            context.log.warning(str(entry))

        lake = Lake(settings.lake_dir)
        written = lake.ingest(files, UnitRegistry.from_seed(), SectorCatalogue.from_seed(), settings.pii_salt)
        for entry in written:
            if entry.status == "rejected":
                context.log.warning(f"Rejected {entry.path}: {entry.reason}")
        restoring.result()
    if make_portable(settings.build_db):
        context.log.info(f"Converted {settings.build_db} to the storage format DuckDB 1.4 and later open.")
    with connect_build_file(settings) as con:
        lake.expose(con)
        record_ignored(con, ignored, dt.datetime.now())

    statuses = Counter(entry.status for entry in written)
    for kind, key in RAW_KEYS.items():
        new = [e for e in written if e.kind == kind and e.status == "loaded"]
        yield dg.MaterializeResult(
            asset_key=key,
            metadata={"new_files": len(new), "new_rows": sum(e.rows_loaded for e in new)},
        )
    yield dg.MaterializeResult(
        asset_key=INGESTED_FILES,
        metadata={"files_seen": len(files), **{f"new_{status}": count for status, count in statuses.items()}},
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINED_ROWS, metadata={"new_rows": sum(e.rows_quarantined for e in written)}
    )


@dbt_assets(manifest=dbt_project.manifest_path, project=dbt_project)
def cchc_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, cchc: CchcSettings):
    settings = cchc.resolve()
    restore_build_file(settings)
    plan = plan_build(settings.build_db, force_full=settings.full_refresh, engine=settings.engine)
    engine_environment = {}
    if settings.engine == "spark":
        with connect_build_file(settings) as con:
            engine_environment = prepare_spark_build(settings, con)
    export_dbt_environment(settings, engine_environment)
    context.log.info(f"dbt build on {settings.engine}, {'incremental' if plan.is_incremental else 'full refresh'}")
    kpi_results_output = None
    # dbt's line per model and test goes to a log file beside the warehouse, not to the terminal.
    with settings.dbt_log.open("w", encoding="utf-8") as log, DbtProgressLog(log) as lines, contextlib.redirect_stdout(lines):
        # One target folder per warehouse, kept: dbt re-parses only the files that changed since.
        # dbt's unit tests check the SQL, not the night's data: `make test-fast` runs them.
        invocation = dbt.cli(
            ["build", "--exclude-resource-type", "unit_test", *plan.dbt_args, *dbt_target_args(settings.engine)],
            context=context,
            raise_on_error=False,
            target_path=settings.dbt_target_dir,
        )
        with stopped_on_failure(invocation.process):
            for event in invocation.stream():
                # held back until dbt has finished with the file: its metadata reads the built mart
                if isinstance(event, dg.Output) and context.asset_key_for_output(event.output_name) == KPI_RESULTS:
                    kpi_results_output = event
                    continue
                yield event
    if not invocation.is_successful():
        raise dg.Failure(f"dbt build failed: {first_dbt_error(settings.dbt_log)} (every line of the build: {settings.dbt_log})")
    if settings.engine == "spark":
        with connect_build_file(settings) as con:
            copied = collect_spark_tables(settings, con)
        context.log.info(f"Copied {len(copied)} tables of the Spark build into {settings.build_db}")
    record_build(settings.build_db, plan)
    if kpi_results_output is not None:
        with connect_build_file(settings, read_only=True) as con:
            yield kpi_results_output.with_metadata({**kpi_results_output.metadata, **kpi_results_metadata(con)})


@contextlib.contextmanager
def stopped_on_failure(process: subprocess.Popen) -> Iterator[None]:
    """Stops dbt when this step fails while reading its events. dagster-dbt stops it only when the
    run is interrupted; otherwise dbt builds on alone, holding the build file, and the next run
    finds the file locked."""
    try:
        yield
    except BaseException:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        raise


def first_dbt_error(log: Path) -> str:
    """The first failing model's or test's line of a dbt log, without colours."""
    lines = [without_colours(line).strip() for line in log.read_text(encoding="utf-8", errors="replace").splitlines()]
    return next((line for line in lines if re.search(r"\b(ERROR|FAIL)\b", line) and "PASS=" not in line), "see the log")


def kpi_results_metadata(con) -> dict:
    """What the Dagster UI shows on the mart: the newest started report period's city and level
    values per KPI as a table, and units below target per KPI as numbers it plots across runs."""
    period = con.execute(
        "select period_code, name_vi, state, evaluation_on from marts.dim_periods "
        "where period_kind = 'report' and state <> 'not_started' order by start_on desc, end_on limit 1"
    ).fetchone()
    if period is None:
        return {}
    code, name, state, evaluated = period
    rows = con.execute(
        """
        select u.unit_name, k.kpi_code, k.short_name_vi, r.value, r.status
        from marts.kpi_results as r join marts.dim_units as u using (unit_code) join marts.dim_kpis as k using (kpi_code)
        where r.period = ? and u.level in ('city', 'roll_up')
        order by u.registry_order, k.kpi_order
        """,
        [code],
    ).fetchall()
    kpis = list(dict.fromkeys((kpi, short) for _, kpi, short, _, _ in rows))
    cells: dict[str, dict[str, str]] = {}
    for unit, kpi, _, value, status in rows:
        cells.setdefault(unit, {})[kpi] = "—" if value is None else ("▼ " if status == "below" else "") + f"{value * 100:.2f}%"
    table = [f"**{name}** ({code}, {'số liệu đến ngày ' + f'{evaluated:%d/%m/%Y}' if state == 'running' else 'đã kết thúc'})", ""]
    table.append("| | " + " | ".join(short for _, short in kpis) + " |")
    table.append("|---|" + "---:|" * len(kpis))
    table += [f"| {unit} | " + " | ".join(values.get(kpi, "") for kpi, _ in kpis) + " |" for unit, values in cells.items()]
    below = dict(
        con.execute(
            """
            select r.kpi_code, count(*) filter (where r.status = 'below')
            from marts.kpi_results as r join marts.dim_units as u using (unit_code)
            where r.period = ? and u.level not in ('city', 'roll_up') group by r.kpi_code
            """,
            [code],
        ).fetchall()
    )
    return {
        "newest_period": dg.MetadataValue.md("\n".join(table)),
        **{f"units_below_{kpi.lower()}": dg.MetadataValue.int(count) for kpi, count in below.items()},
    }


@dg.asset(
    key=ALERTS,
    deps=[KPI_RESULTS, INGESTED_FILES],
    group_name="alerts",
    description="Units newly below target (or changed while below), key tasks newly overdue, rejected files: alerted once by e-mail and "
    "webhook through an outbox, to each unit's contacts with the reform office copied; a weekly digest of what "
    "is still below; recovered units resolved; undelivered messages retried.",
)
def alerts(context: dg.AssetExecutionContext, cchc: CchcSettings) -> dg.MaterializeResult:
    settings = cchc.resolve()
    now = dt.datetime.now()
    contacts = load_contacts(settings.alerts.contacts_file)
    for problem in contacts.problems:
        context.log.warning(f"Contacts file line {problem.line} ignored: {problem.problem} ({problem.unit_code!r}, {problem.email!r})")
    with connect_build_file(settings) as con:
        # "Below target" is decided once, in kpi_results.status (exact integers); the kpi_targets
        # gate checks the same rows and lists them. Alerts read the decision, never re-validate.
        frame = kpi_gate_frame(con)
        below = frame[frame["status"] == "below"]
        synced = sync_kpi_alerts(con, below, settings.alerts, now, contacts)
        digests = enqueue_weekly_digests(con, settings.alerts, now, contacts)
        overdue_tasks = enqueue_overdue_tasks(con, settings.alerts, now, contacts)
        rejected = enqueue_rejected_files(con, settings.alerts, now, contacts)
        contact_problems = record_contact_problems(con, contacts, settings.alerts, now)
        delivery = deliver_pending(con, settings.alerts, now)
    for error in delivery.errors:
        context.log.warning(f"Alert not delivered, kept for the next run: {error}")
    return dg.MaterializeResult(
        metadata={
            "alerted": synced.alerted,
            "resolved": synced.resolved,
            "messages": synced.messages + digests + rejected,
            "weekly_digests": digests,
            "tasks_newly_overdue": overdue_tasks,
            "contact_rows_ignored": contact_problems,
            "delivered": delivery.sent,
            "delivery_failures": delivery.failed,
        }
    )


@dg.asset(
    key=["published_warehouse"],
    deps=[*cchc_dbt_models.keys, INGESTED_FILES, QUARANTINED_ROWS, ALERTS],
    group_name="publish",
    description="CCHC_WAREHOUSE, replaced atomically by the build once every model and test passed.",
)
def published_warehouse(context: dg.AssetExecutionContext, cchc: CchcSettings) -> dg.MaterializeResult:
    settings = cchc.resolve()
    publish_warehouse(settings)
    context.log.info(f"Published {settings.warehouse}")
    return dg.MaterializeResult(metadata={"path": str(settings.warehouse)})

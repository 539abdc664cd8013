"""Great Expectations gates, run on dataframes pulled from the build DuckDB.

GX's SQL route fails on DuckDB, so each gate pulls a small frame (one row per unit result, or one
row per file) and validates it with the suites kept in ``expectations/``. Row-level checks on the
big tables are dbt tests; the gates keep what only they can say.

GX runs in a process of its own (``gate_process``), started when a run begins: importing it takes
seconds (scipy, sqlalchemy and altair come with it), which then pass on the other core while the
run ingests instead of delaying the first gate.
"""

from __future__ import annotations

import datetime as dt
import gc
import html
import json
import logging
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.config import PROJECT_ROOT

SUITES_DIR = PROJECT_ROOT / "expectations"
CRITICAL = "critical"
# Columns that name a failing unit result in the gate's output (and in its alert).
KPI_GATE_INDEX = ["period", "unit_code", "kpi_code", "numerator", "denominator", "value", "target"]


@dataclass
class Failure:
    expectation: str  # what the expectation checks, in words (its rule or KPI)
    severity: str  # critical | warning
    rows: list[dict] = field(default_factory=list)  # the failing rows' index values and checked values
    unexpected_count: int = 0  # failing rows, as GX counted them


@dataclass
class GateOutcome:
    suite: str
    validated_at: dt.datetime
    evaluated: int
    failures: list[Failure]

    @property
    def critical(self) -> bool:
        return any(f.severity == CRITICAL for f in self.failures)


def kpi_gate_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every result row (units, levels, the city) of every report period started by the data date."""
    return con.execute(
        """
        select r.period, r.unit_code, r.kpi_code, r.numerator, r.denominator, r.value, r.target, r.status
        from marts.kpi_results as r
        join marts.dim_periods as p on p.period_code = r.period
        where p.period_kind = 'report'
          and p.state <> 'not_started'
        """
    ).df()


def check_kpi_targets(con: duckdb.DuckDBPyConnection, docs_dir: Path) -> tuple[GateOutcome, pd.DataFrame]:
    """The kpi_targets gate over ``kpi_gate_frame``; returns the outcome, whose rows are the full
    results below, and the frame.

    GX checks the decision (``kpi_results.status``) and counts the results below; the rows are then
    taken from the frame by the same status. GX's own listing of tens of thousands of failing
    rows (index lookups one cell at a time, then the stored result serialised) cost seconds; its
    count is checked against the rows listed.
    """
    frame = kpi_gate_frame(con)
    outcome = validate("kpi_targets", frame[["status"]], [], docs_dir)
    below = frame.loc[frame["status"] == "below", KPI_GATE_INDEX]
    for failure in outcome.failures:
        if failure.unexpected_count != len(below):
            raise RuntimeError(f"the kpi_targets gate counted {failure.unexpected_count} results below target, kpi_results {len(below)}")
        failure.rows = [_plain(row) for row in below.to_dict("records")]
    return outcome, frame


def boundary_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per file seen: its reconciliation, status and quarantined rows, from the manifest.

    The row rules are not counted here: dbt's staging tests prove them on every loaded row.
    """
    return con.execute(
        """
        select path, status, reason, rows_read, rows_loaded + rows_quarantined as rows_accounted, rows_quarantined
        from audit.ingested_files
        where status <> 'skipped'
        order by path
        """
    ).df()


@cache
def gate_process() -> ProcessPoolExecutor:
    """The one process that runs GX for this run, importing it as soon as it starts."""
    process = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_import_great_expectations)
    process.submit(int)  # starts it now, not at the first gate
    return process


def _import_great_expectations() -> None:
    import great_expectations  # noqa: F401 (the import is the point: it takes seconds)

    # What GX loaded lives as long as the process: kept out of the collections, and out of the
    # last ones at exit (a second of every run spent joining this process otherwise).
    gc.freeze()


@cache
def _context(docs_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.add_data_docs_site(
        site_name="gates",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(docs_dir)},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    context.data_sources.add_pandas("warehouse")
    return context


def load_suite(name: str) -> dict:
    return json.loads((SUITES_DIR / f"{name}.json").read_text(encoding="utf-8"))


@cache
def _checkpoint(docs_dir: Path, suite_name: str, index_columns: tuple[str, ...]):
    """The suite, its dataframe batch and a checkpoint that updates the Data Docs, built once.
    Without index columns, GX counts the failing rows and shows a few (its summary format)."""
    import great_expectations as gx

    context = _context(docs_dir)
    definition = load_suite(suite_name)
    suite = context.suites.add(gx.ExpectationSuite(name=suite_name, expectations=definition["expectations"], meta=definition["meta"]))
    batch = context.data_sources.get("warehouse").add_dataframe_asset(suite_name).add_batch_definition_whole_dataframe("all rows")
    validation = context.validation_definitions.add(gx.ValidationDefinition(name=suite_name, data=batch, suite=suite))
    return context.checkpoints.add(
        gx.Checkpoint(
            name=suite_name,
            validation_definitions=[validation],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="data_docs", site_names=["gates"])],
            result_format=(
                {"result_format": "COMPLETE", "unexpected_index_column_names": list(index_columns)}
                if index_columns
                else {"result_format": "SUMMARY"}
            ),
        )
    )


def validate(suite_name: str, frame: pd.DataFrame, index_columns: list[str], docs_dir: Path) -> GateOutcome:
    """Validates ``frame`` with a suite of ``expectations/``, updating the Data Docs (in the gate
    process). Each failure lists its rows by ``index_columns``, or only counts them without."""
    return gate_process().submit(_validate_here, suite_name, frame, index_columns, docs_dir).result()


def _validate_here(suite_name: str, frame: pd.DataFrame, index_columns: list[str], docs_dir: Path) -> GateOutcome:
    checkpoint = _checkpoint(docs_dir, suite_name, tuple(index_columns))
    run = checkpoint.run(batch_parameters={"dataframe": _as_markup_safe_text(frame)})
    (validation,) = run.run_results.values()

    failures = []
    for result in validation.results:
        if result.success:
            continue
        config = result.expectation_config
        failures.append(
            Failure(
                expectation=config.meta.get("kpi_code") or config.meta.get("rule") or config.type,
                severity=str(getattr(config, "severity", CRITICAL) or CRITICAL).rsplit(".", 1)[-1].lower(),
                rows=[_plain(row) for row in result.result.get("unexpected_index_list") or []],
                unexpected_count=result.result.get("unexpected_count") or 0,
            )
        )
    return GateOutcome(suite_name, dt.datetime.now(), len(validation.results), failures)


def _as_markup_safe_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells escaped for HTML and kept on one line: the Data Docs page writes the values it
    lists (file names, reasons) into its markup as they are, and a file name is data, not markup."""
    def safe(value):
        return _CONTROL.sub(" ", html.escape(value)) if isinstance(value, str) else value

    text_columns = [c for c in frame.columns if frame[c].dtype == object or pd.api.types.is_string_dtype(frame[c])]
    return frame.assign(**{c: frame[c].map(safe) for c in text_columns})


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _plain(row: dict) -> dict:
    return {key: value.item() if hasattr(value, "item") else value for key, value in row.items()}


def store_outcome(con: duckdb.DuckDBPyConnection, outcome: GateOutcome) -> None:
    """Appends the outcome to ``audit.validation_results``: one row per failed expectation, or one pass row."""
    con.execute(
        """
        create schema if not exists audit;
        create table if not exists audit.validation_results (
            validated_at timestamp, suite varchar, expectation varchar, severity varchar,
            success boolean, unexpected_count bigint, unexpected_rows json
        )
        """
    )
    rows = [
        (outcome.validated_at, outcome.suite, f.expectation, f.severity, False, len(f.rows), json.dumps(f.rows, ensure_ascii=False, default=str))
        for f in outcome.failures
    ] or [(outcome.validated_at, outcome.suite, None, None, True, 0, "[]")]
    con.executemany("insert into audit.validation_results values (?, ?, ?, ?, ?, ?, ?)", rows)

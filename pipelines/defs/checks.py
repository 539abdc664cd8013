"""Gates as asset checks on what they validate (Great Expectations, pipelines/gates.py)."""

import dagster as dg
import pandas as pd

from pipelines.defs.assets import INGESTED_FILES, KPI_RESULTS
from pipelines.defs.resources import CchcSettings
from pipelines.gates import boundary_frame, check_kpi_targets, store_outcome, validate
from pipelines.publish import connect_build_file


@dg.asset_check(
    asset=KPI_RESULTS,
    name="kpi_targets",
    # blocking with WARN only orders the steps: it writes its outcome to the build file, so it must
    # run before publishing renames that file away
    blocking=True,
    description="Each unit against its target for every report period that has started (GX suite kpi_targets). "
    "WARN: a unit below target is flagged and alerted, never blocks publishing.",
)
def kpi_targets_gate(cchc: CchcSettings) -> dg.AssetCheckResult:
    settings = cchc.resolve()
    with connect_build_file(settings) as con:
        outcome, frame = check_kpi_targets(con, settings.data_docs_dir)
        store_outcome(con, outcome)
    below = [row for failure in outcome.failures for row in failure.rows]
    no_data = frame[frame["status"] == "no_data"]
    return dg.AssetCheckResult(
        passed=not outcome.failures,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(below)} unit results below target; {len(no_data)} without data (reported separately).",
        metadata={
            "units_below": len(below),
            "below_by_kpi": pd.Series([row["kpi_code"] for row in below], dtype=str).value_counts().to_dict(),
            "below": dg.MetadataValue.json(below),
            "no_data_by_kpi": no_data.groupby("kpi_code").size().to_dict(),
            "data_docs": dg.MetadataValue.path(str(settings.data_docs_dir / "index.html")),
        },
    )


@dg.asset_check(
    asset=INGESTED_FILES,
    name="ingestion_boundary",
    blocking=True,
    description="Per-file expectations at the ingestion boundary (GX suite ingestion_boundary). ERROR, and no "
    "publishing, when loaded rows break a rule; WARN listing rejected files and files with quarantined rows.",
)
def ingestion_boundary_gate(cchc: CchcSettings) -> dg.AssetCheckResult:
    settings = cchc.resolve()
    with connect_build_file(settings) as con:
        outcome = validate("ingestion_boundary", boundary_frame(con), ["path"], settings.data_docs_dir)
        store_outcome(con, outcome)
    return dg.AssetCheckResult(
        passed=not outcome.failures,
        severity=dg.AssetCheckSeverity.ERROR if outcome.critical else dg.AssetCheckSeverity.WARN,
        metadata={
            **{f.expectation: dg.MetadataValue.json(f.rows) for f in outcome.failures},
            "data_docs": dg.MetadataValue.path(str(settings.data_docs_dir / "index.html")),
        },
    )

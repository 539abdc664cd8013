"""Incremental dbt builds: a nightly run transforms only what the files ingested since the last
successful build touch.

The build file remembers, in ``audit.dbt_build_state``, up to which ingestion time its models are
complete and which dbt code and seeds built them. The next build runs dbt without
``--full-refresh``; the models read that time from the table and re-derive only the keys the
newer files mention and the report periods their dates fall in. Full and incremental builds pass
dbt the same variables, so dbt keeps its parsed project from one build to the next whichever kind
it is. Changed models, macros or seeds, a new build file, or ``CCHC_FULL_REFRESH`` force a full
rebuild, and so does Spark (``CCHC_ENGINE=spark`` builds are full rebuilds, and the first DuckDB
build after one is full too). A failed build records nothing, so the next one starts from the
same point again (every incremental step is idempotent).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from pathlib import Path

from pipelines.config import PROJECT_ROOT, SEEDS_DIR
from pipelines.storage import connect_build

DBT_CODE = [PROJECT_ROOT / "dbt_project" / "models", PROJECT_ROOT / "dbt_project" / "macros", SEEDS_DIR, PROJECT_ROOT / "dbt_project" / "dbt_project.yml"]


def dbt_code_fingerprint() -> str:
    digest = hashlib.sha256()
    for root in DBT_CODE:
        for path in sorted([root] if root.is_file() else root.rglob("*")):
            if path.is_file():
                digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@dataclass(frozen=True)
class BuildPlan:
    dbt_args: list[str]
    ingested_until: dt.datetime | None  # the newest file this build sees
    fingerprint: str

    @property
    def is_incremental(self) -> bool:
        return "--full-refresh" not in self.dbt_args


@dataclass(frozen=True)
class LastBuild:
    ingested_until: dt.datetime | None  # the newest file it saw
    fingerprint: str  # the engine, dbt code and seeds that built it


def decide_build(
    last: LastBuild | None, fingerprint: str, ingested_until: dt.datetime | None, force_full: bool, engine: str = "duckdb"
) -> BuildPlan:
    """Full or incremental, and dbt's arguments: the one place this is decided. ``fingerprint``
    names the engine and the dbt code; only DuckDB builds incrementally."""
    if engine != "duckdb" or force_full or last is None or last.ingested_until is None or last.fingerprint != fingerprint:
        return BuildPlan(["--full-refresh"], ingested_until, fingerprint)
    return BuildPlan([], ingested_until, fingerprint)


def plan_build(build_db: Path, force_full: bool = False, engine: str = "duckdb") -> BuildPlan:
    """The build file's last successful build and newest file, then ``decide_build``."""
    with connect_build(build_db) as con:
        con.execute(
            "create table if not exists audit.dbt_build_state "
            "(built_at timestamp, ingested_until timestamp, code_fingerprint varchar, incremental boolean)"
        )
        last = con.execute(
            "select ingested_until, code_fingerprint from audit.dbt_build_state order by built_at desc limit 1"
        ).fetchone()
        (until,) = con.execute("select max(ingested_at) from audit.ingested_files").fetchone()
    fingerprint = dbt_code_fingerprint() if engine == "duckdb" else f"{engine}:{dbt_code_fingerprint()}"
    return decide_build(LastBuild(*last) if last else None, fingerprint, until, force_full, engine)


def record_build(build_db: Path, plan: BuildPlan) -> None:
    with connect_build(build_db) as con:
        con.execute(
            "insert into audit.dbt_build_state values (?, ?, ?, ?)",
            [dt.datetime.now(), plan.ingested_until, plan.fingerprint, plan.is_incremental],
        )

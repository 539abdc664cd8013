"""Every setting the pipeline reads from the environment, resolved in one place.

Defaults keep everything inside the checkout. Whatever the pipeline keeps between runs (lake,
private build file) lives beside the published warehouse, so another ``CCHC_WAREHOUSE`` is a
separate warehouse with its own state.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "data" / "seeds"
DEVELOPMENT_PII_SALT = "cchc-development-salt-not-for-production"


@dataclass(frozen=True)
class AlertChannels:
    """Where alerts go. A channel without its setting is off (its messages say ``not_configured``)."""

    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = False
    email_from: str = "cchc-kpi@localhost"
    email_to: tuple[str, ...] = ()  # the city's reform office: copied on every message
    webhook_url: str | None = None
    contacts_file: Path | None = None  # unit_code,email,name: each unit's own recipients


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    lake_dir: Path
    report_dir: Path  # where `make report` writes the period reports (HTML and workbook)
    pii_salt: str = field(repr=False)
    duckdb_memory_limit: str = "2GB"  # of the dbt build; DuckDB spills to disk beyond it
    full_refresh: bool = False  # rebuild every dbt model from the whole lake, not only what changed
    engine: str = "duckdb"  # where the dbt models run: duckdb, or spark (docs/spark.md)
    spark_memory: str = "4g"  # the Spark driver's heap, when engine is spark
    alerts: AlertChannels = AlertChannels()

    @property
    def build_db(self) -> Path:
        """The private file the run builds into; published over ``warehouse`` on success."""
        return self.warehouse.with_name(self.warehouse.stem + ".build.duckdb")

    @property
    def dbt_log(self) -> Path:
        """dbt's lines of the last build (one per model and test), kept out of the terminal."""
        return self.warehouse.parent / "dbt-build.log"

    @property
    def dbt_target_dir(self) -> Path:
        """dbt's artefacts of the last build (compiled SQL, run results) and its parsed project,
        one folder per engine: each keeps its own parse from one build to the next."""
        return self.warehouse.parent / ("dbt-target" if self.engine == "duckdb" else f"dbt-target-{self.engine}")

    @property
    def spark_dir(self) -> Path:
        """The Spark engine's catalogue of tables, rebuilt by every Spark build."""
        return self.warehouse.parent / "spark"

    @property
    def data_docs_dir(self) -> Path:
        """Great Expectations Data Docs (HTML) of the gates, for the operator."""
        return self.warehouse.parent / "data_docs"

    @property
    def uses_development_salt(self) -> bool:
        return self.pii_salt == DEVELOPMENT_PII_SALT


def load_settings(environment: Mapping[str, str] | None = None) -> Settings:
    """The settings from ``environment`` (the process environment unless given)."""
    environment = os.environ if environment is None else environment

    def _text(name: str) -> str | None:
        return environment.get(name, "").strip() or None

    def _path(name: str, default: Path) -> Path:
        value = environment.get(name, "").strip()
        path = Path(value) if value else default
        return path if path.is_absolute() else (Path.cwd() / path).resolve()

    warehouse = _path("CCHC_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse" / "cchc.duckdb")
    salt = _text("CCHC_PII_SALT") or DEVELOPMENT_PII_SALT
    return Settings(
        raw_dir=_path("CCHC_RAW_DIR", PROJECT_ROOT / "data" / "raw"),
        warehouse=warehouse,
        lake_dir=_path("CCHC_LAKE_DIR", warehouse.parent / "lake"),
        report_dir=_path("CCHC_REPORT_DIR", warehouse.parent / "reports"),
        pii_salt=salt,
        duckdb_memory_limit=_text("CCHC_DUCKDB_MEMORY_LIMIT") or "2GB",
        full_refresh=(_text("CCHC_FULL_REFRESH") or "").lower() in ("1", "true", "yes"),
        engine=(_text("CCHC_ENGINE") or "duckdb").lower(),
        spark_memory=_text("CCHC_SPARK_MEMORY") or "4g",
        alerts=AlertChannels(
            smtp_host=_text("CCHC_SMTP_HOST"),
            smtp_port=int(_text("CCHC_SMTP_PORT") or 25),
            smtp_user=_text("CCHC_SMTP_USER"),
            smtp_password=_text("CCHC_SMTP_PASSWORD"),
            smtp_starttls=(_text("CCHC_SMTP_STARTTLS") or "").lower() in ("1", "true", "yes"),
            email_from=_text("CCHC_ALERT_EMAIL_FROM") or "cchc-kpi@localhost",
            email_to=tuple(a.strip() for a in (_text("CCHC_ALERT_EMAIL_TO") or "").split(",") if a.strip()),
            webhook_url=_text("CCHC_ALERT_WEBHOOK_URL"),
            contacts_file=_path("CCHC_UNIT_CONTACTS", Path()) if _text("CCHC_UNIT_CONTACTS") else None,
        ),
    )


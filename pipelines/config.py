"""Every setting the pipeline reads from the environment, resolved in one place.

Defaults keep everything inside the checkout. Whatever the pipeline keeps between runs (lake,
private build file) lives beside the published warehouse, so another ``CCHC_WAREHOUSE`` is a
separate warehouse with its own state.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = PROJECT_ROOT / "data" / "seeds"
DEVELOPMENT_PII_SALT = "cchc-development-salt-not-for-production"


@dataclass(frozen=True)
class Settings:
    raw_dir: Path
    warehouse: Path
    lake_dir: Path
    pii_salt: str

    @property
    def build_db(self) -> Path:
        """The private file the run builds into; published over ``warehouse`` on success."""
        return self.warehouse.with_name(self.warehouse.stem + ".build.duckdb")

    @property
    def uses_development_salt(self) -> bool:
        return self.pii_salt == DEVELOPMENT_PII_SALT


def _path(name: str, default: Path) -> Path:
    value = os.environ.get(name, "").strip()
    path = Path(value) if value else default
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def load_settings() -> Settings:
    warehouse = _path("CCHC_WAREHOUSE", PROJECT_ROOT / "data" / "warehouse" / "cchc.duckdb")
    salt = os.environ.get("CCHC_PII_SALT", "").strip() or DEVELOPMENT_PII_SALT
    return Settings(
        raw_dir=_path("CCHC_RAW_DIR", PROJECT_ROOT / "data" / "raw"),
        warehouse=warehouse,
        lake_dir=_path("CCHC_LAKE_DIR", warehouse.parent / "lake"),
        pii_salt=salt,
    )


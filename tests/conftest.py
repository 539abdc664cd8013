"""Shared fixtures: the sample drops materialised once into a warehouse under a temporary folder."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.config import PROJECT_ROOT

SAMPLE_DROPS = PROJECT_ROOT / "data" / "raw"
FIXTURES = Path(__file__).parent / "fixtures"


def run_cli(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs one of the project's commands the way `make` does, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )


def materialize(environment: dict[str, str]) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        from pipelines.definitions import defs

        return defs.resolve_job_def("nightly").execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


@pytest.fixture(scope="session")
def sample_warehouse(tmp_path_factory) -> dict[str, str]:
    """Environment of a warehouse built from a copy of the sample drops; the run must succeed."""
    root = tmp_path_factory.mktemp("sample")
    raw = root / "raw"
    shutil.copytree(SAMPLE_DROPS, raw)
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(root / "warehouse" / "cchc.duckdb")}
    result = materialize(environment)
    assert result.success, "the nightly job failed on the sample drops"
    return environment


@pytest.fixture(scope="session")
def expected_kpis() -> list[dict[str, str]]:
    import csv

    with (FIXTURES / "expected_kpis.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))

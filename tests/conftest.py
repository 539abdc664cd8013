"""Shared fixtures: the sample drops materialised once into a warehouse under a temporary folder."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from pipelines.config import PROJECT_ROOT

SAMPLE_DROPS = PROJECT_ROOT / "data" / "raw"
FIXTURES = Path(__file__).parent / "fixtures"
# Fixtures that build a warehouse or a synthetic city: a test using one is an integration test.
WAREHOUSE_FIXTURES = {"sample_run", "sample_warehouse", "drops"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is `unit`, `integration` or `browser` (`make test-fast` runs the first): browser
    if it drives Chromium, integration if marked so or using a warehouse fixture, else unit."""
    for item in items:
        if "chromium" in item.fixturenames:
            item.add_marker(pytest.mark.browser)
        elif item.get_closest_marker("integration") or WAREHOUSE_FIXTURES & set(item.fixturenames):
            item.add_marker(pytest.mark.integration)
        else:
            item.add_marker(pytest.mark.unit)


def run_cli(module: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Runs one of the project's commands the way `make` does, in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-m", module, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
    )


def run_dbt(build: Path, work: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Runs dbt on the build file ``build`` (its target and logs under ``work``): the process, and
    the results of its ``run_results.json`` (none when dbt stopped before writing one)."""
    from pipelines.defs.project import DBT_PROJECT_DIR  # dagster-dbt's import only for the tests that run dbt

    result = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), *args, "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        cwd=DBT_PROJECT_DIR, env={"PATH": str(Path(sys.executable).parent), "HOME": str(work), "CCHC_BUILD_DB": str(build)},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    run_results = work / "target" / "run_results.json"
    return result, json.loads(run_results.read_text())["results"] if run_results.exists() else []


def materialize(environment: dict[str, str]) -> dg.ExecuteInProcessResult:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)
        from pipelines.definitions import defs

        return defs.resolve_job_def("nightly").execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> tuple[dict[str, str], dg.ExecuteInProcessResult]:
    """A warehouse built from a copy of the sample drops (its environment), and the run; it must succeed."""
    root = tmp_path_factory.mktemp("sample")
    raw = root / "raw"
    shutil.copytree(SAMPLE_DROPS, raw)
    environment = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(root / "warehouse" / "cchc.duckdb")}
    result = materialize(environment)
    assert result.success, "the nightly job failed on the sample drops"
    return environment, result


@pytest.fixture(scope="session")
def sample_warehouse(sample_run) -> dict[str, str]:
    return sample_run[0]


@pytest.fixture(scope="session")
def drops(tmp_path_factory) -> list[Path]:
    """Three weeks of a synthetic city, across the Q1/Q2 cut-off of 14 March."""
    from bench.generate import generate

    generated = tmp_path_factory.mktemp("generated") / "raw"
    generate(10_000, generated)
    return [generated / day for day in sorted(p.name for p in generated.iterdir()) if "2024-03-04" <= day <= "2024-03-22"]


@pytest.fixture(scope="session")
def expected_kpis() -> list[dict[str, str]]:
    import csv

    with (FIXTURES / "expected_kpis.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


# Flags for a root, offline machine: without the networking ones Chromium keeps dialling out.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--hide-scrollbars", "--no-pdf-header-footer",
]  # fmt: skip


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, which `make test` installs (`make chromium`)."""
    path = shutil.which("chromium")
    assert path, "Chromium is not installed: run `make chromium` (or `make test`, which installs it)."
    return path


def run_chromium(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._utils.schedules import schedule_execution_time_iterator
from dagster_dbt import DbtCliResource

from pipelines.config import PROJECT_ROOT
from pipelines.definitions import defs
from pipelines.defs.project import dbt_project
from pipelines.defs.resources import dbt_cli

ASSET_GRAPH = Path(__file__).parent / "fixtures" / "asset_graph.txt"


def test_definitions_load_as_one_lineage_graph():
    graph = defs.resolve_asset_graph()
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw/dossiers", "raw/pakn", "raw/ratings", "marts/kpi_results", "published_warehouse"} <= keys
    # the ingestion assets are the dbt sources, so staging hangs off them
    assert dg.AssetKey(["raw", "dossiers"]) in graph.get(dg.AssetKey(["staging", "stg_raw__dossiers"])).parent_keys
    assert dg.AssetKey(["marts", "kpi_results"]) in graph.get(dg.AssetKey("published_warehouse")).parent_keys


def test_dbt_tests_are_asset_checks():
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert any(name.startswith("accepted_values_kpi_results_status") for name in checks)


def test_the_nightly_schedule_fires_once_a_night_at_half_past_one_in_hanoi():
    """Hà Nội is UTC+7 all year: 01:30 there is 18:30 UTC the evening before, every day."""
    schedule = defs.resolve_schedule_def("nightly_schedule")
    # the iterator the Dagster daemon itself uses to decide the next ticks
    ticks = schedule_execution_time_iterator(
        dt.datetime(2024, 6, 20, 12, tzinfo=dt.UTC).timestamp(), schedule.cron_schedule, schedule.execution_timezone
    )
    fired = [next(ticks).astimezone(dt.UTC) for _ in range(3)]
    assert fired == [dt.datetime(2024, 6, day, 18, 30, tzinfo=dt.UTC) for day in (20, 21, 22)]


def test_the_nightly_job_materialises_and_checks_the_whole_graph():
    job = defs.resolve_job_def("nightly")
    graph = defs.resolve_asset_graph()
    assert job.asset_layer.selected_asset_keys == graph.get_all_asset_keys()
    (request,) = defs.resolve_schedule_def("nightly_schedule").evaluate_tick(dg.build_schedule_context()).run_requests
    assert request.asset_selection is None, "the schedule runs the job's whole selection"


def test_both_sensors_start_with_the_daemon_and_the_drop_sensor_starts_the_nightly_job():
    new_drop, run_failure = defs.resolve_sensor_def("new_drop_sensor"), defs.resolve_sensor_def("run_failure_alert")
    assert new_drop.job_name == "nightly"
    assert new_drop.default_status == run_failure.default_status == dg.DefaultSensorStatus.RUNNING


def asset_graph_lines() -> list[str]:
    """Every asset with its parents, and every check, one line each."""
    graph = defs.resolve_asset_graph()
    lines = [
        f"asset {key.to_user_string()} <- {', '.join(sorted(p.to_user_string() for p in graph.get(key).parent_keys)) or '(none)'}"
        for key in graph.get_all_asset_keys()
    ]
    lines += [f"check {key.asset_key.to_user_string()}:{key.name}" for key in graph.asset_check_keys]
    return sorted(lines)


def test_the_asset_graph_is_the_reviewed_one():
    """A change to the lineage (an asset, an edge, a check) is a diff of tests/fixtures/asset_graph.txt:
    rewrite it with CCHC_UPDATE_SNAPSHOT=1 make test-fast and review it with the change."""
    if os.environ.get("CCHC_UPDATE_SNAPSHOT") == "1":
        ASSET_GRAPH.write_text("\n".join(asset_graph_lines()) + "\n", encoding="utf-8")
    assert asset_graph_lines() == ASSET_GRAPH.read_text(encoding="utf-8").splitlines()


@pytest.mark.integration
def test_the_dbt_resource_knows_the_version_that_dbt_reports():
    """The resource skips dagster-dbt's `dbt --version` call; the answer must stay the same."""
    assert dbt_cli._cli_version == DbtCliResource(project_dir=dbt_project)._cli_version


def test_importing_the_code_changes_no_environment_variable_and_creates_no_folder(tmp_path):
    warehouse = tmp_path / "somewhere" / "cchc.duckdb"
    script = (
        "import json, os; before = dict(os.environ)\n"
        "import pipelines.definitions, pipelines.cli.run, pipelines.cli.kpis, pipelines.cli.report, pipelines.cli.sql, pipelines.cli.docs\n"
        # the project's own variables (libraries set theirs: Polars its allocator's)
        "print(json.dumps(sorted(k for k in set(before) | set(os.environ) if k.startswith(('CCHC_', 'DBT_')) and before.get(k) != os.environ.get(k))))"
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CCHC_WAREHOUSE": str(warehouse), "DAGSTER_HOME": str(tmp_path / "dagster")}
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.splitlines()[-1]) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "importing created files or folders"


def test_the_libraries_know_nothing_of_dagster_definitions_or_commands():
    """pipelines/*.py and pipelines/ingest/ are plain libraries: defs/ and cli/ import them, never the reverse."""
    libraries = [*(PROJECT_ROOT / "pipelines").glob("*.py"), *(PROJECT_ROOT / "pipelines" / "ingest").glob("*.py")]
    offenders = [
        path.name
        for path in libraries
        if path.name != "definitions.py" and re.search(r"pipelines\.(defs|cli|definitions)\b", path.read_text(encoding="utf-8"))
    ]
    assert len(libraries) > 10 and offenders == []

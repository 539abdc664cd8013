import dagster as dg
from dagster_dbt import DbtCliResource

from pipelines.definitions import defs
from pipelines.project import dbt_project
from pipelines.resources import dbt_cli


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


def test_nightly_schedule_runs_at_half_past_one_in_hanoi():
    schedule = defs.get_schedule_def("nightly_schedule")
    assert schedule.cron_schedule == "30 1 * * *"
    assert schedule.execution_timezone == "Asia/Ho_Chi_Minh"
    assert schedule.job_name == "nightly"


def test_nightly_schedule_evaluates_to_a_run_of_the_whole_graph():
    schedule = defs.get_schedule_def("nightly_schedule")
    context = dg.build_schedule_context()
    requests = schedule.evaluate_tick(context).run_requests
    assert len(requests) == 1 and requests[0].job_name in (None, "nightly")


def test_the_dbt_resource_knows_the_version_that_dbt_reports():
    """The resource skips dagster-dbt's `dbt --version` call; the answer must stay the same."""
    assert dbt_cli._cli_version == DbtCliResource(project_dir=dbt_project)._cli_version

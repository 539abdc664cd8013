"""Bad nights: a run killed anywhere in the dbt build never wedges the nights that follow."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipelines.config import PROJECT_ROOT
from tests.conftest import materialize
from tests.test_incremental import COMPARED, move_dossiers, table_rows


def kill_when_dbt_logs(command: list[str], env: dict[str, str], marker: str, timeout: float = 300) -> str:
    """Starts ``command``, waits for a line containing ``marker`` in dbt's log of this run (what the
    build's dbt.log gains from now on) and kills the whole run (Dagster and its dbt subprocess) with
    SIGKILL; returns the line it killed on."""
    log = Path(env["CCHC_WAREHOUSE"]).parent / "dbt-target" / "dbt.log"
    offset = log.stat().st_size if log.exists() else 0
    process = subprocess.Popen(command, cwd=PROJECT_ROOT, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process.poll() is None:
            if log.exists():
                with log.open("rb") as handle:
                    handle.seek(offset)
                    text = handle.read().decode("utf-8", errors="replace")
                line = next((line for line in text.splitlines() if marker in line), None)
                if line:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    return line
            time.sleep(0.05)
        raise AssertionError(f"the run ended (exit {process.poll()}) before dbt logged {marker!r}")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def uninterrupted(drops, tmp_path_factory) -> tuple[Path, str]:
    """Every drop, the late correction included, built in one uninterrupted run."""
    root = tmp_path_factory.mktemp("uninterrupted")
    for drop in drops:
        shutil.copytree(drop, root / "raw" / drop.name)
    move_dossiers(root / "raw" / drops[1].name)
    warehouse = str(root / "cchc.duckdb")
    assert materialize({"CCHC_RAW_DIR": str(root / "raw"), "CCHC_WAREHOUSE": warehouse}).success
    return root / "raw", warehouse


@pytest.mark.parametrize(
    "marker",
    [
        # int_dossiers__latest has committed the new files' winners; the next incremental model starts
        "START sql incremental model intermediate.int_pakn__latest",
        # inside the KPI mart, after every latest-state model committed
        "START sql incremental model marts.kpi_results",
    ],
)
def test_a_run_killed_in_the_dbt_build_is_repaired_by_the_next_run(drops, uninterrupted, tmp_path, marker):
    raw = tmp_path / "raw"
    env = {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(tmp_path / "cchc.duckdb")}
    for drop in drops[:8]:
        shutil.copytree(drop, raw / drop.name)
    assert materialize(env).success

    for drop in drops[8:]:
        shutil.copytree(drop, raw / drop.name)
    move_dossiers(raw / drops[1].name)
    run_env = {**os.environ, **env, "DAGSTER_HOME": str(tmp_path / "dagster")}
    (tmp_path / "dagster").mkdir()
    killed_on = kill_when_dbt_logs([sys.executable, "-m", "pipelines.cli.run"], run_env, marker)
    assert marker in killed_on

    rerun = subprocess.run([sys.executable, "-m", "pipelines.cli.run"], cwd=PROJECT_ROOT, env=run_env, capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "incremental" in rerun.stdout, "the rerun stays incremental: it repairs, it does not rebuild"
    for table in COMPARED:
        assert table_rows(env["CCHC_WAREHOUSE"], table) == table_rows(uninterrupted[1], table), table


def test_make_variables_are_values_not_shell_code(sample_warehouse, tmp_path):
    planted = tmp_path / "pwned"
    for target, variable in (("kpis", "PERIOD"), ("kpis", "UNIT"), ("report", "PERIOD"), ("bench-data", "SCALE")):
        result = subprocess.run(
            ["make", "-s", target, "PERIOD=2024-Q2", f"{variable}=1$$(touch {planted})'\"`touch {planted}`"],
            cwd=PROJECT_ROOT, env={**os.environ, **sample_warehouse, "CCHC_REPORT_DIR": str(tmp_path)}, capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode != 0 and "Traceback" not in result.stderr, (target, variable, result.stderr)
        assert not planted.exists(), f"make {target} {variable}=... ran a command"


@pytest.mark.integration
def test_a_second_run_says_which_run_holds_the_warehouse_and_fails(tmp_path):
    from pipelines.runlock import exclusive_run

    (tmp_path / "raw").mkdir()
    env = {**os.environ, "CCHC_RAW_DIR": str(tmp_path / "raw"), "CCHC_WAREHOUSE": str(tmp_path / "cchc.duckdb")}
    with exclusive_run(tmp_path / "cchc.duckdb"):
        second = subprocess.run([sys.executable, "-m", "pipelines.cli.run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert second.returncode == 1 and "Traceback" not in second.stderr
    assert f"Another run (process {os.getpid()}, started at " in second.stderr and "wait for it to finish" in second.stderr


def test_the_lock_dies_with_its_holder(tmp_path):
    from pipelines.runlock import exclusive_run

    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from pipelines.runlock import exclusive_run\n"
         "with exclusive_run(Path(sys.argv[1])):\n    print('held', flush=True); time.sleep(60)", str(tmp_path / "cchc.duckdb")],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait()
    with exclusive_run(tmp_path / "cchc.duckdb"):
        pass


def test_the_dagster_instance_runs_one_job_at_a_time(tmp_path):
    import dagster as dg

    shutil.copyfile(PROJECT_ROOT / "pipelines" / "dagster.yaml", tmp_path / "dagster.yaml")
    instance = dg.DagsterInstance.from_config(str(tmp_path))
    assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


@pytest.mark.integration
def test_a_warehouse_path_that_cannot_be_created_is_one_sentence(tmp_path):
    (tmp_path / "raw").mkdir()
    (tmp_path / "a_file").write_text("not a folder")
    env = {**os.environ, "CCHC_RAW_DIR": str(tmp_path / "raw"), "CCHC_WAREHOUSE": str(tmp_path / "a_file" / "cchc.duckdb")}
    result = subprocess.run([sys.executable, "-m", "pipelines.cli.run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"The warehouse folder {tmp_path / 'a_file'} cannot be created (File exists): set CCHC_WAREHOUSE to a file in a folder you can write."
    )


@pytest.mark.parametrize(
    ("engine", "path", "sentence"),
    [
        ("oracle", None, "CCHC_ENGINE is 'oracle': set it to duckdb or spark (duckdb when unset)."),
        ("spark", "", "CCHC_ENGINE=spark needs Java, and `java` is not on PATH: run `make java` (or install a JRE 17), then run again."),
    ],
)
def test_an_engine_that_cannot_run_is_one_sentence_before_anything_runs(tmp_path, engine, path, sentence):
    (tmp_path / "raw").mkdir()
    env = {**os.environ, "CCHC_RAW_DIR": str(tmp_path / "raw"), "CCHC_WAREHOUSE": str(tmp_path / "w" / "cchc.duckdb"), "CCHC_ENGINE": engine}
    if path is not None:
        env["PATH"] = path  # no java on it (the interpreter is started by its full path)
    result = subprocess.run([sys.executable, "-m", "pipelines.cli.run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == sentence
    assert not (tmp_path / "w" / "cchc.build.duckdb").exists()


def test_a_failed_step_is_reported_by_its_real_cause():
    from dagster._utils.error import serializable_error_info_from_exc_info

    from pipelines.cli.run import failure_cause

    try:
        try:
            raise OSError(5, "Input/output error")
        except OSError as cause:
            raise RuntimeError('Error occurred while executing op "ingest_drops":') from cause
    except RuntimeError:
        error = serializable_error_info_from_exc_info(sys.exc_info())
    assert failure_cause(error) == "OSError: [Errno 5] Input/output error"


@pytest.mark.integration
def test_a_missing_contacts_file_is_one_sentence_before_anything_runs(tmp_path):
    (tmp_path / "raw").mkdir()
    env = {
        **os.environ, "CCHC_RAW_DIR": str(tmp_path / "raw"), "CCHC_WAREHOUSE": str(tmp_path / "w" / "cchc.duckdb"),
        "CCHC_UNIT_CONTACTS": str(tmp_path / "contacts.csv"),
    }  # fmt: skip
    result = subprocess.run([sys.executable, "-m", "pipelines.cli.run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"The contacts file {tmp_path / 'contacts.csv'} (CCHC_UNIT_CONTACTS) does not exist: create it or unset the variable."
    )
    assert not (tmp_path / "w" / "cchc.build.duckdb").exists()


def process_holding(build_file: Path) -> subprocess.Popen:
    """Another process with the build file open (for a minute), once it has it."""
    holds_the_file = "import sys, time, duckdb\ncon = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(60)"
    holder = subprocess.Popen([sys.executable, "-c", holds_the_file, str(build_file)], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "open"
    return holder


@pytest.mark.integration
def test_a_build_file_open_in_another_program_is_one_sentence_before_anything_runs(tmp_path):
    (tmp_path / "raw").mkdir()
    build_file = tmp_path / "w" / "cchc.build.duckdb"
    build_file.parent.mkdir()
    holder = process_holding(build_file)
    try:
        env = {**os.environ, "CCHC_RAW_DIR": str(tmp_path / "raw"), "CCHC_WAREHOUSE": str(tmp_path / "w" / "cchc.duckdb")}
        result = subprocess.run([sys.executable, "-m", "pipelines.cli.run"], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip() == (
        f"The build file {build_file} is open in another program (process {holder.pid}): close it and run again "
        f"(analysts open the published warehouse {tmp_path / 'w' / 'cchc.duckdb'}, never the build file)."
    )


def test_a_failed_dbt_build_is_named_by_its_first_failing_line(tmp_path):
    from pipelines.defs.assets import first_dbt_error

    log = tmp_path / "dbt-build.log"
    log.write_text(
        "\x1b[0m12:01:02  1 of 9 START sql view model staging.stg_raw__dossiers ........ [RUN]\n"
        "\x1b[0m12:01:03  1 of 9 \x1b[31mERROR\x1b[0m creating sql view model staging.stg_raw__dossiers [\x1b[31mERROR\x1b[0m in 0.05s]\n"
        "\x1b[0m12:01:04  Done. PASS=0 WARN=0 ERROR=1 SKIP=8 TOTAL=9\n",
        encoding="utf-8",
    )
    assert first_dbt_error(log) == "12:01:03  1 of 9 ERROR creating sql view model staging.stg_raw__dossiers [ERROR in 0.05s]"


def test_dbt_is_stopped_when_the_step_fails_while_reading_its_events(tmp_path):
    from pipelines.defs.assets import stopped_on_failure
    from pipelines.storage import build_file_holder

    build_file = tmp_path / "cchc.build.duckdb"
    dbt = process_holding(build_file)
    with stopped_on_failure(dbt):
        pass  # the events read to the end: dbt finishes on its own
    assert dbt.poll() is None
    with pytest.raises(KeyError), stopped_on_failure(dbt):
        raise KeyError("model.cchc_kpi.new_model")  # what dagster-dbt raised for a model its manifest lacked
    assert dbt.poll() is not None, "dbt was left running"
    assert build_file_holder(build_file) is None, "the build file is free for the next run"

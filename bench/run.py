"""`make bench`: the pipeline at city scale against a plain baseline, written to bench/results.md.

For each scale: the synthetic year (generated once, kept in bench/data) minus its last drop is
materialised from nothing (full), then the last drop is added and the nightly run measured
(incremental); the baseline script reads the same files and computes the same kpi_results rows,
which must equal the pipeline's. Every timing is the median of RUNS runs of a whole process, as an
operator would start it; peak memory is the most the process and its children held at once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

import duckdb

from bench.generate import data_dir, generate
from pipelines.config import PROJECT_ROOT

BENCH_DIR = PROJECT_ROOT / "bench"
WORK_DIR = BENCH_DIR / "work"
RESULTS = BENCH_DIR / "results.md"
PERIOD = "2024-Q4"


@dataclass
class Measured:
    seconds: list[float] = field(default_factory=list)
    peak_mb: list[float] = field(default_factory=list)
    output: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def peak(self) -> float:
        return max(self.peak_mb)


def tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, summed (from /proc)."""
    parents, rss = {}, {}
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue  # the process ended while we looked
        pid = int(status.parent.name)
        parents[pid] = int(fields["PPid"])
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, frontier = {root}, [root]
    while frontier:
        children = [pid for pid, parent in parents.items() if parent in frontier and pid not in tree]
        tree.update(children)
        frontier = children
    return sum(rss.get(pid, 0) for pid in tree) / 1024


def timed(command: list[str], env: dict[str, str], into: Measured) -> None:
    """Runs a command to completion: wall time, and the peak of the memory its process tree
    holds at once (sampled every 0.2 s: the Dagster process, its ingestion workers and dbt)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.2):
            peak = max(peak, tree_rss_mb(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    output = process.stdout.read()
    status = process.wait()
    stop.set()
    sampler.join()
    into.seconds.append(time.perf_counter() - started)
    into.peak_mb.append(peak)
    into.output = output
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{output[-3000:]}")


def link_drops(source: Path, target: Path, drops: list[str]) -> None:
    """The drops as hard links: no copy, and no symbolic link, which the pipeline refuses to
    follow out of its raw folder."""
    shutil.rmtree(target, ignore_errors=True)
    for drop in drops:
        (target / drop).mkdir(parents=True)
        for file in (source / drop).iterdir():
            os.link(file, target / drop / file.name)
    target.mkdir(parents=True, exist_ok=True)


def run_environment(work: Path) -> dict[str, str]:
    """A Dagster instance of the benchmark's own, set up as `make run` sets one up, and a fixed
    salt, for every run under ``work``."""
    (work / "dagster").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "pipelines" / "dagster.yaml", work / "dagster" / "dagster.yaml")
    return {"DAGSTER_HOME": str(work / "dagster"), "CCHC_PII_SALT": "bench-salt"}


def pipeline(raw: Path, warehouse: Path) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-m", "pipelines.cli.run"], {"CCHC_RAW_DIR": str(raw), "CCHC_WAREHOUSE": str(warehouse)}


def daily_year(scale: int) -> tuple[Path, Path, Path, list[str]]:
    """The daily-drop year (generated if absent) linked as every drop but the last (the year) and
    every drop (the nightly run's folder): its work folder, the two, and the drops."""
    data = BENCH_DIR / "data" / f"scale-{scale}" / "raw"
    if not data.is_dir():
        print(f"generating {scale:,} dossiers into {data} ...", flush=True)
        generate(scale, data)
    drops = sorted(p.name for p in data.iterdir() if p.is_dir())
    work = WORK_DIR / f"scale-{scale}"
    year, nightly = work / "raw-year", work / "raw-nightly"
    link_drops(data, year, drops[:-1])
    link_drops(data, nightly, drops)
    return work, year, nightly, drops


def bench_scale(scale: int, runs: int) -> dict:
    work, year, nightly, drops = daily_year(scale)
    env = run_environment(work)

    full, incremental, baseline, kpis = Measured(), Measured(), Measured(), Measured()
    baseline_out = work / "baseline.parquet"
    # Each full run beside a baseline run: the machine's speed drifts over the half hour the
    # full runs take, and the ratio should not depend on which phase ran in a slow spell.
    for run in range(runs):
        print(f"[{scale:,}] full run {run + 1}/{runs}", flush=True)
        warehouse_dir = work / "warehouse"
        shutil.rmtree(warehouse_dir, ignore_errors=True)
        command, run_env = pipeline(year, warehouse_dir / "cchc.duckdb")
        timed(command, {**env, **run_env}, full)
        print(f"[{scale:,}] baseline run {run + 1}/{runs}", flush=True)
        timed([sys.executable, "-m", "bench.baseline", str(year), str(baseline_out)], {}, baseline)
    snapshot = work / "warehouse-year"
    shutil.rmtree(snapshot, ignore_errors=True)
    shutil.copytree(warehouse_dir, snapshot)
    with duckdb.connect(str(warehouse_dir / "cchc.duckdb"), read_only=True) as con:
        dialects = con.execute(
            "select dialect, sum(rows_read), sum(ingest_seconds), count(*) from audit.ingested_files "
            "where status = 'loaded' group by dialect order by dialect"
        ).fetchall()
        dossier_rows = con.execute("select count(*) from marts.fct_dossiers").fetchall()[0][0]
        files = con.execute("select count(*) from audit.ingested_files").fetchall()[0][0]

    for run in range(runs):
        print(f"[{scale:,}] nightly run {run + 1}/{runs}", flush=True)
        shutil.rmtree(warehouse_dir, ignore_errors=True)
        shutil.copytree(snapshot, warehouse_dir)
        command, run_env = pipeline(nightly, warehouse_dir / "cchc.duckdb")
        timed(command, {**env, **run_env}, incremental)
    with duckdb.connect(str(warehouse_dir / "cchc.duckdb"), read_only=True) as con:
        new_dossiers = con.execute(
            "select count(distinct dossier_id) from raw.dossiers where drop_date = ?", [dt.date.fromisoformat(drops[-1])]
        ).fetchall()[0][0]

    kpis_env = {**env, "CCHC_WAREHOUSE": str(warehouse_dir / "cchc.duckdb")}
    for _ in range(max(runs, 5)):
        timed(["make", "--no-print-directory", "kpis", f"PERIOD={PERIOD}", "FORMAT=csv"], kpis_env, kpis)

    identical = same_kpis(snapshot / "cchc.duckdb", baseline_out)
    # The nightly (incremental) result against the baseline over every drop, at scale.
    nightly_out = work / "baseline-nightly.parquet"
    timed([sys.executable, "-m", "bench.baseline", str(nightly), str(nightly_out)], {}, Measured())
    nightly_identical = same_kpis(warehouse_dir / "cchc.duckdb", nightly_out)
    return {
        "scale": scale, "files": files, "dossiers": dossier_rows, "nightly_dossiers": new_dossiers, "dialects": dialects,
        "full": full, "incremental": incremental, "baseline": baseline, "kpis": kpis, "identical": identical,
        "nightly_identical": nightly_identical,
        "steps_full": steps_line(full.output), "steps_incremental": steps_line(incremental.output),
    }  # fmt: skip


def bench_snapshots(scale: int, runs: int) -> dict:
    """The year sent as two snapshots (every dossier's state on 1 July and on 2 January, one file
    per unit): a full run against the baseline on the same files."""
    data = data_dir(scale, "snapshots")
    if not data.is_dir():
        print(f"generating {scale:,} dossiers as two snapshots into {data} ...", flush=True)
        generate(scale, data, snapshots=True)
    work = WORK_DIR / f"snapshots-{scale}"
    raw = work / "raw"
    link_drops(data, raw, sorted(p.name for p in data.iterdir() if p.is_dir()))
    env = run_environment(work)
    full, baseline = Measured(), Measured()
    for run in range(runs):
        print(f"[{scale:,} as two snapshots] full run {run + 1}/{runs}", flush=True)
        shutil.rmtree(work / "warehouse", ignore_errors=True)
        command, run_env = pipeline(raw, work / "warehouse" / "cchc.duckdb")
        timed(command, {**env, **run_env}, full)
        print(f"[{scale:,} as two snapshots] baseline run {run + 1}/{runs}", flush=True)
        timed([sys.executable, "-m", "bench.baseline", str(raw), str(work / "baseline.parquet")], {}, baseline)
    with duckdb.connect(str(work / "warehouse" / "cchc.duckdb"), read_only=True) as con:
        files, rows = con.execute("select count(*), sum(rows_read) from audit.ingested_files where kind = 'dossiers'").fetchone()
    return {
        "scale": scale, "files": files, "rows": rows, "full": full, "baseline": baseline,
        "identical": same_kpis(work / "warehouse" / "cchc.duckdb", work / "baseline.parquet"), "steps": steps_line(full.output),
    }  # fmt: skip


def bench_spark(scale: int, runs: int, measured_on_duckdb: dict | None = None) -> dict:
    """The daily-drop year's full run with the dbt models on Spark (CCHC_ENGINE=spark), beside the
    same run on DuckDB and the baseline: taken from ``measured_on_duckdb`` (bench_scale's result
    at this scale) when the benchmark already ran them, else measured in turn here."""
    work, year, _, _ = daily_year(scale)
    env = run_environment(work)
    measured = {"spark": Measured(), "duckdb": Measured(), "baseline": Measured()}
    if measured_on_duckdb:
        measured |= {"duckdb": measured_on_duckdb["full"], "baseline": measured_on_duckdb["baseline"]}
    engines = ("spark",) if measured_on_duckdb else ("spark", "duckdb")
    for run in range(runs):
        for engine in engines:
            print(f"[{scale:,}] full run on {engine} {run + 1}/{runs}", flush=True)
            warehouse = work / f"warehouse-{engine}"
            shutil.rmtree(warehouse, ignore_errors=True)
            command, run_env = pipeline(year, warehouse / "cchc.duckdb")
            timed(command, {**env, **run_env, "CCHC_ENGINE": engine}, measured[engine])
        if not measured_on_duckdb:
            print(f"[{scale:,}] baseline run {run + 1}/{runs}", flush=True)
            timed([sys.executable, "-m", "bench.baseline", str(year), str(work / "baseline.parquet")], {}, measured["baseline"])
    with duckdb.connect(str(work / "warehouse-spark" / "cchc.duckdb"), read_only=True) as con:
        (dossiers,) = con.execute("select count(*) from marts.fct_dossiers").fetchone()
    return {
        "scale": scale, "dossiers": dossiers, **measured, "steps": steps_line(measured["spark"].output),
        "identical": same_kpis(work / "warehouse-spark" / "cchc.duckdb", work / "baseline.parquet"),
    }  # fmt: skip


def steps_line(output: str) -> str:
    """The build kind and each step's time, from the lines `make run` prints."""
    lines = [line.strip() for line in output.splitlines()]
    # the summary's line ("dbt build: full; its every line: …"), not the progress lines before it
    build = next((line.split(";")[0] for line in lines if line.startswith("dbt build:") and "; its every line" in line), "")
    steps = [line.removeprefix("✓ ") for line in lines if line.startswith("✓ ")]
    return f"{build}; steps: {', '.join(steps)}"


def same_kpis(warehouse: Path, baseline: Path) -> bool:
    """The dossier KPIs' rows are the baseline's, row for row (the baseline computes those: the
    plan's task and self-report rows come from files the synthetic drops do not have)."""
    columns = "period, unit_code, unit_name, kpi_code, numerator, denominator, value::varchar, target::varchar, status"
    dossier_rows = "w.marts.kpi_results where kpi_code in (select kpi_code from w.marts.dim_kpis where source = 'dossiers')"
    with duckdb.connect() as con:
        con.execute(f"attach '{warehouse}' as w (read_only)")
        differences = con.execute(
            f"select count(*) from ((select {columns} from {dossier_rows} except all select {columns} from '{baseline}') "
            f"union all (select {columns} from '{baseline}' except all select {columns} from {dossier_rows}))"
        ).fetchall()[0][0]
    return differences == 0


def machine() -> str:
    memory_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")), platform.machine())
    libraries = ", ".join(f"{name} {version(name)}" for name in ("dagster", "dbt-core", "dbt-duckdb", "duckdb", "polars", "great-expectations"))
    return f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024**2:.0f} GB memory, Python {platform.python_version()}; {libraries}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def write_results(results: list[dict], runs: int, startup: Measured, snapshots: dict | None, spark: dict | None = None) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {dt.datetime.now():%Y-%m-%d %H:%M}. Machine: {machine()}.",
        f"Each time is the median of {runs} runs of a whole process (start-up included); memory is the peak",
        "of the resident memory of the process and all its children at once (sampled every 0.2 s). Data: `make bench-data SCALE=...`, a synthetic",
        "2024 with one drop per working day; *full* = every drop but the last, into an empty warehouse;",
        "*nightly* = the last drop on top of that year; *baseline* = `bench/baseline.py` on the same files,",
        "each baseline run right after a full run.",
        "",
        "*baseline = pipeline*: `kpi_results` equals the baseline's rows, row for row, after the full run and",
        "after the nightly one (the baseline run again over every drop).",
        "",
        "| dossiers | files | full | baseline | full / baseline | nightly drop | `make kpis` | peak memory (full) | baseline = pipeline (full, nightly) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['dossiers']:,} | {r['files']:,} | {r['full'].median:.0f} s | {r['baseline'].median:.0f} s | "
            f"{r['full'].median / r['baseline'].median:.2f}× | {r['incremental'].median:.0f} s ({r['nightly_dossiers']:,} dossiers) | "
            f"{r['kpis'].median:.2f} s | {r['full'].peak / 1024:.2f} GB (baseline {r['baseline'].peak / 1024:.2f} GB) | "
            f"{'yes' if r['identical'] else '**NO**'}, {'yes' if r['nightly_identical'] else '**NO**'} |"
        )
    if snapshots:
        full, base = snapshots["full"].median, snapshots["baseline"].median
        lines += [
            "",
            f"**The year as two snapshots** ({snapshots['scale']:,} dossiers, {snapshots['files']:,} dossier files, "
            f"{snapshots['rows']:,} rows, one file per unit per snapshot, every dialect): full run {full:.0f} s, baseline "
            f"{base:.0f} s, kpi_results equal: {'yes' if snapshots['identical'] else '**NO**'}. Target ≤ 60 s and ≤ 2× the "
            f"baseline + 30 s ({2 * base + 30:.0f} s): {verdict(full <= 60 and full <= 2 * base + 30)}. Steps: {snapshots['steps']}.",
        ]
    if spark:
        on_spark, on_duckdb, base = spark["spark"], spark["duckdb"], spark["baseline"]
        lines += [
            "",
            f"**The dbt models on Spark** (`CCHC_ENGINE=spark`, PySpark in local mode on this machine; docs/spark.md), the daily-drop year's "
            f"full run at {spark['dossiers']:,} dossiers: {on_spark.median:.0f} s (peak {on_spark.peak / 1024:.2f} GB) beside {on_duckdb.median:.0f} s "
            f"on DuckDB ({on_spark.median / on_duckdb.median:.1f}×) and {base.median:.0f} s for the baseline; kpi_results equal to the "
            f"baseline's: {'yes' if spark['identical'] else '**NO**'}. Steps: {spark['steps']}.",
        ]
    lines += [
        "",
        f"**Start-up** (`bench/startup.py`: importing Dagster and the definitions with the dbt manifest while the gate process imports GX, and planning "
        f"the nightly job, as every run does before its first step): {startup.median:.1f} s, median of {len(startup.seconds)} — "
        f"target ≤ 15 s: {verdict(startup.median <= 15)}.",
    ]
    lines += ["", "## Ingestion, rows per second per dialect (time spent reading, checking and writing each file)", ""]
    lines += ["| dossiers | dialect | files | rows | rows/s |", "|---:|---|---:|---:|---:|"]
    for r in results:
        for dialect, rows, seconds, files in r["dialects"]:
            lines.append(f"| {r['dossiers']:,} | {dialect} | {files:,} | {rows:,} | {rows / max(seconds, 1e-9):,.0f} |")
    lines += ["", "## Where the time goes (one run)", ""]
    for r in results:
        lines.append(f"- {r['dossiers']:,} full: {r['steps_full']}")
        lines.append(f"- {r['dossiers']:,} nightly: {r['steps_incremental']}")
    if results:
        largest = max(results, key=lambda r: r["dossiers"])
        full, base, nightly = largest["full"].median, largest["baseline"].median, largest["incremental"].median
        lines += [
            "",
            f"## Targets (at {largest['dossiers']:,} dossiers)",
            "",
            f"- Full materialisation within 2× the baseline and under 10 minutes: {full:.0f} s, {full / base:.2f}× — "
            f"{verdict(full <= 2 * base and full < 600)}.",
            f"- One nightly drop on top of a full year under 60 s: {nightly:.0f} s — {verdict(nightly < 60)}.",
            f"- `make kpis` under 2 s: {largest['kpis'].median:.2f} s — {verdict(largest['kpis'].median < 2)}.",
            f"- Peak memory under 4 GB: {largest['full'].peak / 1024:.2f} GB — {verdict(max(largest['full'].peak, largest['incremental'].peak) < 4096)}.",
            "",
            "The leaner pipeline's targets (issue 12), at the same scale:",
            "",
            f"- Full within 1.5× the baseline: {full / base:.2f}× — {verdict(full <= 1.5 * base)}.",
            f"- One nightly drop within 30 s: {nightly:.0f} s — {verdict(nightly <= 30)}.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__)
    parser.add_argument("--scales", default="1000000,5000000", help="comma-separated dossier counts")
    parser.add_argument("--runs", default="3")
    parser.add_argument("--snapshots", default="450000", help="dossiers of the two-snapshot year (0: skip it)")
    parser.add_argument("--spark", default="1000000", help="dossiers of the year also built on Spark (0: skip it)")
    args = parser.parse_args(argv)
    scales = [s.strip() for s in args.scales.split(",") if s.strip()]
    if not all(s.isdigit() and int(s) >= 1000 for s in scales) or not args.runs.isdigit() or int(args.runs) < 1 or not args.snapshots.isdigit() or not args.spark.isdigit():
        print(f"BENCH_SCALES takes dossier counts of at least 1000, comma-separated, and BENCH_RUNS a count "
              f"(got '{args.scales}' and '{args.runs}'): e.g. make bench BENCH_SCALES=1000000,5000000 BENCH_RUNS=3.", file=sys.stderr)  # fmt: skip
        return 2
    runs = int(args.runs)
    startup = Measured()
    for _ in range(max(runs, 3)):
        timed([sys.executable, "-m", "bench.startup"], {}, startup)
    snapshots = bench_snapshots(int(args.snapshots), runs) if int(args.snapshots) else None
    results = [bench_scale(int(scale), runs) for scale in scales]
    # the DuckDB full run and the baseline at the Spark scale, when bench_scale has just measured them
    measured_on_duckdb = next((r for r in results if r["scale"] == int(args.spark)), None)
    spark = bench_spark(int(args.spark), runs, measured_on_duckdb) if int(args.spark) else None
    text = write_results(results, runs, startup, snapshots, spark)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    identical = [r["identical"] and r["nightly_identical"] for r in results] + [x["identical"] for x in (snapshots, spark) if x]
    return 0 if all(identical) else 1


if __name__ == "__main__":
    sys.exit(main())

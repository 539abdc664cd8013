"""`make kpis PERIOD=... [FORMAT=table|long|csv|json] [UNIT=...] [SOURCE=...]`: one period's results
from the warehouse. SOURCE picks the KPIs by where their counts come from: dossiers (the dossier,
PAKN and rating exports), tasks (key-task progress), self_report, or all (the default)."""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal

import duckdb

from pipelines.config import Settings, load_settings
from pipelines.storage import rows_as_dicts
from pipelines.vietnamese import ROLL_UP_LEVELS, data_date_note

COLUMNS = ["period", "unit_code", "unit_name", "kpi_code", "numerator", "denominator", "value", "target", "status"]
STATUS_LABELS = {"met": "Đạt", "below": "✗ KHÔNG ĐẠT", "no_data": "Không có dữ liệu"}
SOURCES = ("all", "dossiers", "tasks", "self_report")
# The matrix draws the dossier KPIs and the plan's other targets as two tables (different units).
MATRIX_GROUPS = {"dossiers": "Chỉ tiêu hồ sơ TTHC", "tasks": "Nhiệm vụ trọng tâm và chỉ tiêu tự báo cáo", "self_report": "Nhiệm vụ trọng tâm và chỉ tiêu tự báo cáo"}


class UserError(Exception):
    """A mistake the user can fix; its message is the one sentence we print."""


def check_period(con: duckdb.DuckDBPyConnection, period: str) -> None:
    """A period the warehouse knows, or a UserError listing the ones it does."""
    if not period:
        raise UserError("Give a period, e.g. PERIOD=2024-Q1.")
    periods = con.execute("select period_code, period_kind from marts.dim_periods order by period_order").fetchall()
    if period not in {code for code, _ in periods}:
        reports = [code for code, kind in periods if kind == "report"]
        raise UserError(
            f"Unknown period '{period}'. Valid report periods: {', '.join(reports) or 'none yet'} "
            "(calendar months such as 2024-03 also work)."
        )


def require_warehouse(settings: Settings) -> None:
    if not settings.warehouse.is_file():
        raise UserError(f"No warehouse at {settings.warehouse}: run `make run` first (or set CCHC_WAREHOUSE).")


@contextmanager
def open_warehouse(settings: Settings) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection on the published warehouse: it never blocks a nightly run."""
    require_warehouse(settings)
    with duckdb.connect(str(settings.warehouse), read_only=True) as con:
        yield con


def fetch_period(con: duckdb.DuckDBPyConnection, period: str) -> dict:
    check_period(con, period)
    (row,) = rows_as_dicts(con.execute("select * from marts.dim_periods where period_code = ?", [period]))
    return row


def fetch_results(con: duckdb.DuckDBPyConnection, period: str, unit: str | None, source: str = "all") -> list[dict]:
    check_period(con, period)
    if source not in SOURCES:
        raise UserError(f"Unknown SOURCE '{source}': use {', '.join(SOURCES)}.")
    if unit is not None and not con.execute("select 1 from marts.dim_units where unit_code = ?", [unit]).fetchall():
        raise UserError(f"Unknown unit '{unit}': use a unit_code of the registry (marts.dim_units), e.g. 001 or SNV.")
    cursor = con.execute(
        f"""
        select {", ".join(f"r.{c}" for c in COLUMNS)}, k.name_vi as kpi_name, k.short_name_vi as kpi_short_name, k.kpi_order, k.source, u.level,
               case when u.level = 'commune' then u.unit_name || ' (' || u.parent_name || ')' else u.unit_name end as display_name
        from marts.kpi_results as r
        join marts.dim_units as u using (unit_code)
        join marts.dim_kpis as k using (kpi_code)
        where r.period = ? and (? is null or r.unit_code = ?) and ? in ('all', k.source)
        order by u.registry_order, k.kpi_order
        """,
        [period, unit, unit, source],
    )
    return rows_as_dicts(cursor)


def _number(value: Decimal | None, places: int) -> str:
    return "" if value is None else f"{value:.{places}f}"


def to_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(
            [row["period"], row["unit_code"], row["unit_name"], row["kpi_code"], row["numerator"], row["denominator"],
             _number(row["value"], 4), _number(row["target"], 2), row["status"]]
        )  # fmt: skip
    return out.getvalue()


def to_json(rows: list[dict]) -> str:
    def plain(row: dict) -> dict:
        value = row["value"]
        return {
            **{c: row[c] for c in COLUMNS},
            "value": None if value is None else float(value),
            "target": float(row["target"]),
        }

    return json.dumps([plain(r) for r in rows], ensure_ascii=False, indent=1) + "\n"


def _percent(value: Decimal | None) -> str:
    return "—" if value is None else f"{value * 100:.2f}%"


def _title(rows: list[dict], period: dict) -> str:
    below = sum(row["status"] == "below" for row in rows)
    return (
        f"Kết quả chỉ tiêu CCHC kỳ {period['period_code']} ({data_date_note(period)}): {below} chỉ tiêu không đạt / {len(rows)}"
        if rows
        else "Không có kết quả"
    )


MATRIX_WIDTH = 200


def to_matrix(rows: list[dict], period: dict, color: bool) -> str:
    """One line per unit (the city and the levels first), one column per KPI: the value, a ▼ and
    red where below target (the sign survives black and white), — where there is no data. The
    dossier KPIs and the plan's tasks and self-reported targets are two tables."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(MATRIX_GROUPS[row["source"]], []).append(row)
    tables = [_matrix_table(group, f"{name}: {sum(row['status'] == 'below' for row in group)} không đạt", color) for name, group in groups.items()]
    legend = "▼ không đạt mục tiêu · — không có dữ liệu · FORMAT=long: từng chỉ tiêu với tử số, mẫu số và mục tiêu\n"
    return "\n".join([_title(rows, period) + "\n", *tables]) + (legend if tables else "")


def _matrix_table(rows: list[dict], title: str, color: bool) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    kpis = {row["kpi_code"]: row["kpi_short_name"] for row in sorted(rows, key=lambda row: row["kpi_order"])}
    units: dict[str, dict] = {}
    for row in rows:
        units.setdefault(row["unit_code"], {"name": row["display_name"], "roll_up": row["level"] in ROLL_UP_LEVELS})[row["kpi_code"]] = row
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False)
    table.add_column("Mã", no_wrap=True)
    table.add_column("Đơn vị", no_wrap=True, max_width=46, overflow="ellipsis")
    for name in kpis.values():
        table.add_column(name, justify="right", max_width=14)
    for code, unit in units.items():
        cells = []
        for kpi in kpis:
            row = unit.get(kpi)
            if row is None:
                cells.append(Text(""))  # no such row (the city has no DIGITIZED_RESULT)
            elif row["status"] == "no_data":
                cells.append(Text("—", style="dim"))
            elif row["status"] == "below":
                cells.append(Text(f"▼{_percent(row['value'])}", style="bold red"))
            else:
                cells.append(Text(_percent(row["value"]), style="green"))
        table.add_row(code, unit["name"], *cells, style="bold" if unit["roll_up"] else None)
    out = io.StringIO()
    console = Console(file=out, width=MATRIX_WIDTH, force_terminal=color, no_color=not color, highlight=False)
    console.print(table)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


def to_table(rows: list[dict], period: dict) -> str:
    header = ["Đơn vị", "Chỉ tiêu", "Tử số/Mẫu số", "Kết quả", "Mục tiêu", "Đánh giá"]
    body, previous_unit = [], None
    for row in rows:
        unit = row["unit_name"] if row["unit_code"] != previous_unit else ""
        previous_unit = row["unit_code"]
        body.append(
            [unit, row["kpi_name"], f"{row['numerator']}/{row['denominator']}", _percent(row["value"]),
             _percent(row["target"]), STATUS_LABELS[row["status"]]]
        )  # fmt: skip
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]
    aligned = lambda line: "  ".join(  # noqa: E731
        cell.rjust(width) if i in (2, 3, 4) else cell.ljust(width) for i, (cell, width) in enumerate(zip(line, widths, strict=True))
    ).rstrip()
    return "\n".join([_title(rows, period), "", aligned(header), aligned(["-" * w for w in widths]), *map(aligned, body)]) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make kpis", description=__doc__)
    parser.add_argument("--period", default="")
    parser.add_argument("--format", default="table")
    parser.add_argument("--unit", default="")
    parser.add_argument("--source", default="all")
    args = parser.parse_args(argv)
    settings = load_settings()
    try:
        if args.format not in ("table", "long", "csv", "json"):
            raise UserError(f"Unknown FORMAT '{args.format}': use table, long, csv or json.")
        with open_warehouse(settings) as con:
            rows = fetch_results(con, args.period, args.unit or None, args.source or "all")
            period = fetch_period(con, args.period)
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    if args.format == "table":
        rendered = to_matrix(rows, period, color=sys.stdout.isatty())
    elif args.format == "long":
        rendered = to_table(rows, period)
    else:
        rendered = {"csv": to_csv, "json": to_json}[args.format](rows)
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`make sql`: the DuckDB command-line shell (the `duckdb-cli` package from PyPI, 1.x) on the
published warehouse, read-only, so it never blocks a nightly run. SQL comes from the keyboard, or
from standard input when it is not a terminal (`echo 'from marts.kpi_results limit 5' | make sql`)."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from pipelines.cli.kpis import UserError, require_warehouse
from pipelines.config import load_settings


def cli_path() -> str:
    """The CLI installed beside this interpreter (the project's environment), else on PATH."""
    beside = Path(sys.executable).with_name("duckdb")
    found = str(beside) if beside.is_file() else shutil.which("duckdb")
    if not found:
        raise UserError("The DuckDB CLI is not installed: run `make setup` (it comes with the project's environment).")
    return found


def main() -> int:
    settings = load_settings()
    try:
        require_warehouse(settings)
        cli = cli_path()
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    os.execv(cli, [cli, "-readonly", str(settings.warehouse)])
    return 0  # not reached: the shell replaces this process


if __name__ == "__main__":
    sys.exit(main())

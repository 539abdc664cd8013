"""`make docs`: dbt's documentation of every model and column, as one self-contained HTML file.

It reads the published warehouse read-only (dbt target `published`), so it works beside a nightly run.
"""

from __future__ import annotations

import os
import sys

from dbt.cli.main import dbtRunner

from pipelines.cli.kpis import UserError, require_warehouse
from pipelines.config import load_settings
from pipelines.defs.project import DBT_PROJECT_DIR


def main() -> int:
    settings = load_settings()
    try:
        require_warehouse(settings)
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    os.environ["CCHC_WAREHOUSE"] = str(settings.warehouse)
    out_dir = settings.warehouse.parent / "dbt_docs"
    result = dbtRunner().invoke(
        ["docs", "generate", "--static", "--quiet", "--target", "published", "--target-path", str(out_dir),
         "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    )  # fmt: skip
    if not result.success:
        print(f"dbt docs generate failed: {result.exception or 'see the dbt messages above'}.", file=sys.stderr)
        return 1
    print(f"dbt docs: {out_dir / 'static_index.html'} (open it in a browser)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up on its own: what every `make run` pays before its first step does any work. The
process imports Dagster, the definitions (the dbt project's manifest) and Great Expectations, and
plans the nightly job, then stops."""

from __future__ import annotations

import great_expectations  # noqa: F401 (the gates import it; its import is part of every run)
from dagster._core.execution.api import create_execution_plan

from pipelines.definitions import defs

if __name__ == "__main__":
    plan = create_execution_plan(defs.resolve_job_def("nightly"))
    print(f"{len(plan.step_keys_to_execute)} steps planned")

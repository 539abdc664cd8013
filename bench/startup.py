"""Start-up on its own: what every `make run` pays before its first step does any work. The
process starts the gate process (which imports Great Expectations on the other core), imports
Dagster and the definitions (the dbt project's manifest), plans the nightly job, and stops once
the gate process is ready too."""

from __future__ import annotations

from pipelines.gates import gate_process

if __name__ == "__main__":
    gates = gate_process()
    from dagster._core.execution.api import create_execution_plan

    from pipelines.definitions import defs

    plan = create_execution_plan(defs.resolve_job_def("nightly"))
    gates.submit(int).result()  # its import of GX done
    print(f"{len(plan.step_keys_to_execute)} steps planned")

"""Resources: the pipeline's settings, and the dbt CLI without the per-run start-up this project does not use."""

from __future__ import annotations

import os
from functools import cached_property
from importlib.metadata import version as installed_version

import dagster as dg
from dagster_dbt import DbtCliResource
from packaging.version import Version

from pipelines.config import Settings, load_settings
from pipelines.defs.project import dbt_project


class CchcSettings(dg.ConfigurableResource):
    """The settings every asset, check and sensor is given. Read when a run starts, from the
    environment (``CCHC_*``, resolved in pipelines/config.py with its defaults) and from
    ``environment``, whose values win: a deployment or a test sets them here instead of in the
    process environment."""

    environment: dict[str, str] = {}

    def resolve(self) -> Settings:
        return load_settings({**os.environ, **self.environment})


class DbtCli(DbtCliResource):
    """dagster-dbt's resource, minus two costs it pays on every run (measured at ≈5 s of a 55 s
    nightly run): starting dbt once more just to read its version (``dbt --version``, 3 s of
    imports), and building an in-process dbt adapter, which serves only row-count and column
    metadata fetches that this project never asks for. The version comes from the installed
    dbt-core (pinned in uv.lock) instead."""

    @cached_property
    def _cli_version(self) -> Version:
        return Version(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args) -> None:
        return None


dbt_cli = DbtCli(project_dir=dbt_project)
cchc_settings = CchcSettings()

"""The private build file and the published warehouse.

A run builds into ``<warehouse>.build.duckdb`` and, once every model and test passed, publishes it
by renaming it over CCHC_WAREHOUSE: analysts never see a half-built warehouse, and publishing
writes nothing. The next run builds on a copy of what was published, made while its first step
reads the new files; a failed run leaves its build file in place, and the next run builds on from
it. Why, and what it saved: docs/decisions.md, "Private build, atomic publish".
"""

from __future__ import annotations

import os
import shutil

import duckdb

from pipelines.config import Settings
from pipelines.storage import connect_build


def restore_build_file(settings: Settings) -> bool:
    """Copies the published warehouse to the build file when there is none (the last run
    published it); True if it did. A build file already there is a failed run's, or another
    process restored it meanwhile: it is never replaced."""
    if settings.build_db.exists() or not settings.warehouse.exists():
        return False
    # A killed restore's copy, or a log without its file: DuckDB would replay it into the copy.
    for leftover in settings.build_db.parent.glob(f".{settings.build_db.name}.*.restoring"):
        leftover.unlink(missing_ok=True)
    settings.build_db.with_name(settings.build_db.name + ".wal").unlink(missing_ok=True)
    staged = settings.build_db.with_name(f".{settings.build_db.name}.{os.getpid()}.restoring")
    shutil.copyfile(settings.warehouse, staged)
    try:
        os.link(staged, settings.build_db)  # fails, where os.replace would overwrite, if one appeared
    except FileExistsError:
        return False
    finally:
        staged.unlink()
    return True


def connect_build_file(settings: Settings, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A connection to the build file, restored first if the last run published it: a step run on
    its own (from the Dagster UI) builds on the published state, never on a new empty file."""
    restore_build_file(settings)
    return connect_build(settings.build_db, read_only=read_only)


def publish_warehouse(settings: Settings) -> None:
    """Replaces CCHC_WAREHOUSE by the build file in one rename.

    A reader holding the old file keeps reading it (same inode) and sees the new data on
    reconnecting; a run that fails before this point leaves the last good warehouse in place.
    """
    with connect_build(settings.build_db) as con:
        con.execute("checkpoint")  # fold the write-ahead log into the file we publish
    os.replace(settings.build_db, settings.warehouse)

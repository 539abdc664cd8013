"""Publishing the private build file as the analysts' warehouse, atomically."""

from __future__ import annotations

import os
import shutil

from pipelines.config import Settings
from pipelines.storage import connect_build


def publish_warehouse(settings: Settings) -> None:
    """Replaces CCHC_WAREHOUSE by a copy of the build file in one rename.

    A reader holding the old file keeps reading it (same inode) and sees the new data on
    reconnecting; a run that fails before this point leaves the last good warehouse in place.
    """
    with connect_build(settings.build_db) as con:
        con.execute("checkpoint")  # fold the write-ahead log into the file we copy
    # One run at a time (pipelines/runlock.py): any copy left here is a killed run's.
    for leftover in settings.warehouse.parent.glob(f".{settings.warehouse.name}.*.publishing"):
        leftover.unlink(missing_ok=True)
    staged = settings.warehouse.with_name(f".{settings.warehouse.name}.{os.getpid()}.publishing")
    shutil.copyfile(settings.build_db, staged)
    os.replace(staged, settings.warehouse)

"""The build file's storage format: one that DuckDB 1.4 and later open, so the published copy opens
in the tools analysts already have (the DuckDB CLI on PyPI, DBeaver, Metabase and other 1.x
drivers), not only in DuckDB 2.0.

DuckDB fixes a file's format when the file is created; later writers keep it. Every connection to
the build file therefore goes through ``connect_build``, and a build file from before this rule is
converted once, in place.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb

STORAGE_COMPATIBILITY = "v1.4.0"


def rows_as_dicts(cursor: duckdb.DuckDBPyConnection) -> list[dict]:
    """A query's rows by column name."""
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def grouped(rows: list[dict], key: str) -> dict[str, list[dict]]:
    """Rows by ``key``, groups in order of first appearance, rows in their order."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row[key], []).append(row)
    return groups


def connect_build(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    config = {} if read_only else {"storage_compatibility_version": STORAGE_COMPATIBILITY}
    return duckdb.connect(str(path), read_only=read_only, config=config)


def build_file_holder(path: Path) -> str | None:
    """Which other process holds the build file open, in words, or None when a run may write it.
    DuckDB allows one writer: a tool left open on the build file would fail the run's first step."""
    if not path.exists():
        return None
    try:
        connect_build(path).close()
    except duckdb.IOException as error:
        if "Could not set lock" not in str(error):
            raise
        pid = re.search(r"\(PID (\d+)\)", str(error))
        return f"process {pid.group(1)}" if pid else "another process"
    return None


def storage_version(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        (tags,) = con.execute("select tags from duckdb_databases() where not internal and database_name <> 'memory'").fetchone()
    return tags.get("storage_version", "")


def make_portable(path: Path) -> bool:
    """Converts a build file written in a newer format to STORAGE_COMPATIBILITY; True if it did."""
    if not path.exists() or storage_version(path).startswith(STORAGE_COMPATIBILITY.rsplit(".", 1)[0]):
        return False
    converted = path.with_name(path.name + ".converting")
    converted.unlink(missing_ok=True)
    with duckdb.connect() as con:
        con.execute(f"attach '{path}' as source (read_only)")
        con.execute(f"attach '{converted}' as target (storage_version '{STORAGE_COMPATIBILITY}')")
        con.execute("copy from database source to target")
    os.replace(converted, path)
    return True

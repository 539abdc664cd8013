"""One run at a time: an exclusive lock beside the warehouse.

The lock is an ``flock`` on ``<warehouse>.lock``: the kernel releases it when its holder exits, so a
killed run never leaves it behind. The file says who holds it (process, start time), for the
sentence a second run prints.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class RunLocked(Exception):
    """Another run holds the warehouse; the message says which and since when."""


def lock_path(warehouse: Path) -> Path:
    return warehouse.with_name(warehouse.name + ".lock")


@contextmanager
def exclusive_run(warehouse: Path) -> Iterator[None]:
    path = lock_path(warehouse)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise RunLocked(_held_by(handle.read(), warehouse)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "started_at": dt.datetime.now().isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield
        finally:
            handle.truncate(0)
            fcntl.flock(handle, fcntl.LOCK_UN)


def _held_by(text: str, warehouse: Path) -> str:
    try:
        holder = json.loads(text)
        who = f"process {holder['pid']}, started at {holder['started_at'].replace('T', ' ')}"
    except (ValueError, KeyError, TypeError):
        who = "another process"
    return f"Another run ({who}) is building {warehouse}: wait for it to finish, then run again."

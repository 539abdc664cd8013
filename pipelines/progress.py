"""Progress of long work: rich's bar on a terminal, a plain line every tenth elsewhere (logs, CI)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


@contextmanager
def progress(description: str, total: int, stream: TextIO | None = None, terminal: bool | None = None) -> Iterator[Callable[[int], None]]:
    """Yields ``advance(done)``; ``terminal`` overrides what ``stream.isatty()`` says."""
    stream = stream or sys.stderr
    if terminal if terminal is not None else stream.isatty():
        console = Console(file=stream, force_terminal=True)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        with Progress(*columns, console=console, transient=False) as bar:
            task = bar.add_task(description, total=total)
            yield lambda done=1: bar.advance(task, done)
        return

    started, done, tenths_shown = time.perf_counter(), 0, 0

    def advance(count: int = 1) -> None:
        nonlocal done, tenths_shown
        done += count
        tenths = done * 10 // max(total, 1)
        if tenths > tenths_shown:
            tenths_shown = tenths
            print(f"{description}: {done}/{total} ({done * 100 // max(total, 1)} %, {time.perf_counter() - started:.0f} s)", file=stream, flush=True)

    yield advance

"""Progress of long work: rich's bar on a terminal, a plain line every tenth elsewhere (logs, CI)."""

from __future__ import annotations

import io
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
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


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def without_colours(line: str) -> str:
    """A terminal line as text: dbt colours its log."""
    return _ANSI.sub("", line)
_NODE_FINISHED = re.compile(r"\b(\d+) of (\d+) (?!START\b)[A-Z]+ (?!hook:)")  # hooks count apart ("1 of 1 OK hook: …")


class DbtProgressLog(io.TextIOBase):
    """Where dbt's lines go during a build: each into ``log``; each model, seed or test that
    finishes ("12 of 104 OK …", "… PASS …") advances a progress bar, sized by the first such line."""

    def __init__(self, log: TextIO, stream: TextIO | None = None, terminal: bool | None = None):
        self._log, self._stream, self._terminal = log, stream, terminal
        self._bar = ExitStack()
        self._advance: Callable[[int], None] | None = None

    def write(self, text: str) -> int:
        self._log.write(text)
        for line in text.splitlines():
            finished = _NODE_FINISHED.search(without_colours(line))
            if finished:
                if self._advance is None:
                    bar = progress("dbt build", int(finished.group(2)), self._stream, self._terminal)
                    self._advance = self._bar.enter_context(bar)
                self._advance(1)
        return len(text)

    def flush(self) -> None:
        self._log.flush()

    def close(self) -> None:
        self._bar.close()
        super().close()

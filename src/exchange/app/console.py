"""Terminal output of a simulated day (rich): progress while it runs, tables at the end.

Progress: in an interactive terminal, :class:`ProgressBars` shows one bar per session (order
messages done, orders per second of wall time, elapsed time). When the output is not a
terminal (piped, redirected), :class:`ProgressLines` prints one plain line as each session
ends instead, so the lines come in the order things happened and nothing redraws.
:func:`progress_for` picks one.

Tables: :func:`print_report` prints the day's key tables from :mod:`exchange.app.summary`,
each fitted to the console width by :mod:`exchange.app.layout`: a number is never split
across lines; a table too wide for the terminal comes as blocks of columns. The width is the
terminal's, or ``COLUMNS``, or 80 when piped.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from rich import box
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table as RichTable
from rich.text import Text

from exchange.sim.day import DayResult
from exchange.sim.days import RunResult

from . import summary
from .layout import blocks
from .summary import Table, per_second

__all__ = ["ProgressBars", "ProgressLines", "print_report", "print_run_report", "print_table",
           "progress_for"]


class _Rate(ProgressColumn):
    """Orders per second of a task, from its completed count and elapsed wall time."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed:
            return Text("-/s", style="progress.data.speed")
        return Text(per_second(task.completed / elapsed), style="progress.data.speed")


class ProgressBars:
    """A bar per session, for an interactive terminal; use as a context manager and pass
    :meth:`update` and :meth:`phase` to ``run_day``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = self._new_progress()
        self._tasks: dict[str, TaskID] = {}
        self._stopped = False

    def _new_progress(self) -> Progress:
        return Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(),
                        MofNCompleteColumn(), _Rate(), TimeElapsedColumn(),
                        console=self.console, refresh_per_second=8)

    def __enter__(self) -> ProgressBars:
        self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.__exit__(kind, value, tb)  # stopping a stopped Progress is harmless

    def update(self, session: str, done: int, total: int) -> None:
        """Progress of ``session``: ``done`` of ``total`` order messages. After a
        :meth:`phase` (the next day of a multi-day run) new bars start below the steps."""
        task = self._tasks.get(session)
        if task is None:
            if self._stopped:  # a new day's first session: bars of its own, below
                self._progress = self._new_progress()
                self._progress.start()
                self._stopped = False
            task = self._tasks[session] = self._progress.add_task(f"{session} session",
                                                                  total=total)
        self._progress.update(task, completed=done)

    def phase(self, text: str) -> None:
        """A step after trading (netting, a settlement date): the bars stop at their final
        state first, so the steps print below them, in the order they happen."""
        self._progress.stop()
        self._stopped = True
        self.console.print(f"[dim]{text}[/dim]")


class ProgressLines:
    """The same interface as :class:`ProgressBars` for output that is not a terminal: one
    line as each session ends (all its order messages sent, or the next step begun), and one
    per later step."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._session: str | None = None  # the session running, not yet reported
        self._done = 0
        self._since = time.perf_counter()

    def __enter__(self) -> ProgressLines:
        self._since = time.perf_counter()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._flush()

    def _flush(self) -> None:
        """Report the running session, if any."""
        if self._session is None:
            return
        now = time.perf_counter()
        elapsed, self._since = now - self._since, now
        rate = per_second(self._done / elapsed) if elapsed > 0 else "-/s"
        self.console.print(f"{self._session} session: {self._done:,} order messages, {rate}",
                           highlight=False)
        self._session = None

    def update(self, session: str, done: int, total: int) -> None:
        """Progress of ``session``: ``done`` of ``total`` order messages."""
        if session != self._session:
            self._flush()
            self._session = session
        self._done = done
        if done >= total:
            self._flush()

    def phase(self, text: str) -> None:
        """A step after trading (netting, a settlement date)."""
        self._flush()
        self.console.print(text, highlight=False)


def progress_for(console: Console) -> ProgressBars | ProgressLines:
    """Bars in an interactive terminal, plain lines otherwise."""
    return ProgressBars(console) if console.is_terminal else ProgressLines(console)


def print_table(console: Console, table: Table) -> None:
    """``table`` fitted to the console's width (column blocks if it is too wide), its note
    below the last block."""
    parts = blocks(table, console.width)
    show_header = any(table.columns)
    for number, part in enumerate(parts):
        title = table.title if number == 0 else f"{table.title} (continued)"
        out = RichTable(title=title, title_justify="left", title_style="bold",
                        header_style="bold", box=box.SIMPLE_HEAD, show_edge=False,
                        pad_edge=True, show_header=show_header)  # layout.EDGE counts the pads
        for column, width in zip(part.columns, part.widths):
            numeric = table.numeric[column]
            # width >= every numeric cell, so a number never wraps; headers wrap at spaces
            out.add_column(table.columns[column], justify="right" if numeric else "left",
                           width=width, overflow="fold")
        for i, row in enumerate(table.rows):
            bad = table.highlight[i] if i < len(table.highlight) else False
            out.add_row(*(row[c] for c in part.columns), style="red" if bad else None)
        if not table.rows:
            out.add_row("none", *([""] * (len(part.columns) - 1)))
        console.print(out)
    if table.note:
        console.print(table.note, style="dim", highlight=False)


def print_report(result: DayResult, console: Console,
                 files: Iterable[Path] = ()) -> None:
    """Print the day's key tables, then the files written."""
    for table in (summary.overview(result), summary.session_runs(result),
                  summary.session_stats(result), summary.official_rates(result),
                  summary.refusals(result), summary.obligations(result),
                  summary.settlement(result), summary.outstanding(result)):
        print_table(console, table)
        console.print()
    _print_files(console, files)


def _print_files(console: Console, files: Iterable[Path]) -> None:
    paths = list(files)
    if paths:
        console.print("[bold]Files written:[/bold]")
        for path in paths:
            console.print(f"  {path}", highlight=False)


def print_run_report(run: RunResult, console: Console, files: Iterable[Path] = ()) -> None:
    """Print a multi-day run's key tables (the days side by side, obligations and every
    settlement run over the run), then the files written."""
    for table in (summary.days(run), summary.obligations(run), summary.settlement(run),
                  summary.outstanding(run)):
        print_table(console, table)
        console.print()
    _print_files(console, files)

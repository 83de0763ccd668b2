"""Terminal output of a simulated day (rich): progress bars while it runs, tables at the end.

:class:`ProgressBars` shows one bar per session with order messages done, orders per second
(wall clock) and elapsed time; :func:`print_report` prints the day's key tables from
:mod:`exchange.app.summary`.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table as RichTable
from rich.text import Text

from . import summary
from exchange.sim.day import DayResult
from .summary import Table

__all__ = ["ProgressBars", "print_report", "rich_table"]


class _Rate(ProgressColumn):
    """Orders per second of a task, from its completed count and elapsed wall time."""

    def render(self, task: Task) -> Text:
        elapsed = task.finished_time if task.finished else task.elapsed
        if not elapsed:
            return Text("- orders/s", style="progress.data.speed")
        return Text(f"{task.completed / elapsed:,.0f} orders/s", style="progress.data.speed")


class ProgressBars:
    """A bar per session; use as a context manager and pass :meth:`update` and
    :meth:`phase` to ``run_day``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._progress = Progress(TextColumn("[bold]{task.description:<16}"), BarColumn(),
                                  MofNCompleteColumn(), _Rate(), TimeElapsedColumn(),
                                  console=console, refresh_per_second=8)
        self._tasks: dict[str, int] = {}

    def __enter__(self) -> "ProgressBars":
        self._progress.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.__exit__(kind, value, tb)

    def update(self, session: str, done: int, total: int) -> None:
        """Progress of ``session``: ``done`` of ``total`` order messages."""
        task = self._tasks.get(session)
        if task is None:
            task = self._tasks[session] = self._progress.add_task(f"{session} session",
                                                                  total=total)
        self._progress.update(task, completed=done)

    def phase(self, text: str) -> None:
        """A step after trading (netting, a settlement date)."""
        self._progress.console.print(f"[dim]{text}[/dim]")


def rich_table(table: Table) -> RichTable:
    """A :class:`~exchange.app.summary.Table` as a rich Table."""
    out = RichTable(title=table.title, title_justify="left", title_style="bold",
                    caption=table.note or None, caption_justify="left", header_style="bold")
    for name, numeric in zip(table.columns, table.numeric):
        out.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for i, row in enumerate(table.rows):
        bad = table.highlight[i] if i < len(table.highlight) else False
        out.add_row(*row, style="red" if bad else None)
    return out


def print_report(result: DayResult, console: Console,
                 files: Iterable[Path] = ()) -> None:
    """Print the day's key tables, then the files written."""
    for table in (summary.overview(result), summary.session_runs(result),
                  summary.session_stats(result), summary.official_rates(result),
                  summary.refusals(result), summary.obligations(result),
                  summary.settlement(result), summary.outstanding(result)):
        console.print(rich_table(table))
        console.print()
    paths = list(files)
    if paths:
        console.print("[bold]Files written:[/bold]")
        for path in paths:
            console.print(f"  {path}")

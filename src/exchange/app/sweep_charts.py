"""Charts of a parameter sweep's table (matplotlib, headless), as HTML ``<figure>`` blocks.

For each metric and each swept parameter: the metric's median over the seeds against the
parameter, with a band from the lowest to the highest seed; one line per combination of the
other swept parameters (up to :data:`MAX_SERIES`, else all pooled). Without a swept parameter:
the metric's distribution across seeds. Drawing is O(rows) per chart.
"""
from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: must precede pyplot (as in charts)

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from .charts import png

__all__ = ["MAX_SERIES", "metric_charts"]

#: Most lines per chart; more combinations of the other parameters are pooled into one.
MAX_SERIES = 6


def metric_charts(table: Any, params: Sequence[str], metrics: Mapping[str, str]) -> list[str]:
    """One ``<figure>`` per (metric, swept parameter), or per metric across seeds when
    ``params`` is empty; metrics without a value in ``table`` are left out."""
    figures = []
    for column, label in metrics.items():
        values = table[column].astype("float64")
        if values.notna().sum() == 0:
            continue
        if not params:
            figures.append(_figure(_histogram(values.dropna(), label),
                                   f"{label} across seeds"))
        for param in params:
            others = [p for p in params if p != param]
            figures.append(_figure(_against(table, column, param, others, label),
                                   f"{label} against {param}"))
    return figures


def _figure(fig: Any, caption: str) -> str:
    data = base64.b64encode(png(fig, dpi=100)).decode("ascii")
    return (f'<figure><img alt="{html.escape(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>")


def _histogram(values: Any, label: str) -> Any:
    fig, ax = plt.subplots(figsize=(5.2, 3.2), layout="constrained")
    ax.hist(values, bins=min(30, max(5, len(values) // 3)), color="#5b8def")
    ax.set_xlabel(label)
    ax.set_ylabel("runs")
    return fig


def _against(table: Any, column: str, param: str, others: list[str], label: str) -> Any:
    """Median over seeds and min..max band of ``column`` per value of ``param``."""
    fig, ax = plt.subplots(figsize=(5.2, 3.2), layout="constrained")
    frame = table[[param, *others, column]].copy()
    frame[column] = frame[column].astype("float64")
    frame[param] = frame[param].astype("float64")  # counts, rates and flags all plot as numbers
    groups = list(frame.groupby(others, sort=True)) if others else [((), frame)]
    if len(groups) > MAX_SERIES:
        groups = [(("all",), frame)]
    for key, part in groups:
        stats = part.groupby(param)[column].agg(["median", "min", "max"]).sort_index()
        name = ", ".join(f"{o}={k}" for o, k in zip(others, _tuple(key))) \
            if key != ("all",) else "all other parameters pooled"
        line, = ax.plot(stats.index, stats["median"], marker="o", label=name or None)
        ax.fill_between(stats.index, stats["min"], stats["max"], color=line.get_color(),
                        alpha=0.18, linewidth=0)
    ax.set_xlabel(param)
    ax.set_ylabel(label)
    if (frame[param] % 1 == 0).all():
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if others:
        ax.legend(fontsize=7, frameon=False)
    return fig


def _tuple(key: Any) -> tuple:
    return key if isinstance(key, tuple) else (key,)

"""One run of a parameter sweep: a simulated day for one (parameter point, seed), measured.

:func:`run_one` is what a sweep ships to a worker (a local process, a Dask worker or a Ray
task): it builds the scenario from a :class:`RunTask`, simulates the day and returns one small
row (a dict of plain Python scalars, a few kB) instead of the day's trade table. Nothing it
returns depends on the worker that ran it except ``wall_seconds`` and ``worker``
(:data:`VOLATILE_COLUMNS`). A run that raises comes back as a row with ``status == "failed"``
and its error; only a dying worker process escapes (the engine retries the run elsewhere).

The row's columns (:func:`result_columns`), with units:

* ``order_messages``, ``trades``, ``refused`` (all refusals) and ``refused.<REASON>`` per
  :class:`~exchange.venue.codes.RejectReason`: counts over the three sessions;
* ``turnover_kzt`` and ``turnover_kzt.<SYMBOL>``: sum of the trades' quote amounts (a swap's
  near leg) in KZT; ``vwap.<SYMBOL>``: the day's volume-weighted price in the instrument's
  quote units (a swap's in swap points); NaN where the instrument did not trade;
  ``fees_kzt``: the exchange's fees from both sides of every trade, in KZT;
* ``official_rate.<PAIR>``: the day's weighted average rate, official from the next business
  day (KZT per unit), NaN for a pair without spot trades;
* settlement: ``settlement`` ("settled": nothing failed; "rolled": something failed and was
  settled by the last run; "outstanding": something is still owed), ``settlement_runs``,
  ``failed_members`` (distinct members whose NET obligations failed on some date),
  ``failed_member_ids`` (those ids, space separated), ``fails`` (member-date failures),
  ``rolled.<CCY>`` (what failed members owed and rolled to a later date, summed over the
  runs, whole units), ``outstanding.<CCY>`` (still owed after the last run, whole units),
  ``gross_failed`` (securities deliveries that failed, summed over the runs);
* ``trades_file``: where the run's trades were written (``keep_trades``), else "".
"""
from __future__ import annotations

import ctypes
import datetime as _dt
import gc
import os
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from exchange.clearing.settlement import FAILED
from exchange.codes import CODES
from exchange.venue.codes import RejectReason

from .day import DayResult, run_day
from .scenario import SIM_SYMBOLS, ScenarioParams, scenario_of, sim_instruments

__all__ = [
    "CURRENCIES",
    "PAIRS",
    "STATUS_COLUMNS",
    "VOLATILE_COLUMNS",
    "RunTask",
    "failed_row",
    "result_columns",
    "run_one",
]

#: Columns that depend on where and when a run ran, not on what it computed.
VOLATILE_COLUMNS = ("wall_seconds", "worker")
#: Whether a run finished ("ok" or "failed") and, if not, why ("" when ok).
STATUS_COLUMNS = ("status", "error")
#: Currencies of the default scenario (rolled and outstanding amounts are per currency).
CURRENCIES = ("KZT", "USD", "EUR", "RUB")
#: Currency pairs that get an official rate.
PAIRS = ("USDKZT", "EURKZT", "RUBKZT")

#: Extra columns a user's ``metrics`` function returns: name -> value (int, float, str, bool).
Metrics = Callable[[DayResult], Mapping[str, Any]]


@dataclass(frozen=True)
class RunTask:
    """What a worker needs for one run (pickled to it; a few hundred bytes).

    ``trades_path``: a Parquet file to write the day's trades to, or None. ``metrics``: an
    optional function of the DayResult returning extra columns (it must pickle: a module-level
    function for the local backend; Dask and Ray also take closures)."""

    params: ScenarioParams
    seed: int
    date: _dt.date
    trades_path: str | None = None
    metrics: Metrics | None = None


def result_columns() -> list[str]:
    """The measured columns of a row, in table order (module docstring)."""
    return (["order_messages", "trades", "turnover_kzt", "fees_kzt"]
            + [f"turnover_kzt.{s}" for s in SIM_SYMBOLS] + [f"vwap.{s}" for s in SIM_SYMBOLS]
            + [f"official_rate.{p}" for p in PAIRS]
            + ["refused"] + [f"refused.{r.value}" for r in RejectReason]
            + ["settlement", "settlement_runs", "failed_members", "failed_member_ids", "fails"]
            + [f"rolled.{c}" for c in CURRENCIES] + [f"outstanding.{c}" for c in CURRENCIES]
            + ["gross_failed", "trades_file"])


def worker_name() -> str:
    """``host:pid`` of this process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def failed_row(task: RunTask, error: str, wall_seconds: float = float("nan"),
               worker: str = "") -> dict[str, Any]:
    """The row of a run that did not finish: its identity, status "failed" and ``error``."""
    return {"seed": task.seed, "status": "failed", "error": error,
            "wall_seconds": wall_seconds, "worker": worker}


def run_one(task: RunTask) -> dict[str, Any]:
    """Simulate ``task``'s day and measure it (module docstring); never raises for an error
    of the run itself: the row then has status "failed" and the exception's type, message
    and the line it came from. Time and memory: one simulated day's (docs/sweeps.md)."""
    started = time.perf_counter()
    try:
        scenario = scenario_of(task.params, task.seed)
        result = run_day(scenario, date=task.date, orders=task.params.orders)
        try:
            row = _measure(result)
            row["trades_file"] = _write_trades(result, task.trades_path)
            if task.metrics is not None:
                row.update(_extra(task.metrics(result), row))
        finally:
            result.ledger.close()
    except Exception as exc:
        return failed_row(task, _describe(exc), time.perf_counter() - started, worker_name())
    finally:
        _give_back_memory()
    row.update(seed=task.seed, status="ok", error="",
               wall_seconds=time.perf_counter() - started, worker=worker_name())
    return row


def _load_malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None off glibc."""
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


_MALLOC_TRIM = _load_malloc_trim()


def _give_back_memory() -> None:
    """Return the freed heap of the run to the system. Without it glibc keeps most of what a
    day allocated and frees (numpy arrays, SQLite pages): a worker's resident memory grew
    about 5 MB per 10,000-order run, run after run (docs/sweeps.md); with it, it stays flat.
    The collection first: a day leaves reference cycles that would otherwise wait for the
    next full collection. About 15 ms."""
    gc.collect()
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def _describe(exc: BaseException) -> str:
    """``Type: message (file:line)`` of the innermost frame, one line."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" ({os.path.basename(frames[-1].filename)}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {message}{where}"


def _extra(values: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """A user's metric columns, checked: new names, plain scalar values."""
    if not isinstance(values, Mapping):
        raise TypeError(f"metrics: expected a mapping of column to value, got "
                        f"{type(values).__name__}")
    reserved = set(result_columns()) | set(row) | set(STATUS_COLUMNS) | set(VOLATILE_COLUMNS)
    extra = {}
    for name, value in values.items():
        if not isinstance(name, str) or name in reserved or name in ScenarioParams.names() \
                or name == "seed":
            raise ValueError(f"metrics: column {name!r} is not a new column name")
        if isinstance(value, np.generic):
            value = value.item()
        if not isinstance(value, (int, float, str, bool)) and value is not None:
            raise TypeError(f"metrics: column {name!r} value {value!r} is not an int, float, "
                            f"str or bool")
        extra[name] = value
    return extra


def _write_trades(result: DayResult, path: str | None) -> str:
    """Write the day's trades as Parquet to ``path`` (folders created); "" if no path."""
    if path is None:
        return ""
    import pyarrow.parquet as pq

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    pq.write_table(result.exchange.trades_table(), path)
    return path


def _measure(result: DayResult) -> dict[str, Any]:
    """The measured columns of ``result`` (module docstring), plain Python scalars."""
    row: dict[str, Any] = {"order_messages": result.orders, "trades": len(result.trades)}
    row.update(_turnover_and_vwap(result.trades))
    rates = result.day_end.official_rates
    row.update({f"official_rate.{p}": float(rates[p]) if p in rates else float("nan")
                for p in PAIRS})
    refused = dict.fromkeys(RejectReason, 0)
    for run in result.sessions:
        for reason, count in run.refusals.items():
            refused[reason] += count
    row["refused"] = sum(refused.values())
    row.update({f"refused.{r.value}": n for r, n in refused.items()})
    row.update(_settlement(result))
    return row


_INSTRUMENTS = sim_instruments()
_KZT = _INSTRUMENTS.assets["KZT"]


def _turnover_and_vwap(trades: np.ndarray) -> dict[str, Any]:
    """Turnover (KZT) and VWAP per instrument, and fees; exact integer sums, one rounding to
    float each."""
    row: dict[str, Any] = {}
    total = 0
    for symbol in SIM_SYMBOLS:
        mine = trades[trades["instrument"] == CODES.instrument.find(symbol)]
        turnover = sum(mine["quote_amount"].tolist())  # Python ints: exact, never overflows
        total += turnover
        row[f"turnover_kzt.{symbol}"] = float(_KZT.from_minor(turnover))
        lots = sum(mine["qty"].tolist())
        if lots:
            ticks = sum((mine["price_ticks"] * mine["qty"]).tolist())
            tick = _INSTRUMENTS[symbol].tick_size
            row[f"vwap.{symbol}"] = float(Decimal(ticks) * tick / lots)
        else:
            row[f"vwap.{symbol}"] = float("nan")
    row["turnover_kzt"] = float(_KZT.from_minor(total))
    fees = sum(trades["fee_buyer"].tolist()) + sum(trades["fee_seller"].tolist())
    row["fees_kzt"] = float(_KZT.from_minor(fees))  # every sim instrument is quoted in KZT
    return row


def _settlement(result: DayResult) -> dict[str, Any]:
    """The settlement columns of ``result`` (module docstring)."""
    failed: set[int] = set()
    fails = 0
    rolled = dict.fromkeys(CURRENCIES, 0)
    gross_failed = 0
    for day in result.settlements:
        members = day.result.failed_members
        failed.update(members)
        fails += len(members)
        net = day.result.net
        owed = net[(net["kind"] == CODES.kind.code("net")) & ~np.isnat(net["carried_to"])
                   & (net["amount"] < 0)]
        for asset, amount in zip(CODES.asset.decode(owed["asset"]), owed["amount"].tolist()):
            rolled[asset] = rolled.get(asset, 0) - amount
        gross_failed += int((day.result.gross["status"] == FAILED).sum())
    outstanding = dict.fromkeys(CURRENCIES, 0)
    for _, _, asset, amount in result.outstanding:
        if amount < 0:
            outstanding[asset] = outstanding.get(asset, 0) - amount
    if result.outstanding:
        outcome = "outstanding"
    else:
        outcome = "rolled" if failed or gross_failed else "settled"
    assets = result.scenario.instruments.assets
    row: dict[str, Any] = {
        "settlement": outcome, "settlement_runs": len(result.settlements),
        "failed_members": len(failed), "failed_member_ids": " ".join(map(str, sorted(failed))),
        "fails": fails, "gross_failed": gross_failed}
    row.update({f"rolled.{c}": float(assets[c].from_minor(rolled[c])) for c in CURRENCIES})
    row.update({f"outstanding.{c}": float(assets[c].from_minor(outstanding[c]))
                for c in CURRENCIES})
    return row

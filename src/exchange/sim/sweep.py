"""Parameter sweeps: many simulated days, one per (parameter point, seed), as one tidy table.

:func:`sweep` expands a grid of :class:`~exchange.sim.scenario.ScenarioParams` knobs, runs one
simulated day per point and seed on a local process pool, a Dask cluster or a Ray cluster
(``exchange.sim.engines``), and returns one row per run (columns: ``exchange.sim.runs``)::

    from exchange.sim import sweep
    table = sweep({"fee_bps": [1, 2, 5], "prefunded": [0, 3, 6]}, seeds=range(1, 51),
                  backend="dask", workers=2)
    table.groupby("prefunded")["failed_members"].mean()

Runs are independent and deterministic: the same grid and seeds give the same table, row for
row, whatever the backend and the number of workers. Rows are sorted by the grid's parameters
(in the grid's order) and then the seed; only :data:`VOLATILE_COLUMNS` (wall time, worker) may
differ between two sweeps, and :func:`comparable` drops them.

``exchange.sim.sweep`` is the function (``exchange.sim`` re-exports it); this module's other
names are imported from it by name: ``from exchange.sim.sweep import plan_sweep``.
"""
from __future__ import annotations

import datetime as _dt
import itertools
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from exchange.reference.calendar import Calendar
from exchange.reference.instruments import checked_int

from .day import business_day_on_or_after
from .engines import Progress, execute, require
from .runs import STATUS_COLUMNS, VOLATILE_COLUMNS, Metrics, RunTask, result_columns
from .scenario import DEFAULT_DATE, ScenarioParams

__all__ = [
    "MAX_SEED",
    "PARAMETERS",
    "TRADES_FOLDER",
    "VOLATILE_COLUMNS",
    "SweepPlan",
    "check_seeds",
    "comparable",
    "grid_points",
    "plan_sweep",
    "sweep",
]

#: The knobs a grid may vary (ScenarioParams' fields), in the table's column order.
PARAMETERS = ScenarioParams.names()
#: Largest seed (seeds are 0..2**63-1, as the simulate command's).
MAX_SEED = 2**63 - 1
#: Subfolder of ``out`` that ``keep_trades`` writes one Parquet file per run into.
TRADES_FOLDER = "trades"

Grid = Mapping[str, Iterable[Any]] | Sequence[Mapping[str, Any]] | None


def grid_points(grid: Grid) -> tuple[list[str], list[ScenarioParams]]:
    """The swept parameter names (grid order) and the checked points, sorted by those
    parameters' values in that order.

    ``grid`` is a mapping of knob name to values (every combination is a point), a sequence
    of mappings (each one point), or None/empty (one point: the default scenario). Raises
    ValueError for an unknown knob, an empty value list, or the same point twice, and what
    :class:`ScenarioParams` raises for a bad value (naming the knob). O(points)."""
    if grid is None:
        grid = {}
    if isinstance(grid, Mapping):
        names = [_name(n) for n in grid]
        values = [_values(n, grid[n]) for n in names]
        raw = [dict(zip(names, combo)) for combo in itertools.product(*values)]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        raw = [dict(point) for point in grid]
        if not raw:
            raise ValueError("grid: an empty list of points")
        names = list(dict.fromkeys(_name(n) for point in raw for n in point))
    else:
        raise TypeError(f"grid: expected a mapping of parameter to values or a list of "
                        f"points, got {type(grid).__name__}")
    points = [ScenarioParams(**point) for point in raw]
    points.sort(key=lambda p: tuple(getattr(p, n) for n in names))
    for a, b in itertools.pairwise(points):
        if a == b:
            raise ValueError(f"grid: the point {_label(a, names)} is given twice")
    return names, points


def _name(name: Any) -> str:
    if name not in PARAMETERS:
        raise ValueError(f"grid: {name!r} is not a parameter; parameters: "
                         f"{', '.join(PARAMETERS)}")
    return name


def _values(name: str, values: Iterable[Any]) -> list[Any]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise TypeError(f"grid[{name!r}]: expected a list of values, got "
                        f"{type(values).__name__} {values!r}")
    result = list(values)
    if not result:
        raise ValueError(f"grid[{name!r}]: no values")
    return result


def check_seeds(seeds: Iterable[int]) -> list[int]:
    """``seeds`` as a sorted list of distinct ints in 0..MAX_SEED (numpy integers accepted;
    TypeError for a bool or non-integer, ValueError for none, a duplicate or out of range)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Iterable):
        raise TypeError(f"seeds: expected integers, got {type(seeds).__name__} {seeds!r}")
    result = sorted(checked_int(s, "seeds", 0, ValueError, MAX_SEED) for s in seeds)
    if not result:
        raise ValueError("seeds: no seeds")
    for a, b in itertools.pairwise(result):
        if a == b:
            raise ValueError(f"seeds: {a} is given twice")
    return result


def _label(point: ScenarioParams, names: Sequence[str]) -> str:
    """``fee_bps=1_prefunded=3``: the point's swept values, safe in a file name."""
    return "_".join(f"{n}={getattr(point, n)}" for n in names)


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep, ready to run: the swept parameter names and one task per run, in
    table order (see :func:`plan_sweep`)."""

    names: list[str]
    tasks: list[RunTask]
    backend: str
    workers: int | None
    address: str | None
    retries: int

    def run(self, progress: Progress | None = None, arrow: bool = False) -> Any:
        """Execute every run and return the table (see :func:`sweep`)."""
        rows = execute(self.tasks, self.backend, self.workers, self.address, self.retries,
                       progress)
        return _table(self.tasks, rows, self.names, arrow)


def plan_sweep(grid: Grid, seeds: Iterable[int], backend: str = "local",
               workers: int | None = None, *, address: str | None = None,
               date: _dt.date = DEFAULT_DATE, out: str | os.PathLike | None = None,
               keep_trades: bool = False, retries: int = 2,
               metrics: Metrics | None = None) -> SweepPlan:
    """Check every argument of :func:`sweep` and return the plan; runs and writes nothing.
    Raises ValueError or TypeError naming the argument, EngineMissing (an ImportError with
    an install hint) for a backend whose extra is missing."""
    names, points = grid_points(grid)
    seed_list = check_seeds(seeds)
    _check_engine(backend, workers, address, retries)
    _check_date(date)
    if not isinstance(keep_trades, bool):
        raise TypeError(f"keep_trades: expected a bool, got {keep_trades!r}")
    if keep_trades and out is None:
        raise ValueError("keep_trades: needs out, the folder to write each run's trades to")
    if metrics is not None and not callable(metrics):
        raise TypeError(f"metrics: expected a function of a DayResult, got {metrics!r}")
    folder = os.path.join(os.fspath(out), TRADES_FOLDER) if keep_trades and out else None
    tasks = [RunTask(p, s, date, _trades_path(folder, p, names, s), metrics)
             for p in points for s in seed_list]
    return SweepPlan(names, tasks, backend, workers, address, retries)


def sweep(grid: Grid, seeds: Iterable[int], backend: str = "local",
          workers: int | None = None, *, address: str | None = None,
          date: _dt.date = DEFAULT_DATE, out: str | os.PathLike | None = None,
          keep_trades: bool = False, retries: int = 2, metrics: Metrics | None = None,
          arrow: bool = False, progress: Progress | None = None) -> Any:
    """Simulate one day per (grid point, seed) on ``backend`` and return the table of runs.

    * ``grid``: see :func:`grid_points`; ``seeds``: see :func:`check_seeds`;
    * ``backend``: "local" (a process pool), "dask" or "ray" (extras ``[dask]``, ``[ray]``);
      ``workers``: processes to start (None: one per core); ``address``: an existing Dask
      scheduler or Ray cluster to run on instead (then ``workers`` must be None);
    * ``date``: the trade date (a business day); ``retries``: times a run whose worker died is
      run again (0..10);
    * ``keep_trades``: write each run's trades to ``out``/trades/<point>_seed=<seed>.parquet
      (``out`` must be given, on storage every worker can write);
    * ``metrics``: a function of a run's :class:`~exchange.sim.day.DayResult` returning extra
      columns (name -> scalar), computed on the worker;
    * ``arrow``: return a ``pyarrow.Table`` instead of a ``pandas.DataFrame``;
    * ``progress(done, total)``: called as runs finish.

    Columns: the knobs (all of ScenarioParams' fields, resolved), ``seed``, the measurements
    (``exchange.sim.runs``), any ``metrics`` columns, ``status``, ``error``, then
    ``wall_seconds`` and ``worker``. A run that raised has status "failed", its error and
    empty measurements; the sweep goes on. Every argument is checked before any run starts
    (:func:`plan_sweep`); nothing runs or is written on a bad one.
    Time: runs x one day (docs/sweeps.md) / workers.
    """
    plan = plan_sweep(grid, seeds, backend, workers, address=address, date=date, out=out,
                      keep_trades=keep_trades, retries=retries, metrics=metrics)
    return plan.run(progress, arrow)


def _check_engine(backend: str, workers: int | None, address: str | None,
                  retries: int) -> None:
    require(backend)
    if workers is not None:
        checked_int(workers, "workers", 1, ValueError, 1024)
        if address is not None:
            raise ValueError(f"workers: {workers} with address {address!r}: a cluster has "
                             f"its own workers, give one or the other")
    if address is not None:
        if backend == "local":
            raise ValueError(f"address: {address!r} needs backend dask or ray, not local")
        if not isinstance(address, str) or not address:
            raise TypeError(f"address: expected a non-empty str, got {address!r}")
    checked_int(retries, "retries", 0, ValueError, 10)


def _check_date(date: _dt.date) -> None:
    if not isinstance(date, _dt.date) or isinstance(date, _dt.datetime):
        raise TypeError(f"date: expected a datetime.date, got {type(date).__name__} {date!r}")
    trading = business_day_on_or_after(Calendar(), date)
    if trading != date:
        raise ValueError(f"date: {date} is not a business day in Kazakhstan (next: {trading})")


def _trades_path(folder: str | None, point: ScenarioParams, names: Sequence[str],
                 seed: int) -> str | None:
    if folder is None:
        return None
    label = _label(point, names)
    return os.path.join(folder, f"{label}_seed={seed}.parquet" if label else
                        f"seed={seed}.parquet")


def _table(tasks: Sequence[RunTask], rows: Sequence[dict[str, Any]], names: Sequence[str],
           arrow: bool) -> Any:
    """The DataFrame (or Arrow table) of ``rows``, one per task, in task order."""
    import pandas as pd

    knobs = list(names) + [n for n in PARAMETERS if n not in names]
    measured = result_columns()
    extra = list(dict.fromkeys(k for row in rows for k in row
                               if k not in measured and k not in STATUS_COLUMNS
                               and k not in VOLATILE_COLUMNS and k != "seed"))
    records = []
    for task, row in zip(tasks, rows):
        record = {n: _cell(getattr(task.params, n)) for n in knobs}
        record["seed"] = task.seed
        record.update(row)
        records.append(record)
    columns = knobs + ["seed"] + measured + extra + list(STATUS_COLUMNS) \
        + list(VOLATILE_COLUMNS)
    frame = pd.DataFrame.from_records(records, columns=columns)
    frame = frame.astype(_dtypes(frame, measured))
    if arrow:
        import pyarrow as pa

        return pa.Table.from_pandas(frame, preserve_index=False)
    return frame


def _cell(value: Any) -> Any:
    """A knob's value as a table cell: a rate in bp as a float, anything else as is."""
    return float(value) if isinstance(value, Decimal) else value


_COUNTS = {"order_messages", "trades", "refused", "settlement_runs", "failed_members", "fails",
           "gross_failed", "seed"}
_TEXT = {"settlement", "failed_member_ids", "trades_file", "status", "error", "worker"}
#: A knob's column dtype from its resolved Python type.
_KNOB_DTYPES = {bool: "boolean", int: "Int64", Decimal: "float64"}


def _dtypes(frame: Any, measured: Sequence[str]) -> dict[str, str]:
    """Column dtypes that do not depend on whether some run failed: counts as nullable
    Int64, text as string, flags as boolean, measurements as float64."""
    defaults = ScenarioParams()
    types: dict[str, str] = {}
    for name in frame.columns:
        if name in PARAMETERS:
            types[name] = _KNOB_DTYPES[type(getattr(defaults, name))]
        elif name in _COUNTS or name.startswith("refused."):
            types[name] = "Int64"
        elif name in _TEXT:
            types[name] = "string"
        elif name in measured or name == "wall_seconds":
            types[name] = "float64"
    return types


def comparable(table: Any) -> Any:
    """``table`` (DataFrame or Arrow) without :data:`VOLATILE_COLUMNS`, as a DataFrame: two
    sweeps of the same grid and seeds give equal ones on any backend. O(cells)."""
    frame = table if hasattr(table, "drop") and hasattr(table, "iloc") else table.to_pandas()
    return frame.drop(columns=[c for c in VOLATILE_COLUMNS if c in frame.columns])

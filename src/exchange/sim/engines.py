"""Where a sweep's runs execute: a local process pool, Dask or Ray.

Each engine takes the list of :class:`~exchange.sim.runs.RunTask` and returns one row per
task, in the tasks' order (whatever order they finished in), so that the table does not depend
on the engine or the number of workers. Every engine ships tasks and rows only (a few kB
each); the scenario is built on the worker.

A run that raises is a row with status "failed" (``runs.run_one`` catches it). A worker
process that dies (killed, out of memory, a crash in compiled code) is retried: the run goes
to another worker, up to ``retries`` more times, and is then recorded as failed with "worker
died". Dask's scheduler does this itself (``distributed.scheduler.allowed-failures``), Ray
too (``max_retries``); the local pool restarts itself and resubmits the runs it lost.

Dask and Ray are optional extras: :func:`require` turns a missing one into an
:class:`EngineMissing` whose message is a one-line install hint.
"""
from __future__ import annotations

import importlib
import importlib.util
import logging
import multiprocessing
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import exchange

from .runs import RunTask, failed_row, run_one

__all__ = ["BACKENDS", "EngineMissing", "dask_settings", "execute", "require"]

#: Backend name -> (module that must import, extra that installs it); local needs nothing.
BACKENDS: dict[str, tuple[str, str] | None] = {
    "local": None, "dask": ("distributed", "dask"), "ray": ("ray", "ray")}

Progress = Callable[[int, int], None]
Row = dict[str, Any]


class EngineMissing(ImportError):
    """A backend whose optional extra is not installed; the message says how to install it."""


def require(backend: str) -> None:
    """ValueError for an unknown backend, EngineMissing if its extra is not installed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend: {backend!r} is not one of {', '.join(BACKENDS)}")
    needs = BACKENDS[backend]
    if needs is not None and importlib.util.find_spec(needs[0]) is None:
        raise EngineMissing(f"backend {backend!r} needs the [{needs[1]}] extra: "
                            f'pip install "exchange[{needs[1]}]"')


def execute(tasks: Sequence[RunTask], backend: str, workers: int | None, address: str | None,
            retries: int, progress: Progress | None = None) -> list[Row]:
    """One row per task, in task order, run on ``backend`` (module docstring). ``workers``:
    processes to start (None: one per core); ``address``: an existing cluster's instead."""
    require(backend)
    report = progress or (lambda done, total: None)
    if backend == "local":
        return _local(tasks, workers or os.cpu_count() or 1, retries, report)
    if backend == "dask":
        return _dask(tasks, workers, address, retries, report)
    return _ray(tasks, workers, address, retries, report)


def _died(task: RunTask, how: str) -> Row:
    return failed_row(task, "worker died: " + " ".join(how.split()))


def _package_root() -> str:
    """The folder this ``exchange`` package was imported from, for workers we start: they
    must run the same code as the driver (it is first on their PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(exchange.__file__)))


def _worker_env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (_package_root(), path) if p)}


# ------------------------------------------------------------------------------ local pool

def _start_method() -> str:
    """How the local pool starts workers. fork on Linux while the driver has one thread: a
    worker is then a copy of the driver, so it runs the driver's code, starts in milliseconds
    and needs no ``if __name__ == "__main__":`` guard in the user's script. spawn otherwise:
    forking a process with other threads (a Dask client, a GUI) can deadlock the child, and
    fork is unsafe on macOS and absent on Windows; scripts then need the guard."""
    if sys.platform.startswith("linux") and threading.active_count() == 1:
        return "fork"
    return "spawn"


def _local(tasks: Sequence[RunTask], workers: int, retries: int, report: Progress) -> list[Row]:
    """A process pool with at most ``workers`` runs in flight. When a worker dies the pool
    breaks and every run in flight is lost, but only one of them may be to blame: those runs
    are then run again one at a time (a run that kills its worker alone is charged an
    attempt, the others finish), and the pool goes back to ``workers`` at a time."""
    rows: list[Row | None] = [None] * len(tasks)
    fresh = list(range(len(tasks)))[::-1]  # pop() takes the next task in order
    suspects: list[int] = []  # lost when a pool broke: run alone
    deaths = [0] * len(tasks)  # deaths of a worker while running the task alone
    done = 0
    context = multiprocessing.get_context(_start_method())
    while fresh or suspects:
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            flight: dict[Future, int] = {}
            try:
                while fresh or suspects or flight:
                    _fill(pool, tasks, flight, fresh, suspects, workers)
                    finished, _ = wait(flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        rows[flight.pop(future)] = future.result()
                        done += 1
                        report(done, len(tasks))
            except BrokenProcessPool:
                alone = len(flight) == 1
                for i in flight.values():
                    deaths[i] += alone
                    if deaths[i] > retries:
                        rows[i] = _died(tasks[i], f"{deaths[i]} times running this run alone")
                        done += 1
                        report(done, len(tasks))
                    else:
                        suspects.append(i)
                suspects.sort(reverse=True)
    return [row for row in rows if row is not None]


def _fill(pool: ProcessPoolExecutor, tasks: Sequence[RunTask], flight: dict[Future, int],
          fresh: list[int], suspects: list[int], workers: int) -> None:
    """Submit runs until ``workers`` are in flight; a suspect only when nothing else is."""
    if suspects:
        if not flight:
            i = suspects.pop()
            flight[pool.submit(run_one, tasks[i])] = i
        return
    while fresh and len(flight) < workers:
        i = fresh.pop()
        flight[pool.submit(run_one, tasks[i])] = i


# ------------------------------------------------------------------------------------ Dask

def _dask(tasks: Sequence[RunTask], workers: int | None, address: str | None, retries: int,
          report: Progress) -> list[Row]:
    """On the Dask scheduler at ``address``, or on a LocalCluster of ``workers``
    single-threaded processes started (and stopped) here."""
    import dask
    from distributed import Client, LocalCluster, as_completed

    rows: list[Row | None] = [None] * len(tasks)
    with dask.config.set(dask_settings(retries)):
        if address is None:
            cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1,
                                   threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.ERROR)
            client = Client(cluster)
        else:
            cluster, client = None, Client(address)
        try:
            futures = client.map(run_one, tasks, pure=False)
            index = {future.key: i for i, future in enumerate(futures)}
            completed = as_completed(futures)
            del futures  # a finished run's row is released from its worker once read
            for done, future in enumerate(completed, start=1):
                i = index[future.key]
                try:
                    rows[i] = future.result()
                except Exception as exc:  # KilledWorker: it died more than `retries` times
                    rows[i] = _died(tasks[i], f"{type(exc).__name__}: {exc}")
                future.release()
                report(done, len(tasks))
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return [row for row in rows if row is not None]


def dask_settings(retries: int) -> dict[str, Any]:
    """Scheduler settings for sweeps: a run is given up after its worker died ``retries``
    + 1 times, and a worker holds only the run it is running (a dying worker then takes
    no queued run with it). A cluster started elsewhere needs them in its own config."""
    return {"distributed.scheduler.allowed-failures": retries,
            "distributed.scheduler.worker-saturation": 1.0}


# ------------------------------------------------------------------------------------- Ray

def _ray(tasks: Sequence[RunTask], workers: int | None, address: str | None, retries: int,
         report: Progress) -> list[Row]:
    """On the Ray cluster at ``address``, on one this process already joined, or on a local
    one of ``workers`` CPUs started (and stopped) here; one CPU per run."""
    ray = importlib.import_module("ray")
    started = not ray.is_initialized()
    if started:
        options: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                   "logging_level": logging.ERROR}
        if address is None:
            # "local": a new Ray of our own, even if RAY_ADDRESS or a `ray start` on this
            # machine would otherwise make ray.init() join that one
            options.update(num_cpus=workers or os.cpu_count() or 1,
                           runtime_env={"env_vars": _worker_env()},
                           object_store_memory=100 * 2**20)  # rows are tiny
        ray.init(address=address or "local", **options)
    try:
        remote = ray.remote(num_cpus=1, max_retries=retries)(run_one)
        refs = [remote.remote(task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        rows: list[Row | None] = [None] * len(tasks)
        pending, done = list(refs), 0
        while pending:
            finished, pending = ray.wait(pending, num_returns=1)
            for ref in finished:
                i = index[ref]
                try:
                    rows[i] = ray.get(ref)
                except ray.exceptions.RayError as exc:  # the worker died too often
                    rows[i] = _died(tasks[i], f"{type(exc).__name__}: {exc}")
                done += 1
                report(done, len(tasks))
    finally:
        if started:
            ray.shutdown()
    return [row for row in rows if row is not None]

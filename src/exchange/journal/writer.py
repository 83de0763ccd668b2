"""Appending commands to a journal folder, with the durability the user chose.

:class:`JournalWriter` frames each command (:mod:`exchange.journal.format`), numbers it (0, 1,
2, ... across segments: ``append`` returns the number) and hands it to the operating system and
the disk as :class:`Durability` says:

* ``Durability.fsync_each()``: every record is written and fsynced before ``append`` returns.
  Nothing acknowledged is ever lost; costs a disk flush per command (milliseconds on a disk,
  tens of microseconds on a good SSD).
* ``Durability.group(records=N, ms=M)`` (the default: 1024 records, 10 ms): records collect in
  memory; a background thread writes and fsyncs them together as soon as N are waiting, or
  once the oldest has waited about M milliseconds (``ms=None``: no time bound), while appending
  goes on; :meth:`sync` (the venue calls it at each session close and the end of the day), a
  segment roll and :meth:`close` do it at once. If the disk falls behind so that 16N records
  wait, ``append`` itself waits for them to be written and fsynced (16, not fewer: the thread
  needs the GIL between its writes, and a caller that keeps it for a few milliseconds must not
  end up doing the thread's work itself). A crash loses at most the records not yet fsynced:
  fewer than 32N (16N waiting, 16N being written), and none older than about M ms plus the
  time of an fsync.
* ``Durability.none()``: records are written to the operating system every 1024 records and at
  :meth:`sync`, never fsynced: a killed process loses at most the unwritten ones, a machine
  crash may lose anything not yet flushed by the OS.

Segments: a new segment file starts when the current one would grow past ``segment_bytes``
(default 64 MiB; None: never); the old one is synced first (except under ``none``), so only the
last segment can have a torn tail after a crash.

Opening a folder that already holds a journal continues it after its last record (in a new
segment if the last one was written by an older format version); a torn tail
raises :class:`~exchange.journal.format.TornTail` (cut it with ``truncate_to_last_good``
first), damage raises ``CorruptJournal``. One writer per folder: a second one (in any process)
gets a JournalError. Appends come from one thread at a time.

Cost: the fast path (``submit``, ``market``, ``cancel``, ``modify``, ``refused``: the compiled
:class:`~exchange.journal._frames.FrameQueue`'s methods, bound to the writer) checks its ints
and writes the frame and its CRC in C into one growing buffer: about 0.1 us a call from Python;
:meth:`append` of a command object builds its payload field by field in Python (several us).
A write or fsync error (in the background thread too) is raised by the next call, and the
writer is then unusable: records after a failed fsync cannot be trusted to be durable.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, NoReturn

import numpy as np

from ._frames import FrameQueue
from .commands import COMMANDS, Command, PackedProcess, Process
from .fields import ARRAY, PACKED
from .files import FolderLock, fsync_file, fsync_folder, segment_name, segment_paths, write_all
from .format import HEADER_SIZE, VERSION, JournalError, SegmentHeader, TornTail

__all__ = ["Durability", "JournalWriter", "JournalWriteError"]

_NONE_BATCH = 1024  # Durability.none(): records handed to the OS per write
_BACKLOG = 16  # group commit: appends wait for the disk once this many groups wait (module doc)


class JournalWriteError(JournalError):
    """Writing or syncing the journal failed; the writer is unusable (``__cause__`` is the
    OSError)."""


@dataclass(frozen=True)
class Durability:
    """When records reach the disk (module docstring). Build with :meth:`fsync_each`,
    :meth:`group` or :meth:`none`."""

    mode: str
    records: int = 1
    ms: float | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("each", "group", "none"):
            raise ValueError(f"durability mode: {self.mode!r} is not 'each', 'group' or 'none'")
        if isinstance(self.records, bool) or not isinstance(self.records, int) \
                or self.records < 1:
            raise ValueError(f"durability records: {self.records!r} is not an int >= 1")
        if self.ms is not None and (isinstance(self.ms, bool)
                                    or not isinstance(self.ms, (int, float))
                                    or not math.isfinite(self.ms) or self.ms <= 0):
            raise ValueError(f"durability ms: {self.ms!r} is not a number of milliseconds > 0")

    @classmethod
    def fsync_each(cls) -> Durability:
        """Every record is durable before ``append`` returns."""
        return cls("each")

    @classmethod
    def group(cls, records: int = 1024, ms: float | None = 10.0) -> Durability:
        """Records are made durable ``records`` at a time, or once the oldest waited ``ms``
        milliseconds (None: no time bound), and at every ``sync``."""
        return cls("group", records, ms)

    @classmethod
    def none(cls) -> Durability:
        """Never fsync; write to the OS in batches and at ``sync``."""
        return cls("none", _NONE_BATCH)


def _check_time(time: Any) -> None:
    if isinstance(time, bool) or not isinstance(time, (int, float)) or not math.isfinite(time):
        raise ValueError(f"time: {time!r} is not a finite number of seconds")


class JournalWriter:
    """Appends records to the journal in ``folder`` (created if missing); see the module
    docstring. ``next_seq``: the number the next record gets (= records in the journal);
    ``durable_seq``: how many records are known to be on disk (fsynced); ``queued``: how many
    wait in memory. ``first_seq`` numbers the first record of a new journal (one that carries
    on from a snapshot of the commands before it); an existing journal continues where it ends.

    The fast path, bound to the writer (the compiled queue's methods; ints checked, numpy ints
    taken, bools refused, TypeError/ValueError naming the field; each returns the record's
    sequence number)::

        submit(time, member, instrument, side, price_ticks, lots, tif, client_order_id=None)
        market(time, member, instrument, side, lots, client_order_id=None)
        cancel(time, member, order_id)
        modify(time, member, order_id, lots, price_ticks=0)
        refused(time, call, code)
    """

    submit: Callable[..., int]
    market: Callable[..., int]
    cancel: Callable[..., int]
    modify: Callable[..., int]
    refused: Callable[..., int]

    def __init__(self, folder: str | os.PathLike[str], durability: Durability | None = None,
                 *, segment_bytes: int | None = 64 << 20, first_seq: int = 0) -> None:
        self.durability = Durability.group() if durability is None else durability
        if not isinstance(self.durability, Durability):
            raise TypeError(f"durability: expected a Durability, got "
                            f"{type(self.durability).__name__}")
        if segment_bytes is not None and (isinstance(segment_bytes, bool)
                                          or not isinstance(segment_bytes, int)
                                          or segment_bytes <= HEADER_SIZE):
            raise ValueError(f"segment_bytes: {segment_bytes!r} is not an int > {HEADER_SIZE}")
        if isinstance(first_seq, bool) or not isinstance(first_seq, int) or first_seq < 0:
            raise ValueError(f"first_seq: {first_seq!r} is not an int >= 0")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._fsync_on = self.durability.mode != "none"
        self._io_lock = threading.Lock()
        self._closed = False
        group = self.durability.mode == "group"
        self._wake = threading.Event()  # group commit: records are waiting
        self._now = threading.Event()  # group commit: a whole group waits, flush it now
        self._lock = FolderLock(self.folder, "open a second writer")
        try:
            self._open_tail(-1 if segment_bytes is None else segment_bytes, group, first_seq)
        except BaseException:
            self._lock.release()
            raise
        queue = self._queue
        self.submit, self.market = queue.submit, queue.market
        self.cancel, self.modify, self.refused = queue.cancel, queue.modify, queue.refused
        self._thread: threading.Thread | None = None
        if group:
            self._thread = threading.Thread(target=self._flusher, name="journal-flush",
                                            daemon=True)
            self._thread.start()

    # -- opening ---------------------------------------------------------------------------

    def _open_tail(self, segment_limit: int, group: bool, first_seq: int) -> None:
        """Continue the journal after its last record, or start segment 1 at ``first_seq``
        (a journal that continues a snapshot's state; ignored for an existing journal)."""
        from .reader import scan  # the reader knows every rule of a sound journal

        found = segment_paths(self.folder)
        records = first_seq
        if found:
            state = scan(self.folder)
            if state.tail is not None:
                raise TornTail(f"journal {str(self.folder)!r} has a torn tail ({state.tail}); "
                               f"cut it with truncate_to_last_good before appending")
            records = state.records
        self.durable_seq = records
        n = self.durability.records
        self._queue = FrameQueue(
            threshold=n, limit=n * _BACKLOG if group else n, segment_limit=segment_limit,
            next_seq=records, on_first=self._wake.set if group else None,
            on_full=self._flush_soon if group else None, on_limit=self._flush,
            on_roll=self._roll, slow=self._slow)
        if not found:
            self._start_segment(1)
            return
        number, path = found[-1]
        if state.segments[-1].version < VERSION:  # never mix versions within a segment
            self._start_segment(number + 1)
            return
        self._segment = number
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._queue.segment(os.fstat(self._fd).st_size, state.segments[-1].records)

    def _start_segment(self, number: int) -> None:
        path = self.folder / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            write_all(fd, SegmentHeader(number, self._queue.next_seq).pack())
            if self._fsync_on:
                fsync_file(fd)
                fsync_folder(self.folder)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._segment = fd, number
        self._queue.segment(HEADER_SIZE, 0)

    # -- appending -------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        return self._queue.next_seq

    @property
    def frames(self) -> FrameQueue:
        """The compiled queue behind the fast path, for C callers (the venue's engine
        journals its fast path's orders into it)."""
        return self._queue

    @property
    def queued(self) -> int:
        """Records appended and not yet handed to the operating system."""
        return self._queue.queued

    def append(self, command: Command, time: float = 0.0) -> int:
        """Journal ``command`` given at exchange time ``time`` (seconds since midnight);
        returns its sequence number. TypeError for something that is not a Command, ValueError
        for a bad time or a record over 1 GiB; nothing is journaled then. O(payload)."""
        if not isinstance(command, Command):
            raise TypeError(f"command: expected a journal Command, got "
                            f"{type(command).__name__}")
        _check_time(time)
        if isinstance(command, Process):
            return self._array(command.orders, time)
        return self._queue.frame(command.KIND, time, command.payload())

    def process(self, time: float, orders: np.ndarray) -> int:
        """:class:`~exchange.journal.commands.Process` of ``orders`` (with its dtype
        description). O(orders): the array's bytes are copied once, and the record's CRC is
        computed when the records are taken to be written (on the group commit's thread)."""
        _check_time(time)
        return self._array(Process(orders).orders, time)

    def _array(self, orders: np.ndarray, time: float) -> int:
        """A batch record of the checked array ``orders``: packed by the compiled queue if its
        fields are all int64 (``PackedProcess``, an ORDER_DTYPE batch), else its bytes copied
        straight into the queue after the dtype's description (``Process``)."""
        data = np.ascontiguousarray(orders)
        prefix = ARRAY.describe(data.dtype)
        if PACKED.fits(data.dtype):
            return self._queue.packed(PackedProcess.KIND, time, prefix,
                                      data.view("<i8").reshape(len(data), data.itemsize // 8))
        return self._queue.frame(Process.KIND, time, prefix,
                                 data.view(np.uint8).data if len(data) else None)

    def _slow(self, kind: int, time: float, fields: tuple) -> int:
        """A hot command the compiled path leaves to the command class (a client order id)."""
        return self.append(COMMANDS[kind](*fields), time)

    # -- reaching the disk -----------------------------------------------------------------

    def sync(self) -> None:
        """Write every queued record and, unless the policy is ``none``, fsync: everything
        appended so far is then durable. JournalWriteError if writing fails."""
        if self._queue.broken is not None:
            raise self._queue.broken
        self._flush()

    def _flush(self) -> None:
        with self._io_lock:
            self._drain()

    def _drain(self) -> None:
        """Write the queued records and fsync as the policy says; the caller holds the I/O
        lock. A failure breaks the writer (module docstring)."""
        data, count = self._queue.take()
        if not count:
            return
        try:
            write_all(self._fd, data)
            if self._fsync_on:
                fsync_file(self._fd)
                self.durable_seq += count
        except OSError as exc:
            self._break(exc, "writing failed")

    def _break(self, exc: OSError, what: str) -> NoReturn:
        error = JournalWriteError(f"journal {str(self.folder)!r}: {what}: {exc}; the writer "
                                  f"is unusable")
        error.__cause__ = exc
        self._queue.broken = error
        raise error

    def _roll(self) -> None:
        """Finish the current segment (written and synced) and start the next."""
        with self._io_lock:
            self._drain()
            os.close(self._fd)
            try:
                self._start_segment(self._segment + 1)
            except OSError as exc:
                self._break(exc, f"cannot start segment {self._segment + 1}")

    def _flush_soon(self) -> None:
        self._now.set()
        self._wake.set()

    def _flusher(self) -> None:
        """The group commit's thread: once records wait, wait ``ms`` (or until a whole group
        waits) and flush them."""
        wake, now = self._wake, self._now
        delay = None if self.durability.ms is None else self.durability.ms / 1000.0
        while True:
            wake.wait()
            if self._closed or self._queue.broken is not None:
                return
            wake.clear()
            now.wait(delay)
            now.clear()
            if self._closed:
                return
            try:
                self._flush()
            except BaseException:  # JournalWriteError: the queue raises it from now on
                return
            if self._queue.queued:
                wake.set()  # records came while flushing: their clock is running

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Sync (as :meth:`sync`), stop the background thread and close the files. Closing
        twice does nothing; JournalWriteError if the writer had failed."""
        if self._closed:
            return
        failed = self._queue.broken
        try:
            if failed is None:
                self._flush()
        finally:
            self._closed = True
            failed = self._queue.broken
            self._queue.broken = ValueError(f"journal writer of {str(self.folder)!r} is closed")
            if self._thread is not None:
                self._flush_soon()
                self._thread.join()
            with self._io_lock:
                os.close(self._fd)
            self._lock.release()
        if failed is not None:
            raise JournalWriteError(f"journal {str(self.folder)!r}: closed after a failed "
                                    f"write ({failed})") from failed

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"JournalWriter({str(self.folder)!r}, {self.durability}, next_seq="
                f"{self.next_seq})")

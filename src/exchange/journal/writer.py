"""Appending commands to a journal folder, with the durability the user chose.

:class:`JournalWriter` frames each command (:mod:`exchange.journal.format`), numbers it (0, 1,
2, ... across segments: ``append`` returns the number) and hands it to the operating system and
the disk as :class:`Durability` says:

* ``Durability.fsync_each()``: every record is written and fsynced before ``append`` returns.
  Nothing acknowledged is ever lost; costs a disk flush per command (milliseconds on a disk,
  tens of microseconds on a good SSD).
* ``Durability.group(records=N, ms=M)`` (the default: 1024 records, 10 ms): records collect in
  memory and are written and fsynced together when N are waiting, when the oldest has waited
  about M milliseconds (a background thread; ``ms=None``: no time bound), at :meth:`sync`
  (the venue calls it at each session close and the end of the day), at a segment roll and at
  :meth:`close`. A crash loses at most the records of the last N / M ms.
* ``Durability.none()``: records are written to the operating system every 1024 records and at
  :meth:`sync`, never fsynced: a killed process loses at most the unwritten ones, a machine
  crash may lose anything not yet flushed by the OS.

Segments: a new segment file starts when the current one would grow past ``segment_bytes``
(default 64 MiB; None: never); the old one is synced first (except under ``none``), so only the
last segment can have a torn tail after a crash.

Opening a folder that already holds a journal continues it after its last record; a torn tail
raises :class:`~exchange.journal.format.TornTail` (cut it with ``truncate_to_last_good``
first), damage raises ``CorruptJournal``. One writer per folder: a second one (in any process)
gets a JournalError. Appends come from one thread at a time.

Cost: the fast-path methods (:meth:`submit`, :meth:`market`, :meth:`cancel`, :meth:`modify`)
pack a record with one ``struct`` call and a CRC, and queue it: well under a microsecond;
:meth:`append` of a command object also builds its payload field by field. A write or fsync
error (in the background thread too) is raised by the next call, and the writer is then
unusable: records after a failed fsync cannot be trusted to be durable.
"""
from __future__ import annotations

import math
import os
import struct
import threading
import time as _time
import zlib
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import numpy as np

from .commands import FRAME_PACKERS, Command, Kind, MarketOrder, Process, Submit
from .files import FolderLock, fsync_file, fsync_folder, segment_name, segment_paths, write_all
from .format import (
    FRAME_HEAD,
    HEADER_SIZE,
    MARK,
    MAX_BODY,
    MIN_BODY,
    JournalError,
    SegmentHeader,
    TornTail,
)

__all__ = ["Durability", "JournalWriter", "JournalWriteError"]

_HEAD = struct.Struct(FRAME_HEAD)  # mark, length, kind, time
_SUBMIT, _MARKET = FRAME_PACKERS[Kind.SUBMIT], FRAME_PACKERS[Kind.MARKET]
_CANCEL, _MODIFY = FRAME_PACKERS[Kind.CANCEL], FRAME_PACKERS[Kind.MODIFY]
_SUBMIT_LEN, _MARKET_LEN = _SUBMIT.size - 6, _MARKET.size - 6
_CANCEL_LEN, _MODIFY_LEN = _CANCEL.size - 6, _MODIFY.size - 6
_K_SUBMIT, _K_MARKET, _K_CANCEL, _K_MODIFY = (int(Kind.SUBMIT), int(Kind.MARKET),
                                              int(Kind.CANCEL), int(Kind.MODIFY))
_NONE_BATCH = 1024  # Durability.none(): records handed to the OS per write

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


class JournalWriter:
    """Appends records to the journal in ``folder`` (created if missing); see the module
    docstring. ``next_seq``: the number the next record gets (= records in the journal);
    ``durable_seq``: how many records are known to be on disk (fsynced)."""

    def __init__(self, folder: str | os.PathLike[str], durability: Durability | None = None,
                 *, segment_bytes: int | None = 64 << 20) -> None:
        self.durability = Durability.group() if durability is None else durability
        if not isinstance(self.durability, Durability):
            raise TypeError(f"durability: expected a Durability, got "
                            f"{type(self.durability).__name__}")
        if segment_bytes is not None and (isinstance(segment_bytes, bool)
                                          or not isinstance(segment_bytes, int)
                                          or segment_bytes <= HEADER_SIZE):
            raise ValueError(f"segment_bytes: {segment_bytes!r} is not an int > {HEADER_SIZE}")
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._limit = math.inf if segment_bytes is None else segment_bytes
        self._fsync_on = self.durability.mode != "none"
        self._threshold = self.durability.records
        self._pending: deque[bytes] = deque()
        self._io_lock = threading.Lock()
        self._broken: BaseException | None = None
        self._lock = FolderLock(self.folder, "open a second writer")
        try:
            self._open_tail()
        except BaseException:
            self._lock.release()
            raise
        self._wake: threading.Event | None = None
        if self.durability.mode == "group" and self.durability.ms is not None:
            self._wake = threading.Event()
            self._thread = threading.Thread(target=self._flusher, name="journal-flush",
                                            daemon=True)
            self._thread.start()

    # -- opening ---------------------------------------------------------------------------

    def _open_tail(self) -> None:
        """Continue the journal after its last record, or start segment 1."""
        from .reader import scan  # the reader knows every rule of a sound journal

        found = segment_paths(self.folder)
        if not found:
            self._next_seq = self.durable_seq = 0
            self._start_segment(1)
            return
        state = scan(self.folder)
        if state.tail is not None:
            raise TornTail(f"journal {str(self.folder)!r} has a torn tail ({state.tail}); cut "
                           f"it with truncate_to_last_good before appending")
        number, path = found[-1]
        self._segment, self._next_seq = number, state.records
        self.durable_seq = state.records
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        self._size = os.fstat(self._fd).st_size
        self._in_segment = state.segments[-1].records

    def _start_segment(self, number: int) -> None:
        path = self.folder / segment_name(number)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        try:
            write_all(fd, SegmentHeader(number, self._next_seq).pack())
            if self._fsync_on:
                fsync_file(fd)
                fsync_folder(self.folder)
        except BaseException:
            os.close(fd)
            raise
        self._fd, self._segment, self._size, self._in_segment = fd, number, HEADER_SIZE, 0

    # -- appending -------------------------------------------------------------------------

    @property
    def next_seq(self) -> int:
        return self._next_seq

    def append(self, command: Command, time: float = 0.0) -> int:
        """Journal ``command`` given at exchange time ``time`` (seconds since midnight);
        returns its sequence number. TypeError for something that is not a Command, ValueError
        for a bad time or a record over 1 GiB; nothing is journaled then. O(payload)."""
        if not isinstance(command, Command):
            raise TypeError(f"command: expected a journal Command, got "
                            f"{type(command).__name__}")
        if isinstance(time, bool) or not isinstance(time, (int, float)) \
                or not math.isfinite(time):
            raise ValueError(f"time: {time!r} is not a finite number of seconds")
        payload = command.payload()
        size = MIN_BODY + len(payload)
        if size > MAX_BODY:
            raise ValueError(f"{type(command).__name__}: {size} bytes is more than a journal "
                             f"record holds ({MAX_BODY}); split it")
        return self._add(_HEAD.pack(MARK, size, command.KIND, time) + payload)

    def submit(self, time: float, member: int, instrument: int, side: int, price_ticks: int,
               lots: int, tif: int, client_order_id: str | None = None) -> int:
        """Fast :class:`~exchange.journal.commands.Submit`: the venue's checked ints (the
        command class checks, this does not; struct refuses what does not fit)."""
        if client_order_id is not None:
            return self.append(Submit(member, instrument, side, price_ticks, lots, tif,
                                      client_order_id), time)
        return self._add(_SUBMIT.pack(MARK, _SUBMIT_LEN, _K_SUBMIT, time, member, instrument,
                                      side, price_ticks, lots, tif, 0))

    def market(self, time: float, member: int, instrument: int, side: int, lots: int,
               client_order_id: str | None = None) -> int:
        """Fast :class:`~exchange.journal.commands.MarketOrder` (as :meth:`submit`)."""
        if client_order_id is not None:
            return self.append(MarketOrder(member, instrument, side, lots, client_order_id),
                               time)
        return self._add(_MARKET.pack(MARK, _MARKET_LEN, _K_MARKET, time, member, instrument,
                                      side, lots, 0))

    def cancel(self, time: float, member: int, order_id: int) -> int:
        """Fast :class:`~exchange.journal.commands.Cancel` (as :meth:`submit`)."""
        return self._add(_CANCEL.pack(MARK, _CANCEL_LEN, _K_CANCEL, time, member, order_id))

    def modify(self, time: float, member: int, order_id: int, lots: int,
               price_ticks: int = 0) -> int:
        """Fast :class:`~exchange.journal.commands.Modify` (as :meth:`submit`)."""
        return self._add(_MODIFY.pack(MARK, _MODIFY_LEN, _K_MODIFY, time, member, order_id,
                                      lots, price_ticks))

    def process(self, time: float, orders: np.ndarray) -> int:
        """:class:`~exchange.journal.commands.Process` of ``orders`` (copied once, with its
        dtype description). O(orders)."""
        return self.append(Process(orders), time)

    def _add(self, frame: bytes) -> int:
        """Queue one framed record (its CRC added here) and flush as the policy says."""
        if self._broken is not None:
            self._raise_broken()
        record = frame + zlib.crc32(frame).to_bytes(4, "little")
        if self._size + len(record) > self._limit and self._in_segment:
            self._roll()
        queue = self._pending
        queue.append(record)
        self._size += len(record)
        self._in_segment += 1
        seq = self._next_seq
        self._next_seq = seq + 1
        waiting = len(queue)
        if waiting >= self._threshold:
            self._flush()
        elif waiting == 1 and self._wake is not None:
            self._wake.set()
        return seq

    # -- reaching the disk -----------------------------------------------------------------

    def sync(self) -> None:
        """Write every queued record and, unless the policy is ``none``, fsync: everything
        appended so far is then durable. JournalWriteError if writing fails."""
        if self._broken is not None:
            self._raise_broken()
        self._flush()

    def _flush(self) -> None:
        with self._io_lock:
            self._drain()

    def _drain(self) -> None:
        """Write the queued records and fsync as the policy says; the caller holds the I/O
        lock. A failure breaks the writer (module docstring)."""
        queue = self._pending
        count = len(queue)
        if not count:
            return
        data = b"".join([queue.popleft() for _ in range(count)])
        try:
            write_all(self._fd, data)
            if self._fsync_on:
                fsync_file(self._fd)
                self.durable_seq += count
        except OSError as exc:
            self._broken = exc
            raise JournalWriteError(f"journal {str(self.folder)!r}: writing failed: {exc}") \
                from exc

    def _roll(self) -> None:
        """Finish the current segment (written and synced) and start the next."""
        with self._io_lock:
            self._drain()
            os.close(self._fd)
            try:
                self._start_segment(self._segment + 1)
            except OSError as exc:
                self._broken = exc
                raise JournalWriteError(f"journal {str(self.folder)!r}: cannot start segment "
                                        f"{self._segment + 1}: {exc}") from exc

    def _flusher(self) -> None:
        """The group commit's clock: once records wait, sleep ``ms`` and flush them."""
        assert self._wake is not None and self.durability.ms is not None
        wake, delay = self._wake, self.durability.ms / 1000.0
        while True:
            wake.wait()
            if self._broken is not None:
                return
            wake.clear()
            _time.sleep(delay)
            try:
                self._flush()
            except BaseException as exc:  # raised by the writer's next call
                if self._broken is None:
                    self._broken = exc
                return
            if self._pending:
                wake.set()  # records came while flushing: their clock is running

    def _raise_broken(self) -> None:
        if isinstance(self._broken, _Closed):
            raise ValueError(f"journal writer of {str(self.folder)!r} is closed")
        raise JournalWriteError(f"journal {str(self.folder)!r}: an earlier write or fsync "
                                f"failed ({self._broken}); the writer is unusable") \
            from self._broken

    # -- closing ---------------------------------------------------------------------------

    def close(self) -> None:
        """Sync (as :meth:`sync`), stop the background thread and close the files. Closing
        twice does nothing."""
        if isinstance(self._broken, _Closed):
            return
        try:
            if self._broken is None:
                self._flush()
        finally:
            failed = self._broken
            self._broken = _Closed()
            if self._wake is not None:
                self._wake.set()
                self._thread.join()
            with self._io_lock:
                os.close(self._fd)
            self._lock.release()
        if failed is not None and not isinstance(failed, _Closed):
            raise JournalWriteError(f"journal {str(self.folder)!r}: closed after a failed "
                                    f"write ({failed})") from failed

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"JournalWriter({str(self.folder)!r}, {self.durability}, next_seq="
                f"{self._next_seq})")


class _Closed(Exception):
    """Marks a closed writer in ``_broken`` (one check on the hot path covers both)."""



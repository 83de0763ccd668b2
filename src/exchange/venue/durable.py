"""The journal, snapshots, recovery and the state digest of an ``Exchange`` (a mixin of the facade).

An exchange built with ``journal=`` (a folder or a ``JournalWriter``) journals every call that
changes its state once the call has succeeded, before it returns (docs/journal.md: the Setup
record first, then one record per call; refusals counted before a call had a normalised form
are ``Refused`` records). It syncs the journal at each session close and the end of the day,
and then writes a snapshot into the journal's folder (keeping the newest ``keep_snapshots``).
:meth:`DurableCalls.recover` rebuilds an exchange from a folder (the latest good snapshot and
the journal after it, a torn tail cut), :meth:`DurableCalls.digest` hashes the state
(``venue/digest.py``). The work is in ``venue/snapshot.py``, ``venue/replay.py`` and
``venue/recovery.py``; this class holds the calls.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from exchange.journal import Durability, JournalWriter, Setup
from exchange.venue._engine import Engine
from exchange.venue.config import describe

__all__ = ["DurableCalls"]

#: Snapshots kept in a journal's folder when the exchange writes one at a session close.
KEEP_SNAPSHOTS = 2


class DurableCalls:
    """Journaling, snapshots, recovery and the digest of an ``Exchange``."""

    # the exchange's parts (venue/exchange.py)
    _journal: JournalWriter | None
    _engine: Engine
    _markets: Any
    _clock: Callable[[], float] | None
    _keep_snapshots: int
    _user_setup: dict[str, Any]

    def _open_journal(self, journal: Any, durability: Durability | None,
                      setup: Mapping[str, Any] | None) -> None:
        """Start journaling into ``journal`` (a folder or a writer), which must hold no
        records: its first is the Setup record (the configuration and ``setup``). Every
        argument is checked before a folder is made or a writer touched."""
        if setup is not None and not isinstance(setup, Mapping):
            raise TypeError(f"setup: expected a JSON object (a mapping), got "
                            f"{type(setup).__name__}")
        if len(self._markets.by_index) > 0x10000:
            raise ValueError("journal: a Submit record names at most 65536 instruments")
        self._user_setup = dict(setup or {})  # a failure here fails the constructor
        record = Setup(self._setup_record())  # checks the JSON
        if isinstance(journal, JournalWriter):
            if durability is not None:
                raise ValueError("durability: give it to the JournalWriter, not beside one")
            writer = journal
        elif isinstance(journal, (str, os.PathLike)):
            writer = JournalWriter(journal, durability)
        else:
            raise TypeError(f"journal: expected a folder or a JournalWriter, got "
                            f"{type(journal).__name__}")
        try:
            if writer.next_seq:
                raise ValueError(f"journal {str(writer.folder)!r} already holds "
                                 f"{writer.next_seq} records: Exchange.recover continues it")
            writer.append(record, 0.0)
        except BaseException:
            if writer is not journal:
                writer.close()
            raise
        self._attach(writer)

    def _setup_record(self) -> dict[str, Any]:
        """The Setup record's object: the configuration (``venue/config.py``) and the part the
        caller gave (``setup=``; a recovered exchange keeps the journal's)."""
        return {"exchange": describe(self), "user": self._user_setup}

    def _attach(self, writer: JournalWriter | None) -> None:
        """Journal into ``writer`` from now on (None: stop journaling)."""
        self._journal = writer
        self._engine.set_journal(None if writer is None else writer.frames)

    @property
    def journal(self) -> JournalWriter | None:
        """The journal being written, or None."""
        return self._journal

    @contextlib.contextmanager
    def _unjournaled(self) -> Iterator[None]:
        """Calls inside are not journaled (a batch journaled as one Process record runs
        through the single calls; a replay applies records already journaled)."""
        writer = self._journal
        self._attach(None)
        try:
            yield
        finally:
            self._attach(writer)

    @contextlib.contextmanager
    def _replaying(self) -> Iterator[None]:
        """Apply journaled commands: nothing journaled, and the clock is the records' (set with
        ``set_time`` before each), whatever clock the exchange reads otherwise."""
        clock = self._clock
        self._clock = None
        try:
            with self._unjournaled():
                yield
        finally:
            self._clock = clock

    def _after_close(self) -> None:
        """A session closed or the day ended: make the journal durable, then snapshot."""
        if self._journal is None:
            return
        self._journal.sync()
        if self._keep_snapshots:
            from exchange.venue import snapshot

            snapshot.write_in_journal(self, self._journal, self._keep_snapshots)

    def snapshot(self, path: str | os.PathLike[str] | None = None) -> Path:
        """Write the whole trading state (docs/journal.md, "Snapshots") to ``path``, or, with
        none, into the journal's folder (as ``snapshot-<records>.npz``; the journal is synced
        first, so that the snapshot never covers records the disk has not got). Returns the
        file written. ValueError with no path and no journal. O(state)."""
        from exchange.venue import snapshot

        if path is None:
            if self._journal is None:
                raise ValueError("snapshot: give a path, or build the exchange with a journal")
            self._journal.sync()
            return snapshot.write_in_journal(self, self._journal, 0)
        seq = None if self._journal is None else self._journal.next_seq
        return snapshot.write(self, Path(path), seq)

    def digest(self) -> str:
        """The SHA-256 (hex) of the state: every book's resting orders in priority order, the
        holds and pending commitments, the trade records and the ledger's balances, and the
        counters that decide later results (``venue/digest.py`` lists every part). Equal for
        equal states, in any process. O(state)."""
        from exchange.venue.digest import digest

        return digest(self)

    @classmethod
    def recover(cls, path: str | os.PathLike[str], *, durability: Durability | None = None,
                resume: bool = True, **options: Any) -> Any:
        """The exchange the journal folder ``path`` describes: built with ``options`` (the
        constructor's, which must describe the same configuration as the journal's Setup
        record), its latest good snapshot restored and the journal after it replayed; a torn
        tail is cut first. With ``resume`` it then journals on into ``path`` (``durability``
        as the constructor's). ``ledger=`` may give an empty ledger to rebuild the balances
        in (default: a new in-memory one; ValueError if it holds accounts). Raises
        CorruptJournal, UnsupportedVersion, ConfigMismatch, SnapshotError or ReplayError naming
        what is wrong (venue/recovery.py).
        """
        from exchange.venue.recovery import recover

        return recover(cls, Path(path), durability, resume, options)

    def close(self) -> None:
        """Close the journal (everything appended becomes durable); the exchange goes on
        without journaling. Nothing to do without a journal."""
        writer = self._journal
        if writer is not None:
            self._attach(None)
            writer.close()

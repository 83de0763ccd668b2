"""``Exchange.recover``: the state a journal folder describes, rebuilt after a crash.

Steps (docs/journal.md, "Recovery"):

1. cut a torn tail (``truncate_to_last_good``; damage in the middle raises CorruptJournal and
   nothing is cut);
2. take the newest snapshot that reads and checks (a damaged one is skipped, with a warning
   logged) and that the journal can continue: its records ``0 .. seq - 1`` must end where the
   journal's records are still there (``first_seq <= seq <= records``). A good snapshot ahead
   of a non-empty journal raises SnapshotError: the journal lost records the snapshot holds, and
   replaying on would give those numbers to other calls. With no journal file at all, the
   snapshot alone is the state (the journal starts again after it);
3. build the exchange from the caller's options, check it against the snapshot's (or the
   Setup record's) configuration, restore the snapshot, and replay the records after it;
4. with ``resume``, journal on into the same folder.

A ``ledger=`` option must be a new one (no account): ValueError otherwise, before anything.

The ledger is rebuilt too: a snapshot holds the ledger as it was, and the journal's deposits,
withdrawals and settlement runs after it are made again, each once (a run id the ledger already
holds would return its stored result and move nothing). The crashed process's own ledger file,
if it had one, is not read: it may hold the one call in flight that the journal had not got.
O(snapshot + records after it).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from exchange.journal import (
    Durability,
    JournalReader,
    JournalWriter,
    Scan,
    Setup,
    scan,
    truncate_to_last_good,
)
from exchange.journal.files import segment_paths
from exchange.venue.config import check_same, describe
from exchange.venue.replay import ReplayError, replay
from exchange.venue.snapshot import Snapshot, SnapshotError, read, restore, snapshot_paths

__all__ = ["recover", "usable_snapshot"]

log = logging.getLogger("exchange")


def recover(cls: Any, folder: Path, durability: Durability | None, resume: bool,
            options: dict[str, Any]) -> Any:
    """See the module docstring and ``Exchange.recover``."""
    if "journal" in options:
        raise TypeError("recover: journal= is not an option here (recover journals on into "
                        "the folder it reads)")
    _check_new_ledger(options.get("ledger"))
    has_journal = bool(segment_paths(folder))
    found = truncate_to_last_good(folder) if has_journal else Scan(0)
    if has_journal:
        found = scan(folder)  # after the cut (a header-only segment may have gone)
        has_journal = bool(found.segments)
    snapshot = usable_snapshot(folder, found, has_journal)
    exchange = cls(**options)
    start = 0
    if snapshot is not None:
        check_same(snapshot.meta["setup"]["exchange"], describe(exchange),
                   f"snapshot {snapshot.path.name}")
        restore(exchange, snapshot)
        exchange._user_setup = dict(snapshot.meta["setup"].get("user", {}))
        start = snapshot.seq or 0
    elif not has_journal:
        raise FileNotFoundError(f"recover: {str(folder)!r} holds neither a journal nor a "
                                f"snapshot")
    elif found.first_seq:
        raise SnapshotError(f"recover: the journal in {str(folder)!r} starts at record "
                            f"{found.first_seq} and no snapshot holds the records before it")
    reader = JournalReader(folder, start=start)
    if start == 0:
        _check_first(folder)
    replay(exchange, reader)
    if resume:
        exchange._attach(JournalWriter(folder, durability, first_seq=start))
    return exchange


def _check_new_ledger(ledger: Any) -> None:
    """ValueError if ``ledger`` (given as ``ledger=``) holds accounts: the snapshot's ledger
    and the journal's deposits and runs would be made on them a second time (a crashed run's
    own ledger file is such a ledger)."""
    if ledger is not None and ledger.accounts():
        raise ValueError(f"recover: ledger={getattr(ledger, 'path', ledger)!r} already holds "
                         f"accounts; give a new, empty ledger (the journal rebuilds the "
                         f"balances)")


def _check_first(folder: Path) -> None:
    for entry in JournalReader(folder):
        if not isinstance(entry.command, Setup):
            raise ReplayError(f"journal {str(folder)!r} starts with "
                              f"{type(entry.command).__name__}, not its Setup record")
        return


def usable_snapshot(folder: Path, found: Scan, has_journal: bool) -> Snapshot | None:
    """The newest good snapshot the journal ``found`` can continue (module docstring)."""
    for seq, path in reversed(snapshot_paths(folder)):
        try:
            snapshot = read(path)
        except SnapshotError as exc:
            log.warning("recover: skipping snapshot %s: %s", path.name, exc)
            continue
        if snapshot.seq != seq:
            log.warning("recover: skipping snapshot %s: it says it holds %s records", path.name,
                        snapshot.seq)
            continue
        if not has_journal:
            return snapshot
        if seq > found.records:
            raise SnapshotError(f"snapshot {path.name} holds {seq} journal records but the "
                                f"journal in {str(folder)!r} has {found.records}: records it "
                                f"covered are missing from the journal")
        if seq >= found.first_seq:
            return snapshot
    return None

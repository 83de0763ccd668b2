"""The command journal: every state-changing ``Exchange`` call, framed, checksummed, on disk.

A journal is a folder of segment files (docs/journal.md describes every byte). Write with
:class:`JournalWriter` under a :class:`Durability` policy, read back with
:class:`JournalReader` (or check with :func:`scan`), and cut a torn tail after a crash with
:func:`truncate_to_last_good`. The commands are :mod:`exchange.journal.commands`' dataclasses.

The journal sits beside ``records``: it knows the exchange's calls in their normalised integer
form and nothing of the venue's internals (the venue calls it, never the other way round).
"""
from __future__ import annotations

from .commands import (
    AddMember,
    BeginDay,
    Cancel,
    CloseSession,
    Command,
    Deposit,
    EndOfDay,
    Kind,
    MarketOrder,
    Modify,
    OpenSession,
    PackedProcess,
    Process,
    Refused,
    SettlementRun,
    Setup,
    Submit,
    Withdraw,
)
from .format import VERSION, CorruptJournal, JournalError, TornTail, UnsupportedVersion
from .reader import Entry, JournalReader, Scan, SegmentInfo, Tail, scan, truncate_to_last_good
from .writer import Durability, JournalWriteError, JournalWriter

__all__ = [
    "VERSION", "AddMember", "BeginDay", "Cancel", "CloseSession", "Command", "CorruptJournal",
    "Deposit", "Durability", "EndOfDay", "Entry", "JournalError", "JournalReader",
    "JournalWriteError", "JournalWriter", "Kind", "MarketOrder", "Modify", "OpenSession",
    "PackedProcess", "Process", "Refused", "Scan", "SegmentInfo", "SettlementRun", "Setup",
    "Submit", "Tail", "TornTail", "UnsupportedVersion", "Withdraw", "scan", "truncate_to_last_good",
]

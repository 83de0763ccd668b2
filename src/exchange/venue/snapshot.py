"""Snapshots: the whole trading state of an ``Exchange`` in one file, and back.

A snapshot is a numpy ``.npz`` file (a zip of ``.npy`` arrays, each with its CRC-32; read with
``allow_pickle=False``: nothing in it is a Python object). docs/journal.md ("Snapshots")
describes every member; in short:

* ``meta``: UTF-8 JSON: ``format`` ("exchange-snapshot"), ``version`` (:data:`VERSION`),
  ``seq`` (the journal records the state includes: records ``0 .. seq - 1``; null outside a
  journal), ``setup`` (the Setup record's object: the configuration and the caller's part),
  the clock, the members, the day and every market's day state, the official rates, client
  order ids of resting orders, the refusal counters and the event sequence;
* ``books``: every resting order, ``(market, side, order_id, price, qty, owner)`` rows, each
  book's bids then asks in priority order; ``book_seq``: each book's last trade number;
* ``engine.*``: the venue engine's arrays (``venue/_state.pyx``: markets, members, accounts,
  pending dates, orders that rest or hold, counters);
* ``capture.records`` (every trade record, its instrument and assets numbered as
  ``TradeCapture.portable`` numbers them: the codes of ``exchange.codes`` are interned per
  process) and ``capture.terms`` (the capture's terms table);
* ``ledger``: the clearing ledger as an SQLite database image (``Ledger.dump``).

A snapshot is written to a temporary file, fsynced and renamed into place, so a crash leaves
the old one or the new one, never half of one. In a journal's folder it is named
``snapshot-<seq>.npz`` (:func:`snapshot_paths` finds them). :func:`read` checks the format, the
version and every member's CRC (:class:`SnapshotError` otherwise); :func:`restore` writes a
snapshot into a freshly built exchange. O(state) each way.
"""
from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from exchange._book import TIF
from exchange.journal import JournalError, JournalWriter
from exchange.journal.files import fsync_file, fsync_folder, write_all
from exchange.reference.dates import as_date
from exchange.venue._state import export_engine, import_engine
from exchange.venue.codes import RejectReason
from exchange.venue.members import Member, Regime

__all__ = ["FORMAT", "VERSION", "Snapshot", "SnapshotError", "facade_state", "read", "restore",
           "snapshot_name", "snapshot_paths", "write", "write_in_journal"]

FORMAT = "exchange-snapshot"
#: The snapshot format version this code writes and the newest it reads.
VERSION = 1

_NAME = re.compile(r"snapshot-([0-9]{12,})\.npz")
_ENGINE = ("markets", "members", "accounts", "cells", "orders", "counters")


class SnapshotError(JournalError):
    """A snapshot file that cannot be used: damaged, of another format or a newer version, or
    not for the exchange or journal it is given to."""


@dataclass(frozen=True)
class Snapshot:
    """A snapshot as read: its ``meta`` object, its arrays and where it came from."""

    path: Path
    meta: dict[str, Any]
    arrays: dict[str, np.ndarray]

    @property
    def seq(self) -> int | None:
        """Journal records the state includes (None: taken outside a journal)."""
        seq: int | None = self.meta["seq"]
        return seq


def snapshot_name(seq: int) -> str:
    """The file name of the snapshot of a journal's first ``seq`` records."""
    return f"snapshot-{seq:012d}.npz"


def snapshot_paths(folder: Path) -> list[tuple[int, Path]]:
    """The snapshots in ``folder`` as (seq, path), oldest first. O(files)."""
    found = []
    for entry in os.scandir(folder):
        match = _NAME.fullmatch(entry.name)
        if match is not None and entry.is_file():
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


# -- writing -----------------------------------------------------------------------------------

def write(exchange: Any, path: Path, seq: int | None) -> Path:
    """Write ``exchange``'s state to ``path`` (module docstring) as of journal record ``seq``;
    returns ``path``."""
    arrays = _gather(exchange, seq)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]  # numpy's stub: allow_pickle
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        write_all(fd, buffer.getvalue())
        fsync_file(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_folder(path.parent)
    return path


def write_in_journal(exchange: Any, writer: JournalWriter, keep: int) -> Path:
    """Snapshot ``exchange`` into ``writer``'s folder as of its next record (the caller synced
    the journal); then remove all but the newest ``keep`` snapshots (0: keep every one)."""
    path = write(exchange, writer.folder / snapshot_name(writer.next_seq), writer.next_seq)
    if keep:
        for _, old in snapshot_paths(writer.folder)[:-keep]:
            old.unlink()
        fsync_folder(writer.folder)
    return path


def _gather(exchange: Any, seq: int | None) -> dict[str, np.ndarray]:
    capture = exchange.capture.state()
    arrays = {f"engine.{name}": array for name, array in export_engine(exchange._engine).items()}
    books, book_seq = _books(exchange)
    arrays.update({"books": books, "book_seq": book_seq, "capture.records": capture["records"],
                   "capture.terms": capture["terms"],
                   "ledger": np.frombuffer(exchange.ledger.dump(), np.uint8)})
    arrays["meta"] = np.frombuffer(json.dumps(_meta(exchange, seq), sort_keys=True).encode(),
                                   np.uint8)
    return arrays


def _books(exchange: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = []
    for market in exchange._markets:
        for side in (0, 1):
            orders = market.book.orders(side)
            block = np.empty((len(orders), 6), np.int64)
            block[:, 0], block[:, 1] = market.index, side
            for column, name in enumerate(("order_id", "price", "qty", "owner"), 2):
                block[:, column] = orders[name]
            rows.append(block)
    seqs = np.array([market.book.trade_seq for market in exchange._markets], np.int64)
    return np.concatenate(rows) if rows else np.zeros((0, 6), np.int64), seqs


def _meta(exchange: Any, seq: int | None) -> dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "seq": seq,
            "setup": exchange._setup_record(), "time": exchange._time,
            "cycle": exchange._cycle.day_state(), "events": exchange._reporter.bus.sequence,
            **facade_state(exchange)}


def facade_state(exchange: Any) -> dict[str, Any]:
    """What the facade keeps in Python objects, as JSON data: the members, the official
    rates, the client order ids of resting orders and the refusal counts (the snapshot's
    ``meta`` and the digest hold it)."""
    return {
        "members": [[m.id, m.name, m.regime.value, sorted(m.credit_limits.items())]
                    for m in exchange.members],
        "official": [[pair, day.isoformat(), str(rate)] for pair, day, rate
                     in exchange.official.items()],
        "client_ids": sorted([oid, text] for oid, text in exchange._client_ids.items()),
        "rejections": sorted([reason.code, count] for reason, count
                             in exchange._reporter.rejections.items() if count),
    }


# -- reading -----------------------------------------------------------------------------------

def read(path: Path) -> Snapshot:
    """The snapshot in ``path``, checked (module docstring); SnapshotError naming the file."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode("utf-8"))
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise SnapshotError(f"snapshot {str(path)!r} cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise SnapshotError(f"snapshot {str(path)!r} is not an exchange snapshot")
    version = meta.get("version")
    if not isinstance(version, int) or version < 1:
        raise SnapshotError(f"snapshot {str(path)!r}: format version {version!r} does not exist")
    if version > VERSION:
        raise SnapshotError(f"snapshot {str(path)!r}: format version {version} is newer than "
                            f"this exchange reads (up to {VERSION}); upgrade exchange")
    missing = {"books", "book_seq", "capture.records", "capture.terms", "ledger"} \
        | {f"engine.{name}" for name in _ENGINE}
    if missing - set(arrays):
        raise SnapshotError(f"snapshot {str(path)!r}: members missing: "
                            f"{sorted(missing - set(arrays))}")
    return Snapshot(path, meta, arrays)


def restore(exchange: Any, snapshot: Snapshot) -> None:
    """Write ``snapshot`` into ``exchange``, freshly built on the snapshot's configuration (no
    member, no day begun, an empty ledger): afterwards its state equals the one the snapshot
    was taken of. SnapshotError if the snapshot does not fit it."""
    if len(exchange.members) or exchange.date is not None:
        raise ValueError("restore: the exchange already has members or a trading day")
    meta, arrays = snapshot.meta, snapshot.arrays
    try:
        exchange.ledger.load(arrays["ledger"].tobytes())
        for pair, day, rate in meta["official"]:
            exchange.official.publish(pair, as_date(day), Decimal(rate))
        capture = exchange.capture
        capture.restore(arrays["capture.records"], arrays["capture.terms"],
                        [market.fees for market in exchange._markets])
        exchange._cycle.restore_day(meta["cycle"], capture.terms_objects)
        import_engine(exchange._engine, {name: arrays[f"engine.{name}"] for name in _ENGINE})
        _members(exchange, meta["members"])
        _rest_orders(exchange, arrays["books"], arrays["book_seq"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise SnapshotError(f"snapshot {str(snapshot.path)!r} does not fit this exchange: "
                            f"{exc}") from exc
    exchange._client_ids.update(dict(meta["client_ids"]))
    exchange._reporter.rejections.update({RejectReason(code): count
                                          for code, count in meta["rejections"]})
    exchange._reporter.bus.sequence = meta["events"]
    exchange._time = float(meta["time"])


def _members(exchange: Any, members: list) -> None:
    for index, (member_id, name, regime, limits) in enumerate(members):
        exchange._members.add(Member(member_id, name, Regime(regime), dict(limits)))
        exchange._member_index[member_id] = index


def _rest_orders(exchange: Any, books: np.ndarray, seqs: np.ndarray) -> None:
    """Rest each order again in its book, in priority order: nothing may trade."""
    markets = exchange._markets.by_index
    if len(seqs) != len(markets):
        raise ValueError(f"book_seq: {len(seqs)} books, the exchange has {len(markets)}")
    for market, side, oid, price, qty, owner in books.tolist():
        book = markets[market].book
        if book.submit(oid, side, price, qty, TIF.GTC, owner) != 0:
            raise ValueError(f"books: order {oid} would trade on arrival (a crossed book)")
    for market, seq in zip(markets, seqs.tolist()):
        market.book.trade_seq = seq

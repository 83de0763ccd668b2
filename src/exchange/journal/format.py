"""The journal's bytes: segment files, their header, and the frame around each record.

A journal is a folder of *segment* files (:mod:`exchange.journal.files` names and finds them),
each a header followed by records; docs/journal.md draws both. All integers are little-endian.

Segment header, :data:`HEADER_SIZE` (32) bytes, the same size with the magic, version and CRC
in the same places in every format version (so that a reader can refuse a newer one)::

    magic "EXJOURNL" | version u16 | reserved u16 (0) | segment u32 | first_seq u64
    | reserved u32 (0) | crc32 u32 of the 28 bytes before it

Record frame, 19 bytes around the payload::

    mark 0xE5 0x9F | length u32 | kind u8 | time f64 | payload (length - 9 bytes)
    | crc32 u32 of every byte before it, from the mark

``length`` counts kind, time and payload. The mark lets a reader find the next record after a
damaged one, so that it can tell a torn tail (nothing good follows) from damage in the middle
(a good record follows). ``time`` is the exchange clock when the command was given (seconds
since midnight of the trading date): a replay sets it back before each command. ``kind`` and
the payload are :mod:`exchange.journal.commands`'.

Errors: :class:`CorruptJournal` (damage that a recovery must not cut away silently),
:class:`UnsupportedVersion` (a journal of a newer format), :class:`TornTail` (a writer asked
to append after a torn tail). All are :class:`JournalError`. Everything here is O(1) per
header or frame.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "FRAME_OVERHEAD",
    "HEADER_SIZE",
    "MAGIC",
    "MARK",
    "MAX_BODY",
    "MIN_BODY",
    "VERSION",
    "CorruptJournal",
    "JournalError",
    "SegmentHeader",
    "TornTail",
    "UnsupportedVersion",
    "frame_at",
]

#: First 8 bytes of every segment file.
MAGIC = b"EXJOURNL"
#: The format version this code writes and the newest it reads (it reads every older one). A
#: change to the header, the frame or any payload layout, or a new kind of record, makes a new
#: version. Version 2 added the ``Refused`` record (kind 15), version 3 the packed batch
#: (``PackedProcess``, kind 16).
VERSION = 3
#: Bytes of a segment header.
HEADER_SIZE = 32
#: First two bytes of every record frame.
MARK = b"\xe5\x9f"
#: Bytes of a frame besides the payload: mark, length, kind, time, crc.
FRAME_OVERHEAD = 19
#: Smallest ``length`` (kind and time, an empty payload).
MIN_BODY = 9
#: Largest ``length`` accepted (1 GiB): a bigger value is damage, not a record.
MAX_BODY = 1 << 30

_HEADER = struct.Struct("<8sHHIQI")  # magic, version, reserved, segment, first_seq, reserved
_CRC = struct.Struct("<I")
_LENGTH = struct.Struct("<I")
_KIND_TIME = struct.Struct("<Bd")
_BEFORE_KIND = 6  # mark and length


class JournalError(Exception):
    """A journal that cannot be read or written as asked; the message says where and why."""


class CorruptJournal(JournalError):
    """Damage a recovery must not cut away: a bad record followed by a good one, a bad segment
    header, a missing segment. ``path`` and ``offset`` locate the first bad byte."""

    def __init__(self, message: str, path: Path | None = None, offset: int | None = None):
        super().__init__(message)
        self.path, self.offset = path, offset


class UnsupportedVersion(JournalError):
    """A segment written by a newer format version than this code reads (:data:`VERSION`)."""


class TornTail(JournalError):
    """A writer was asked to append to a journal whose tail is torn; cut it first with
    :func:`exchange.journal.truncate_to_last_good`."""


@dataclass(frozen=True)
class SegmentHeader:
    """A segment's header: its ``segment`` number (1, 2, ...) and the sequence number of its
    first record (``first_seq``: records are numbered 0, 1, 2, ... across segments)."""

    segment: int
    first_seq: int
    version: int = VERSION

    def pack(self) -> bytes:
        head = _HEADER.pack(MAGIC, self.version, 0, self.segment, self.first_seq, 0)
        return head + _CRC.pack(zlib.crc32(head))

    @classmethod
    def unpack(cls, data: bytes, path: Path) -> SegmentHeader:
        """The header at the start of ``data`` (at least :data:`HEADER_SIZE` bytes).
        CorruptJournal if it is not a journal header or is damaged, UnsupportedVersion if a
        newer format wrote it. Every version keeps the magic, the version and the CRC where
        version 1 has them, so the CRC is checked first: a damaged version field is damage."""
        magic, version, _, segment, first_seq, _ = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise CorruptJournal(f"{path}: not a journal segment (starts {magic!r}, expected "
                                 f"{MAGIC!r})", path, 0)
        (crc,) = _CRC.unpack_from(data, _HEADER.size)
        if crc != zlib.crc32(data[:_HEADER.size]):
            raise CorruptJournal(f"{path}: segment header is damaged (CRC mismatch)", path, 0)
        if version > VERSION:
            raise UnsupportedVersion(f"{path}: journal format version {version} is newer than "
                                     f"this exchange reads (up to {VERSION}); upgrade exchange")
        if version < 1:
            raise CorruptJournal(f"{path}: journal format version {version} does not exist",
                                 path, 0)
        return cls(segment, first_seq, version)


def frame_at(data: bytes | memoryview, offset: int) -> tuple[int, int, float, int] | None:
    """The record frame starting at ``offset`` of ``data`` if it is whole and sound: (end
    offset, kind, time, payload offset); None if it is cut short or damaged (bad mark, length
    out of range, CRC mismatch). O(record length)."""
    if len(data) - offset < FRAME_OVERHEAD or data[offset:offset + 2] != MARK:
        return None
    (length,) = _LENGTH.unpack_from(data, offset + 2)
    end = offset + _BEFORE_KIND + length + _CRC.size
    if not MIN_BODY <= length <= MAX_BODY or end > len(data):
        return None
    (crc,) = _CRC.unpack_from(data, end - _CRC.size)
    if crc != zlib.crc32(data[offset:end - _CRC.size]):
        return None
    kind, time = _KIND_TIME.unpack_from(data, offset + _BEFORE_KIND)
    return end, kind, time, offset + _BEFORE_KIND + _KIND_TIME.size

"""The LOBSTER sample under tests/data/lobster is complete and byte for byte what SOURCE.md
describes: every file its table lists is present, and the sha256 of its uncompressed bytes is
the one recorded there. A fresh clone therefore replays real data (tests/test_lobster_replay.py),
never a silently damaged or missing copy.
"""
from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parent / "data" / "lobster"
# A table row: | `NAME.csv` | ... | `64 hex digits` |
ROW = re.compile(r"^\| `(?P<name>[^`]+\.csv)` \|.*\| `(?P<sha>[0-9a-f]{64})` \|$", re.M)
LISTED = ROW.findall((DATA / "SOURCE.md").read_text(encoding="utf-8"))


def test_source_lists_every_stored_file():
    stored = sorted(p.name for p in DATA.glob("*.csv.gz"))
    assert len(LISTED) == 6
    assert sorted(f"{name}.gz" for name, _ in LISTED) == stored


@pytest.mark.parametrize("name, sha", LISTED, ids=[name for name, _ in LISTED])
def test_uncompressed_bytes_match_source(name, sha):
    with gzip.open(DATA / f"{name}.gz", "rb") as handle:
        digest = hashlib.sha256(handle.read()).hexdigest()
    assert digest == sha

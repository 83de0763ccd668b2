"""Fitting a :class:`~exchange.app.summary.Table` into a terminal width without splitting a number.

A table too wide for the terminal is shown the way pandas shows a wide frame: as several
*blocks* of columns, one under the other, each repeating the table's key columns
(``Table.keys``: the leading columns that name a row, such as session and instrument). Within a
block, numeric columns are as wide as their widest cell (a cell is one number with its unit,
never wrapped); text columns and headers wrap between words only, so each text column gets at
least its longest word. Nothing here draws: :func:`blocks` returns, per block, the column
indices and their content widths, and :mod:`exchange.app.console` renders them.

Widths count characters (the report's cells are ASCII). The frame costs :data:`GAP` characters
between two columns (a space of padding either side and a separator) and :data:`EDGE` at the
two edges (a space of padding each). O(columns x rows) per table.
"""
from __future__ import annotations

from dataclasses import dataclass

from .summary import Table

__all__ = ["EDGE", "GAP", "Block", "blocks", "block_width"]

#: Characters between two adjacent columns: padding, separator, padding.
GAP = 3
#: Characters at the two edges together: a space of padding each. (rich 13.0 counts them even
#: with ``pad_edge=False``, so the renderer keeps them: the same frame on every rich version.)
EDGE = 2


@dataclass(frozen=True)
class Block:
    """Columns ``columns`` (indices into the table) with content widths ``widths``."""

    columns: list[int]
    widths: list[int]


def block_width(widths: list[int]) -> int:
    """Characters a block with these content widths takes on screen."""
    return sum(widths) + GAP * (len(widths) - 1) + EDGE


def _longest_word(text: str) -> int:
    return max((len(word) for word in text.split()), default=0)


def _limits(table: Table, column: int) -> tuple[int, int]:
    """(least, natural) content width of ``column``: a numeric cell never wraps, text cells
    and headers may wrap between words."""
    cells = [row[column] for row in table.rows]
    header = table.columns[column]
    natural = max([len(header)] + [len(c) for c in cells])
    if table.numeric[column]:
        least = max([_longest_word(header)] + [len(c) for c in cells])
    else:
        least = max([_longest_word(header)] + [_longest_word(c) for c in cells])
    return least, natural


def _group(limits: list[tuple[int, int]], keys: list[int], width: int) -> list[list[int]]:
    """Column indices per block: the keys, then as many further columns as fit (one at least)."""
    groups: list[list[int]] = []
    current = list(keys)
    for column in range(len(keys), len(limits)):
        trial = current + [column]
        fits = block_width([limits[c][0] for c in trial]) <= width
        if not fits and len(current) > len(keys):
            groups.append(current)
            current = list(keys) + [column]
        else:
            current = trial
    if len(current) > len(keys) or not groups:
        groups.append(current)
    return groups


def _share(limits: list[tuple[int, int]], room: int) -> list[int]:
    """Least widths, then ``room`` spare characters handed out to the columns that want more,
    the most modest wants filled first (water-filling)."""
    widths = [least for least, _ in limits]
    wanting = sorted(range(len(limits)), key=lambda i: limits[i][1] - limits[i][0])
    for position, i in enumerate(wanting):
        fair = room // (len(wanting) - position)
        extra = min(limits[i][1] - limits[i][0], fair)
        widths[i] += extra
        room -= extra
    return widths


def blocks(table: Table, width: int) -> list[Block]:
    """The column blocks that show ``table`` in ``width`` characters (see the module docstring).

    A block wider than ``width`` happens only when its key columns and one more column cannot
    fit even at their least widths (a very narrow terminal); it is then as narrow as allowed.
    """
    if not table.columns:
        return []
    keys = list(range(min(max(table.keys, 0), len(table.columns) - 1)))
    limits = [_limits(table, c) for c in range(len(table.columns))]
    result = []
    for columns in _group(limits, keys, width):
        chosen = [limits[c] for c in columns]
        room = max(0, width - block_width([least for least, _ in chosen]))
        result.append(Block(columns, _share(chosen, room)))
    return result

"""A seeded random source with cheap scalar draws, for agents' per-turn decisions.

A numpy ``Generator`` is fast per array but costs about a microsecond per scalar call; an
agent that draws three numbers a turn for a million turns would spend seconds there alone.
:class:`Random` draws blocks of numbers from a ``Generator`` and hands them out one at a time,
so a scalar draw is a list index. The sequence is a pure function of the seed and of the order
of calls: no wall clock, no global state.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

__all__ = ["Random", "spawn"]

T = TypeVar("T")

_BLOCK = 4096


class Random:
    """Buffered scalar draws from a seeded numpy ``Generator``.

    ``generator`` is the ``Generator`` behind it, for array draws. Each scalar method is
    amortised O(1): a refill costs one vectorised draw of ``block`` numbers.
    """

    __slots__ = ("generator", "_block", "_u", "_ui", "_z", "_zi")

    def __init__(self, seed: int | np.random.SeedSequence | np.random.Generator,
                 block: int = _BLOCK) -> None:
        if isinstance(seed, np.random.Generator):
            self.generator = seed
        else:
            self.generator = np.random.default_rng(seed)
        if not isinstance(block, int) or block < 1:
            raise ValueError(f"block: {block!r} is not a positive int")
        self._block = block
        self._u: list[float] = []
        self._ui = 0
        self._z: list[float] = []
        self._zi = 0

    def random(self) -> float:
        """A uniform float in [0, 1)."""
        i = self._ui
        if i == len(self._u):
            self._u = self.generator.random(self._block).tolist()
            i = 0
        self._ui = i + 1
        return self._u[i]

    def integers(self, low: int, high: int) -> int:
        """A uniform int in [low, high); ValueError if high <= low."""
        if high <= low:
            raise ValueError(f"integers: high={high} must exceed low={low}")
        return low + int(self.random() * (high - low))

    def normal(self, loc: float = 0.0, scale: float = 1.0) -> float:
        """A normal float with mean ``loc`` and standard deviation ``scale``."""
        i = self._zi
        if i == len(self._z):
            self._z = self.generator.standard_normal(self._block).tolist()
            i = 0
        self._zi = i + 1
        return loc + scale * self._z[i]

    def exponential(self, scale: float = 1.0) -> float:
        """An exponential float with mean ``scale`` (inverse transform of a uniform)."""
        return -scale * math.log1p(-self.random())

    def choice(self, options: Sequence[T]) -> T:
        """A uniformly chosen element of a non-empty sequence; ValueError if it is empty."""
        if not options:
            raise ValueError("choice: options is empty")
        return options[int(self.random() * len(options))]


def spawn(seed: int, n: int) -> list[np.random.SeedSequence]:
    """``n`` independent child seeds of ``seed`` (numpy ``SeedSequence.spawn``)."""
    return np.random.SeedSequence(seed).spawn(n)

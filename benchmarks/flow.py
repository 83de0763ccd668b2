"""Seeded order flows for benchmarking one instrument's order book.

``standard_flow`` is the benchmark's workload: a stream of ``MESSAGE_DTYPE`` messages shaped like
a liquid instrument's day: about 60% new limit orders quoted around a random-walking mid (a share
of them priced a few ticks through it, so they trade), 28% cancels of earlier orders (mostly of
orders still likely resting, a few of ids that are certainly dead) and 12% market orders. Limit
orders are GTC except for a few IOC. Everything is vectorised with numpy: 1,000,000 messages take
well under a second, and the same seed always gives the same array.

``resting_orders`` gives ``n`` NEW GTC messages that never cross each other, for measuring what a
resting order costs in memory.
"""
from __future__ import annotations

import numpy as np

from exchange import MESSAGE_DTYPE, TIF, Action, Side

NEW, CANCEL, MARKET = Action.NEW, Action.CANCEL, Action.MARKET
BUY, SELL = Side.BUY, Side.SELL
GTC, IOC = TIF.GTC, TIF.IOC

NEW_SHARE = 0.60
CANCEL_SHARE = 0.28
MARKET_SHARE = 0.12


def standard_flow(
    n_messages: int = 1_000_000,
    seed: int = 0,
    *,
    start_price: int = 100_000,
    cross_share: float = 0.10,
    ioc_share: float = 0.05,
    dead_cancel_share: float = 0.03,
    mean_lifetime: float = 100.0,
    walk_prob: float = 0.01,
    market_qty_p: float = 0.3,
    n_owners: int = 100,
) -> np.ndarray:
    """The standard benchmark flow: ``n_messages`` messages of ``MESSAGE_DTYPE``, same seed same array.

    Layout (counts are exact, positions random):
      * NEW (60%): side 50/50; passive orders at ``mid - 1 - d`` (buy) or ``mid + 1 + d`` (sell)
        with ``d`` geometric (mean ~6 ticks); ``cross_share`` of them are priced 1-3 ticks through
        the mid on the wrong side, so they take liquidity. ``ioc_share`` are IOC, the rest GTC.
        Quantities are geometric with mean ~3.3 lots.
      * MARKET (12%): side 50/50, quantity geometric with parameter ``market_qty_p``.
      * CANCEL (28%): ``1 - dead_cancel_share`` of them cancel a distinct earlier GTC order after
        an exponential lifetime (mean ``mean_lifetime`` NEW/MARKET messages), deeper orders more
        often, so most still rest when the cancel arrives (some will have traded: in the default
        1M flow about 12% of all cancels find no order); the rest name a market order's id,
        which never rests.
    The mid is a lazy +-1 tick random walk from ``start_price`` (a step with prob ``walk_prob``
    per NEW/MARKET message). Order ids of NEW and MARKET messages are 1, 2, ... in message order,
    so none is ever reused. Raises ValueError for out-of-range parameters.
    O(n log n) time (one sort), O(n) memory.
    """
    if n_messages < 1:
        raise ValueError(f"n_messages must be >= 1, got {n_messages!r}")
    for name, value in (("cross_share", cross_share), ("ioc_share", ioc_share),
                        ("dead_cancel_share", dead_cancel_share), ("walk_prob", walk_prob)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if not 0.0 < market_qty_p <= 1.0:
        raise ValueError(f"market_qty_p must be in (0, 1], got {market_qty_p!r}")
    if not mean_lifetime > 0:
        raise ValueError(f"mean_lifetime must be > 0, got {mean_lifetime!r}")
    if n_owners < 1:
        raise ValueError(f"n_owners must be >= 1, got {n_owners!r}")
    rng = np.random.default_rng(seed)
    n_cancel = round(n_messages * CANCEL_SHARE)
    n_market = round(n_messages * MARKET_SHARE)
    n_new = n_messages - n_cancel - n_market
    n_base = n_new + n_market  # NEW and MARKET messages, in time order; cancels slot in between

    base = np.zeros(n_base, dtype=MESSAGE_DTYPE)
    action = rng.permutation(np.repeat(np.array([NEW, MARKET], dtype=np.int64), [n_new, n_market]))
    base["action"] = action
    base["order_id"] = np.arange(1, n_base + 1)
    base["side"] = rng.integers(0, 2, n_base)
    base["owner"] = rng.integers(1, n_owners + 1, n_base)
    depth = _limit_prices(base, rng, start_price, cross_share, walk_prob)
    is_new = action == NEW
    base["qty"] = np.where(is_new, rng.geometric(0.3, n_base), rng.geometric(market_qty_p, n_base))
    base["tif"] = np.where(is_new & (rng.random(n_base) < ioc_share), IOC, GTC)

    targets, times = _cancels(base, depth, rng, n_cancel, dead_cancel_share, mean_lifetime)
    cancels = np.zeros(n_cancel, dtype=MESSAGE_DTYPE)
    cancels["action"] = CANCEL
    cancels["order_id"] = targets

    # Base message k happens at time k and a live cancel's time is > its order's, so the sort
    # puts every cancel after the order it names (stable: a tie keeps the base message first).
    order = np.argsort(np.concatenate([np.arange(n_base, dtype=np.float64), times]), kind="stable")
    return np.concatenate([base, cancels])[order]


def _limit_prices(
    base: np.ndarray, rng: np.random.Generator, start: int, cross_share: float, walk_prob: float
) -> np.ndarray:
    """Fill ``price`` for NEW rows around a lazy random-walk mid; MARKET rows keep price 0.

    Returns each row's depth: ticks behind the touch for a passive order, 0 for a crossing one.
    """
    n = len(base)
    steps = rng.choice(np.array([-1, 0, 1]), n, p=[walk_prob / 2, 1 - walk_prob, walk_prob / 2])
    mid = start + np.cumsum(steps)
    away = np.minimum(rng.geometric(0.15, n) - 1, 60)  # ticks behind the touch
    through = rng.integers(1, 4, n)  # ticks through the mid for crossing orders
    crossing = rng.random(n) < cross_share
    # sign: +1 for a buy, -1 for a sell; a passive order sits on its own side of the mid
    sign = np.where(base["side"] == BUY, 1, -1)
    price = np.where(crossing, mid + sign * through, mid - sign * (1 + away))
    base["price"] = np.where(base["action"] == NEW, np.maximum(price, 1), 0)
    return np.where(crossing, 0, away)


def _cancels(
    base: np.ndarray,
    depth: np.ndarray,
    rng: np.random.Generator,
    n_cancel: int,
    dead_share: float,
    mean_lifetime: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Targets and times of the cancels. Live targets are distinct GTC orders.

    Orders deeper in the book are likelier to be picked (weight ``(1 + depth) ** 2``): near the
    touch an order is usually traded before its owner cancels it, and a flow that mostly cancels
    dead orders would not exercise the cancel path.
    """
    n_base = len(base)
    gtc = np.flatnonzero((base["action"] == NEW) & (base["tif"] == GTC))
    due = gtc + 0.5 + rng.exponential(mean_lifetime, len(gtc))
    eligible = np.flatnonzero(due < n_base)
    # A very short flow may not have enough cancellable orders: the rest become dead cancels.
    n_live = min(n_cancel - round(n_cancel * dead_share), len(eligible))
    n_dead = n_cancel - n_live
    # Weighted sampling without replacement in O(n) (Efraimidis-Spirakis: top-k of u ** (1/w)).
    weight = (1.0 + depth[gtc[eligible]]) ** 2
    keys = np.log(rng.random(len(eligible))) / weight
    pick = np.sort(eligible[np.argpartition(-keys, n_live - 1)[:n_live]]) if n_live else eligible[:0]
    live_times = due[pick]
    live_targets = base["order_id"][gtc[pick]]

    markets = np.flatnonzero(base["action"] == MARKET)
    dead_times = rng.integers(0, n_base, n_dead) + 0.25 + 0.5 * rng.random(n_dead)
    seen = np.searchsorted(markets, dead_times)  # market orders already sent by then
    j = np.floor(rng.random(n_dead) * seen).astype(np.int64)
    # A market id never rests; before the first market order, name an id never issued (the
    # sentinel keeps the indexing valid when there are no market orders at all).
    market_ids = np.append(base["order_id"][markets], n_base + 1)
    dead_targets = np.where(seen > 0, market_ids[j], n_base + 1)
    return np.concatenate([live_targets, dead_targets]), np.concatenate([live_times, dead_times])


def resting_orders(n: int, seed: int = 0, *, mid: int = 100_000, levels: int = 1_000) -> np.ndarray:
    """``n`` NEW GTC messages (ids 1..n) that never cross: buys below ``mid``, sells above.

    Prices are spread uniformly over ``levels`` ticks on each side, so a book holding all of them
    has up to ``2 * levels`` price levels of roughly ``n / (2 * levels)`` orders each. O(n).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n!r}")
    if not 0 < levels < mid:
        raise ValueError(f"levels must be in 1..mid-1, got {levels!r}")
    rng = np.random.default_rng(seed)
    out = np.zeros(n, dtype=MESSAGE_DTYPE)
    out["action"] = NEW
    out["order_id"] = np.arange(1, n + 1)
    side = rng.integers(0, 2, n)
    out["side"] = side
    away = 1 + rng.integers(0, levels, n)
    out["price"] = np.where(side == BUY, mid - away, mid + away)
    out["qty"] = rng.integers(1, 11, n)
    out["tif"] = GTC
    out["owner"] = rng.integers(1, 101, n)
    return out


def distinct_prices(n: int, seed: int = 0, *, order: str = "random") -> np.ndarray:
    """``2 n`` messages that make and then remove ``n`` price levels: ``n`` NEW GTC buys of 1 lot
    at the distinct prices 1..n (ids 1..n), then a CANCEL of each.

    ``order="touch"``: each buy becomes the new best (prices ascending) and the cancels take the
    best first, so every level is made and dropped at the touch. ``order="random"``: the buys
    come in a random order of prices and the cancels in another, so levels are made and dropped
    at every depth. O(n).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n!r}")
    if order not in ("touch", "random"):
        raise ValueError(f"order must be 'touch' or 'random', got {order!r}")
    rng = np.random.default_rng(seed)
    prices = np.arange(1, n + 1, dtype=np.int64)
    cancel_prices = prices[::-1]
    if order == "random":
        prices = rng.permutation(prices)
        cancel_prices = rng.permutation(prices)
    out = np.zeros(2 * n, dtype=MESSAGE_DTYPE)
    out["action"][:n] = NEW
    out["order_id"][:n] = prices      # the id is the price: each cancel names its level's order
    out["side"][:n] = BUY
    out["price"][:n] = prices
    out["qty"][:n] = 1
    out["tif"][:n] = GTC
    out["owner"][:n] = 1
    out["action"][n:] = CANCEL
    out["order_id"][n:] = cancel_prices
    return out

"""Checks of simulated days and runs recomputed from the trade records in plain Python,
independently of the clearing code (tests/test_sim_day.py, tests/test_sim_days.py)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from exchange.clearing import EXCHANGE_FEES
from exchange.codes import CODES
from exchange.records import NET


def net_legs(trades: np.ndarray) -> dict[tuple[int, str, np.datetime64], int]:
    """Every NET trade's movements per (member, asset, date), summed in Python; fees go to the
    fee account on the near leg's date. Zero sums left out."""
    due: dict = defaultdict(int)
    for t in trades[CODES.settlement_of(trades["instrument"]) == NET]:
        near, far = t["settle_date"], t["far_settle_date"]
        base, quote = CODES.asset.name(t["base_asset"]), CODES.asset.name(t["quote_asset"])
        buyer, seller = int(t["buyer"]), int(t["seller"])
        due[(buyer, base, near)] += int(t["base_amount"])
        due[(buyer, quote, near)] -= int(t["quote_amount"]) + int(t["fee_buyer"])
        due[(seller, base, near)] -= int(t["base_amount"])
        due[(seller, quote, near)] += int(t["quote_amount"]) - int(t["fee_seller"])
        due[(EXCHANGE_FEES, quote, near)] += int(t["fee_buyer"]) + int(t["fee_seller"])
        if not np.isnat(far):
            due[(buyer, base, far)] -= int(t["base_amount"])  # a swap returns the base amount
            due[(buyer, quote, far)] += int(t["far_quote_amount"])
            due[(seller, base, far)] += int(t["base_amount"])
            due[(seller, quote, far)] -= int(t["far_quote_amount"])
    return {k: v for k, v in due.items() if v}


def assert_ledger_conserves(result) -> None:
    """Every settlement run of ``result`` (a day or a run of days) moves no asset in or out,
    and the ledger's final totals are the opening deposits plus the top-ups."""
    for s in result.settlements:
        assert s.totals_before == s.totals_after, s.date
    expected: dict = defaultdict(int)
    for (_, asset), amount in result.opening.items():
        expected[asset] += amount
    for s in result.settlements:
        for _, asset, amount in s.top_ups:
            expected[asset] += amount
    final: dict = defaultdict(int)
    for _, asset, balance in result.ledger.accounts():
        final[asset] += balance
    for asset in set(final) | set(expected):
        assert final.get(asset, 0) == expected.get(asset, 0), asset

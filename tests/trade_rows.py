"""Trade records for the clearing tests, written as dicts of names and numbers."""
from __future__ import annotations

import numpy as np

from exchange.codes import CODES
from exchange.records import GROSS, NET, empty_trades

D1, D2, D3 = np.datetime64("2024-03-01"), np.datetime64("2024-03-04"), np.datetime64("2024-03-05")
#: A NET and a GROSS instrument of the registry (their settlement methods are how clearing
#: tells a record's method).
INSTRUMENT = {NET: CODES.register_instrument("TEST_NET", NET), GROSS: CODES.register_instrument("TEST_GROSS", GROSS)}


def make_trades(rows: list[dict]) -> np.ndarray:
    """Trade records from dicts (asset names, ``settlement`` NET/GROSS); unspecified fields get
    harmless defaults: ids 1, 2, ..., one lot of USD/KZT traded and settling on D1, NET."""
    out = empty_trades(len(rows))
    for i, row in enumerate(rows):
        defaults = dict(trade_id=i + 1, trade_date=D1, qty=1, base_asset="USD", quote_asset="KZT",
                        settle_date=D1, settlement=NET)
        for key, value in {**defaults, **row}.items():
            if key in ("base_asset", "quote_asset"):
                value = CODES.asset.code(value)
            elif key == "settlement":
                key, value = "instrument", INSTRUMENT[value]
            out[key][i] = value
    return out


def names(codes) -> list[str]:
    return CODES.asset.decode(np.asarray(codes))


def gross_tuples(gross: np.ndarray) -> list[tuple]:
    """GROSS instructions as (trade_id, leg, date, receiver, deliverer, base, base_amount, quote,
    pay, proceeds, fee) with asset names."""
    return [(t, leg, np.datetime64(d, "D"), r, dl, CODES.asset.name(b), ba, CODES.asset.name(q), p, pr, f)
            for t, leg, d, r, dl, b, ba, q, p, pr, f, *_ in gross.tolist()]

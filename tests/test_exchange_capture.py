"""Trade capture: records field by field on hand-computed trades, fees, market statistics and the
official rate published for the next business day."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange import Exchange, FixingConfig, Side
from exchange.codes import CODES
from exchange.records import TABLE_COLUMNS, TRADE_RECORD_DTYPE
from exchange.reference.calendar import Calendar
from exchange.reference.fees import DEFAULT_MINIMUM, FeeRule, FeeSchedule, FeeTerms
from exchange.reference.instruments import Kind, default_instruments
from exchange.venue._engine import fee as engine_fee
from exchange.venue.capture import TradeCapture

THU = dt.date(2024, 3, 7)  # Fri 8 March is a KZ holiday: T+1 from Thursday is Monday 11th
MON = dt.date(2024, 3, 11)
CALENDAR = Calendar()


def schedule(taker: str = "0.75", maker: str = "0.25") -> FeeSchedule:
    fx = FeeRule(taker_bp=Decimal(taker), maker_bp=Decimal(maker), minimum=DEFAULT_MINIMUM)
    sec = FeeRule(taker_bp=Decimal(5), minimum=DEFAULT_MINIMUM)
    return FeeSchedule({Kind.FX_SPOT: fx, Kind.FX_SWAP: fx, Kind.GOVT: sec, Kind.SHARE: sec,
                        Kind.CORP_BOND: sec})


def make(**kw) -> Exchange:
    ex = Exchange(calendar=CALENDAR, fees=schedule(), **kw)
    ex.add_member(1, "Bank One")
    ex.add_member(2, "Bank Two")
    for member in (1, 2):  # securities are pre-funded by every member
        for asset in ex.instruments.assets:
            ex.deposit(member, asset, 10**15)
    return ex


def record(ex: Exchange, trade_id: int) -> dict:
    """One record as the trade table shows it: Python values, names for codes (dates as
    datetime.date, NaT as None)."""
    return ex.trades_table().slice(trade_id - 1, 1).to_pylist()[0]


def test_spot_record_field_by_field_across_a_holiday():
    ex = make()
    ex.begin_day(THU)
    ex.open_session("evening")
    ex.set_time(56_000)
    bid = ex.submit(1, "USDKZT_TOM", Side.BUY, "470.25", 100_000)
    ex.set_time(56_100.5)
    ask = ex.submit(2, "USDKZT_TOM", Side.SELL, "470.00", 60_000)
    assert ask.trade_ids == range(1, 2)
    # 60 lots of 1,000 USD at the maker's 470.25 KZT: 28,215,000.00 KZT = 2,821,500,000 tiyn.
    # Fees: maker (buyer) 0.25 bp = 70,537.5 -> 70,538 tiyn; taker (seller) 0.75 bp =
    # 211,612.5 -> 211,613 tiyn (half up), both above the 100 KZT minimum.
    assert record(ex, 1) == {
        "trade_id": 1, "trade_date": THU, "session": "evening",
        "instrument": "USDKZT_TOM", "buyer": 1, "seller": 2, "aggressor": 1,
        "buy_order_id": bid.order_id, "sell_order_id": ask.order_id, "price_ticks": 47_025,
        "price": 470.25, "qty": 60, "time": 56_100.5, "base_asset": "USD",
        "quote_asset": "KZT", "settle_date": MON,
        "base_amount": 6_000_000, "quote_amount": 2_821_500_000, "far_settle_date": None,
        "far_base_amount": 0, "far_quote_amount": 0, "fee_buyer": 70_538,
        "fee_seller": 211_613, "settlement": "NET"}
    assert ask.trades().tolist() == ex.trades()[:1].tolist()
    # the numpy record holds the same values, names as codes of the one registry
    row = ex.trades()[0]
    assert (CODES.instrument.name(row["instrument"]), CODES.asset.name(row["base_asset"]),
            CODES.asset.name(row["quote_asset"]), CODES.session.name(row["session"])) == (
        "USDKZT_TOM", "USD", "KZT", "evening")
    assert TRADE_RECORD_DTYPE.itemsize == 128


def test_security_and_swap_records_field_by_field():
    ex = make(reference_rates={"USDKZT": "470.00"})
    ex.begin_day(THU)
    ex.open_session("morning")
    ex.submit(1, "USDKZT_SWAP_1D", Side.BUY, "0.15", 2000)
    ex.submit(2, "USDKZT_SWAP_1D", Side.SELL, "0.15", 2000)
    ex.close_session("morning")
    ex.open_session("day")
    ex.submit(2, "KZTK", Side.SELL, "1200.50", 10)
    ex.submit(1, "KZTK", Side.BUY, "1201", 4)
    swap, share = record(ex, 1), record(ex, 2)
    # Swap: near leg at the reference rate 470.00 on 2,000 USD = 940,000.00 KZT; far leg at
    # 470.15 = 940,300.00 KZT; TOD near (7 March), TOM far (11 March). Fees on the near leg:
    # 0.75 bp = 7,050 tiyn, 0.25 bp = 2,350: both raised to the 10,000 tiyn minimum.
    assert (swap["price_ticks"], swap["qty"], swap["buyer"], swap["seller"],
            swap["aggressor"]) == (15, 2, 1, 2, 1)
    assert (swap["base_amount"], swap["quote_amount"], swap["far_base_amount"],
            swap["far_quote_amount"]) == (200_000, 94_000_000, 200_000, 94_030_000)
    assert (swap["settle_date"], swap["far_settle_date"]) == (THU, MON)
    assert (swap["fee_buyer"], swap["fee_seller"], swap["settlement"]) == (10_000, 10_000, "NET")
    ins = ex.instruments["USDKZT_SWAP_1D"]
    assert tuple(ins.swap_legs(47_000, 15, 2)) == (200_000, 94_000_000, 200_000, 94_030_000)
    # Share: 4 pieces at the maker's 1,200.50 KZT = 4,802.00 KZT; 5 bp = 240 tiyn -> minimum.
    assert (share["instrument"], share["session"], share["price_ticks"], share["qty"],
            share["buyer"], share["seller"], share["aggressor"]) == ("KZTK", "day", 120_050, 4,
                                                                     1, 2, 0)
    assert (share["base_asset"], share["base_amount"], share["quote_amount"]) == ("KZTK", 4,
                                                                                  480_200)
    assert (share["fee_buyer"], share["fee_seller"], share["settlement"]) == (10_000, 10_000,
                                                                              "GROSS")
    assert share["settle_date"] == THU and share["far_settle_date"] is None  # NaT


def test_records_agree_with_instrument_fee_and_calendar_functions():
    ex = make(reference_rates={"USDKZT": "471.30", "EURKZT": "505.10"})
    fees = ex.fees
    ex.begin_day(THU)
    rng = np.random.default_rng(7)
    for session, symbols in (("morning", ["USDKZT_TOD", "EURKZT_SWAP_2D", "RUBKZT_TOD"]),
                             ("day", ["KZTK", "MEKAM_0120"]),
                             ("evening", ["EURUSD_TOM", "USDKZT_SPT"])):
        ex.open_session(session)
        for symbol in symbols:
            ins = ex.instruments[symbol]
            for _ in range(30):
                px = int(rng.integers(1, 60_000))
                ex.submit(int(rng.integers(1, 3)), symbol, int(rng.integers(0, 2)),
                          price_ticks=px, lots=int(rng.integers(1, 40)))
        ex.close_session(session)
    trades = ex.trades_table().to_pylist()
    refs = {"USDKZT": 47_130, "EURKZT": 50_510}  # the reference rates above, in ticks
    assert len(trades) > 50
    traded = {t["instrument"] for t in trades}
    assert {"EURKZT_SWAP_2D", "KZTK", "EURUSD_TOM", "RUBKZT_TOD"} <= traded
    for row in trades:
        ins = ex.instruments[row["instrument"]]
        px, qty = int(row["price_ticks"]), int(row["qty"])
        if ins.kind is Kind.FX_SWAP:
            legs = ins.swap_legs(refs[ins.symbol[:6]], px, qty)
            near = legs.near_quote
            assert (row["base_amount"], row["quote_amount"], row["far_base_amount"],
                    row["far_quote_amount"]) == tuple(legs)
            assert row["far_settle_date"] == CALENDAR.settlement_date(THU, ins, far=True)
        else:
            near = ins.quote_amount(px, qty)
            assert (row["base_amount"], row["quote_amount"]) == (ins.base_amount(qty), near)
            assert row["far_settle_date"] is None and row["far_quote_amount"] == 0
        buyer_taker = row["aggressor"] == 0
        assert row["fee_buyer"] == fees.fee(ins, near, bool(buyer_taker))
        assert row["fee_seller"] == fees.fee(ins, near, not buyer_taker)
        assert row["settle_date"] == CALENDAR.settlement_date(THU, ins)
        assert row["price"] == pytest.approx(float(ins.from_ticks(px)), rel=1e-15)
        assert row["settlement"] == ("NET", "GROSS")[ins.settlement]
        assert row["base_asset"] == ins.base.code and row["quote_asset"] == ins.quote.code
    assert [t["trade_id"] for t in trades] == list(range(1, len(trades) + 1))


@given(bp_taker=st.decimals(0, 1000, places=3), bp_maker=st.decimals(0, 1000, places=3),
       minimum=st.integers(0, 10**6),
       values=st.lists(st.integers(1, 2**62), min_size=1, max_size=20), taker=st.booleans())
def test_fee_terms_equal_the_fee_schedule(bp_taker, bp_maker, minimum, values, taker):
    rule = FeeRule(taker_bp=bp_taker, maker_bp=bp_maker, minimum={"KZT": minimum})
    schedule_ = FeeSchedule({Kind.SHARE: rule})
    ins = default_instruments()["KZTK"]
    terms = FeeTerms.of(schedule_, ins)
    expected = [schedule_.fee(ins, v, taker) for v in values]
    assert [terms.fee(v, taker) for v in values] == expected
    n, d = (terms.taker_num, terms.taker_den) if taker else (terms.maker_num, terms.maker_den)
    assert [engine_fee(v, n, d, minimum) for v in values] == expected  # the C formula


def test_fee_terms_refuse_missing_rules():
    ins = default_instruments()["KZTK"]
    with pytest.raises(KeyError, match="SHARE"):
        FeeTerms.of(FeeSchedule({}), ins)
    with pytest.raises(KeyError, match="no minimum in KZT"):
        FeeTerms.of(FeeSchedule({Kind.SHARE: FeeRule(taker_bp=1, minimum={"USD": 1})}), ins)


def test_buffer_grows_and_flushes_in_batches():
    ex = make()
    ex.capture = TradeCapture([ex.instruments[s] for s in ex.instruments], capacity=1,
                              flush_every=7)
    ex.begin_day(THU)
    ex.open_session("day")
    for i in range(300):
        ex.submit(1, "KZTK", Side.SELL, price_ticks=100 + i % 5, lots=2)
        result = ex.submit(2, "KZTK", Side.BUY, price_ticks=200, lots=1 + i % 3)
        assert result.trades()["buy_order_id"].tolist() == [result.order_id] * len(result.trades())
    trades = ex.trades()
    assert len(trades) == ex.capture.count and trades["trade_id"].tolist() == list(
        range(1, len(trades) + 1))
    assert trades["qty"].sum() == sum(1 + i % 3 for i in range(300))


# --------------------------------------------------------------------------- market data


def test_session_stats_hand_computed():
    ex = make()
    ex.begin_day(THU)
    ex.open_session("morning")
    for px, lots in (("470.00", 2), ("470.40", 1), ("469.90", 3), ("470.10", 4)):
        ex.submit(1, "USDKZT_TOD", Side.BUY, px, lots * 1000)
        ex.submit(2, "USDKZT_TOD", Side.SELL, px, lots * 1000)
    ex.close_session("morning")
    ex.open_session("day")
    ex.submit(1, "USDKZT_TOD", Side.BUY, "471.00", 1000)
    ex.submit(2, "USDKZT_TOD", Side.SELL, "471.00", 1000)
    stats = ex.session_stats()
    assert [(s.session, s.instrument, s.trades) for s in stats] == [
        ("morning", "USDKZT_TOD", 4), ("day", "USDKZT_TOD", 1)]
    morning = stats[0]
    assert (morning.open, morning.high, morning.low, morning.close) == (
        Decimal("470.00"), Decimal("470.40"), Decimal("469.90"), Decimal("470.10"))
    assert (morning.volume, morning.volume_lots) == (Decimal("10000"), 10)
    # turnover 940,000 + 470,400 + 1,409,700 + 1,880,400 = 4,700,500.00 KZT; VWAP = 470.05
    assert morning.turnover == Decimal("4700500.00") and morning.vwap == Decimal("470.050000")
    assert morning.trade_date == THU
    assert ex.session_stats(dt.date(2024, 3, 6)) == []
    frame = ex.session_stats_frame()
    assert list(frame["session"]) == ["morning", "day"] and frame["vwap"][1] == Decimal(
        "471.000000")


def test_trades_table_and_frame():
    ex = make(reference_rates={"USDKZT": "470.00"})
    ex.begin_day(THU)
    ex.open_session("morning")
    ex.submit(1, "USDKZT_SWAP_1D", Side.BUY, "0.15", 2000)
    ex.submit(2, "USDKZT_SWAP_1D", Side.SELL, "0.15", 2000)
    ex.submit(1, "USDKZT_TOD", Side.BUY, "470", 1000)
    ex.submit(2, "USDKZT_TOD", Side.SELL, "470", 1000)
    table = ex.trades_table()
    assert table.num_rows == 2 and table.column_names == list(TABLE_COLUMNS)
    assert table.column("far_settle_date").to_pylist() == [MON, None]
    assert table.column("instrument").to_pylist() == ["USDKZT_SWAP_1D", "USDKZT_TOD"]
    for name in ("instrument", "session", "base_asset", "quote_asset", "settlement"):
        assert pa.types.is_dictionary(table.schema.field(name).type), name
    frame = ex.trades_frame()
    assert list(frame["quote_amount"]) == [94_000_000, 47_000_000]
    assert frame["instrument"].dtype == "category" and list(frame["session"]) == ["morning"] * 2
    assert list(frame["quote_asset"]) == ["KZT", "KZT"] and list(frame["settlement"]) == ["NET"] * 2


def test_official_rate_published_for_the_next_business_day():
    ex = make()
    ex.begin_day(THU)
    ex.open_session("morning")
    ex.submit(1, "USDKZT_TOD", Side.BUY, "470.00", 2000)
    ex.submit(2, "USDKZT_TOD", Side.SELL, "470.00", 2000)
    ex.close_session("morning")
    ex.open_session("evening")
    ex.set_time(16 * 3600)
    ex.submit(1, "USDKZT_TOM", Side.BUY, "471.00", 1000)
    ex.submit(2, "USDKZT_TOM", Side.SELL, "471.00", 1000)
    ex.set_time(17 * 3600)
    ex.submit(1, "USDKZT_SPT", Side.BUY, "472.00", 1000)
    ex.submit(2, "USDKZT_SPT", Side.SELL, "472.00", 1000)
    end = ex.end_of_day()
    # (470 x 2,000 + 471 x 1,000 + 472 x 1,000) / 4,000 = 470.75, in force Monday 11 March
    assert end.effective_date == MON and end.official_rates == {"USDKZT": Decimal("470.75")}
    assert ex.official_rate("USDKZT", MON) == ex.official_rate("USD/KZT", MON) == Decimal(
        "470.75")
    with pytest.raises(KeyError, match="2024-03-08"):
        ex.official_rate("USDKZT", dt.date(2024, 3, 8))
    with pytest.raises(KeyError, match="2024-03-07"):
        ex.official_rate("USDKZT", THU)
    with pytest.raises(KeyError, match="EURKZT"):
        ex.official_rate("EURKZT", MON)
    # The swap near leg on Monday settles at the official rate in force.
    ex.begin_day(MON)
    ex.open_session("morning")
    ex.submit(1, "USDKZT_SWAP_1D", Side.BUY, "0.20", 1000)
    ex.submit(2, "USDKZT_SWAP_1D", Side.SELL, "0.20", 1000)
    assert ex.trades()[-1]["quote_amount"] == 47_075 * 1000  # 470.75 x 1,000 USD in tiyn


@pytest.mark.parametrize("config, expected", [
    (FixingConfig(tenors=frozenset({1, 2})), Decimal("471.50")),
    (FixingConfig(cutoff=16.5 * 3600), Decimal("470.33")),  # 1411 / 3 = 470.333...
    (FixingConfig(tenors=frozenset({0})), Decimal("470.00")),
])
def test_fixing_tenors_and_cutoff_are_configurable(config, expected):
    ex = make(fixing=config)
    ex.begin_day(THU)
    ex.open_session("morning")
    ex.submit(1, "USDKZT_TOD", Side.BUY, "470.00", 2000)
    ex.submit(2, "USDKZT_TOD", Side.SELL, "470.00", 2000)
    ex.close_session("morning")
    ex.open_session("evening")
    for t, sym, px in ((16 * 3600, "USDKZT_TOM", "471.00"), (17 * 3600, "USDKZT_SPT",
                                                              "472.00")):
        ex.set_time(t)
        ex.submit(1, sym, Side.BUY, px, 1000)
        ex.submit(2, sym, Side.SELL, px, 1000)
    assert ex.end_of_day().official_rates == {"USDKZT": expected}
    assert ex.official_rate("USDKZT", MON) == expected


def test_no_spot_trades_publish_no_rate_and_swaps_need_a_reference():
    ex = make()
    ex.begin_day(THU)
    assert ex.end_of_day().official_rates == {}
    ex.begin_day(MON)
    ex.open_session("morning")
    with pytest.raises(ValueError, match="NO_REFERENCE_RATE"):
        ex.submit(1, "USDKZT_SWAP_1D", Side.BUY, "0.20", 1000)


def test_clearing_reads_the_records():
    """The records are what clearing's netting accepts, and every (asset, date) nets to 0."""
    from exchange.clearing import net

    ex = make(reference_rates={"USDKZT": "470.00"})
    ex.begin_day(THU)
    rng = np.random.default_rng(11)
    for session, symbols in (("morning", ["USDKZT_TOD", "USDKZT_SWAP_2D"]),
                             ("day", ["KZTK"]), ("evening", ["USDKZT_TOM", "EURUSD_SPT"])):
        ex.open_session(session)
        for _ in range(200):
            symbol = symbols[int(rng.integers(len(symbols)))]
            low = {"USDKZT_SWAP_2D": 20, "KZTK": 120_000, "EURUSD_SPT": 10_900}.get(symbol,
                                                                                  47_000)
            ex.submit(int(rng.integers(1, 3)), symbol, int(rng.integers(0, 2)),
                      price_ticks=low + int(rng.integers(0, 5)), lots=int(rng.integers(1, 5)))
        ex.close_session(session)
    obligations = net(ex.trades())
    assert len(obligations.net) and len(obligations.gross)
    per_key: dict = {}
    for row in obligations.net:
        key = (CODES.asset.name(row["asset"]), row["date"])
        per_key[key] = per_key.get(key, 0) + int(row["amount"])
    assert per_key and all(total == 0 for total in per_key.values())


def _mixed_day(flush_every: int) -> list:
    """A seeded day over spot, swap and security markets; the records as Python values."""
    ex = make(reference_rates={"USDKZT": "471.30", "EURKZT": "505.10"})
    ex.capture = TradeCapture([ex.instruments[s] for s in ex.instruments], flush_every=flush_every)
    ex.begin_day(THU)
    rng = np.random.default_rng(5)
    for session, symbols in (("morning", ["USDKZT_TOD", "EURKZT_SWAP_2D"]),
                             ("day", ["KZTK"]), ("evening", ["EURUSD_TOM", "RUBKZT_SPT"])):
        ex.open_session(session)
        for i in range(150):
            symbol = symbols[i % len(symbols)]
            ex.set_time(40_000 + i * 0.5)
            ex.submit(int(rng.integers(1, 3)), symbol, int(rng.integers(0, 2)),
                      price_ticks=int(rng.integers(100, 140)), lots=int(rng.integers(1, 30)))
        ex.close_session(session)
    return ex.trades().tolist()


def test_frequent_and_single_flushes_give_the_same_records():
    every_fill = _mixed_day(flush_every=1)  # a flush after every order's fills
    once = _mixed_day(flush_every=10**9)  # one flush of everything at the end
    assert len(every_fill) > 100
    assert every_fill == once

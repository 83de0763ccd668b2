"""Netting: per-member obligations against the CCP, checked against a per-trade reference;
every input form (numpy, Arrow, pandas, Parquet, streams) gives the same obligations."""
from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trade_rows import D1, D2, D3, gross_tuples, make_trades, names

from exchange.clearing import (
    EXCHANGE_FEES,
    Obligations,
    TradeValidationError,
    inputs,
    net,
    netting,
    trades_to_arrow,
)
from exchange.clearing.synthetic import (
    random_trade_chunks,
    random_trades,
    random_trades_arrow,
)
from exchange.codes import CODES
from exchange.records import GROSS, NET, TRADE_RECORD_DTYPE, empty_trades


def reference(trades: np.ndarray) -> tuple[dict, list]:
    """Per-trade Python loop: {(member, asset, date): amount} for NET, GROSS instruction tuples."""
    net_sum: dict = defaultdict(int)
    gross = []
    methods = CODES.settlement_of(trades["instrument"]).tolist()
    for t, method in zip(trades.tolist(), methods):
        r = dict(zip(TRADE_RECORD_DTYPE.names, t))
        b, s = r["buyer"], r["seller"]
        base, quote = CODES.asset.name(r["base_asset"]), CODES.asset.name(r["quote_asset"])
        day, far = np.datetime64(r["settle_date"], "D"), r["far_settle_date"]
        if method == NET:
            net_sum[(b, base, day)] += r["base_amount"]
            net_sum[(s, base, day)] -= r["base_amount"]
            net_sum[(b, quote, day)] -= r["quote_amount"] + r["fee_buyer"]
            net_sum[(s, quote, day)] += r["quote_amount"] - r["fee_seller"]
            net_sum[(EXCHANGE_FEES, quote, day)] += r["fee_buyer"] + r["fee_seller"]
            if far is not None:
                far = np.datetime64(far, "D")
                net_sum[(b, base, far)] -= r["base_amount"]  # the far leg returns the base amount
                net_sum[(s, base, far)] += r["base_amount"]
                net_sum[(b, quote, far)] += r["far_quote_amount"]
                net_sum[(s, quote, far)] -= r["far_quote_amount"]
        else:
            gross.append((r["trade_id"], 0, day, b, s, base, r["base_amount"], quote,
                          r["quote_amount"] + r["fee_buyer"], r["quote_amount"] - r["fee_seller"],
                          r["fee_buyer"] + r["fee_seller"]))
            if far is not None:
                gross.append((r["trade_id"], 1, np.datetime64(far, "D"), s, b, base, r["base_amount"], quote,
                              r["far_quote_amount"], r["far_quote_amount"], 0))
    return {k: v for k, v in net_sum.items() if v}, gross


def as_dict(obligations: Obligations) -> dict:
    n = obligations.net
    return {(int(m), a, np.datetime64(d, "D")): int(x)
            for m, a, d, x in zip(n["member"].tolist(), names(n["asset"]), n["date"], n["amount"].tolist())}


def same(a: Obligations, b: Obligations) -> bool:
    return np.array_equal(a.net, b.net) and np.array_equal(a.gross, b.gross) and a.keys == b.keys


def plain_strings(table: pa.Table) -> pa.Table:
    """The table with its dictionary columns as plain string columns."""
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(pa.string()))
    return table


# --------------------------------------------------------------------------- worked example


def test_worked_example_by_hand():
    trades = make_trades([
        dict(buyer=1, seller=2, base_amount=100, quote_amount=50_000, fee_buyer=10, fee_seller=5),
        dict(buyer=2, seller=3, base_amount=200, quote_amount=100_000, fee_buyer=20, fee_seller=20,
             far_settle_date=D2, far_quote_amount=100_100),
    ])
    got = as_dict(net(trades))
    assert got == {
        (1, "USD", D1): 100, (1, "KZT", D1): -50_010,
        (2, "USD", D1): -100 + 200, (2, "KZT", D1): 50_000 - 5 - 100_020,
        (3, "USD", D1): -200, (3, "KZT", D1): 100_000 - 20,
        (EXCHANGE_FEES, "KZT", D1): 10 + 5 + 20 + 20,
        # the swap's far leg runs the other way on its own date, without fees
        (2, "USD", D2): -200, (2, "KZT", D2): 100_100,
        (3, "USD", D2): 200, (3, "KZT", D2): -100_100,
    }


def test_gross_deal_kept_deal_by_deal():
    trades = make_trades([
        dict(buyer=4, seller=5, base_asset="HSBK", base_amount=10, quote_amount=2_500, fee_buyer=3, fee_seller=2,
             settlement=GROSS),
        dict(buyer=5, seller=4, base_asset="HSBK", base_amount=10, quote_amount=2_600, settlement=GROSS),
    ])
    o = net(trades)
    assert len(o.net) == 0  # GROSS deals are never netted
    assert gross_tuples(o.gross) == [
        (1, 0, D1, 4, 5, "HSBK", 10, "KZT", 2_503, 2_498, 5),
        (2, 0, D1, 5, 4, "HSBK", 10, "KZT", 2_600, 2_600, 0),
    ]


def test_gross_repo_far_leg_reverses_roles():
    trades = make_trades([dict(buyer=1, seller=2, base_asset="KZTO", base_amount=7, quote_amount=700,
                               fee_buyer=1, settlement=GROSS, far_settle_date=D3, far_quote_amount=710)])
    assert gross_tuples(net(trades).gross) == [
        (1, 0, D1, 1, 2, "KZTO", 7, "KZT", 701, 700, 1),
        (1, 1, D3, 2, 1, "KZTO", 7, "KZT", 710, 710, 0),
    ]


def test_zero_net_positions_are_not_listed():
    trades = make_trades([
        dict(buyer=1, seller=2, base_amount=100, quote_amount=1_000),
        dict(buyer=2, seller=1, base_amount=100, quote_amount=1_000),
    ])
    assert len(net(trades).net) == 0


def test_empty_input_gives_empty_obligations():
    o = net(empty_trades(0))
    assert len(o) == 0 and o.net.dtype == netting.OBLIGATION_DTYPE and o.gross.dtype == netting.GROSS_DTYPE


def test_keys_name_every_leg_by_due_date():
    trades = make_trades([
        dict(trade_id=5, buyer=1, seller=2, base_amount=1, quote_amount=1, far_settle_date=D2, far_quote_amount=2),
        dict(trade_id=6, buyer=1, seller=2, base_amount=1, quote_amount=1, settlement=GROSS, base_asset="HSBK"),
    ])
    keys = net(trades).keys
    d1, d2 = (int(d.astype(np.int64)) for d in (D1, D2))
    assert dict((k, v.tolist()) for k, v in keys.items()) == {(d1, d1): [5, 6], (d2, d1): [5]}


# --------------------------------------------------------------------------- properties

members = st.integers(0, 6)
amounts = st.integers(0, 10**12)


@st.composite
def trade_sets(draw, max_size: int = 40) -> np.ndarray:
    n = draw(st.integers(0, max_size))
    rows = []
    for i in range(n):
        base, quote = draw(st.sampled_from([("USD", "KZT"), ("EUR", "KZT"), ("EUR", "USD"), ("HSBK", "KZT")]))
        day = D1 + draw(st.integers(0, 3))
        row = dict(trade_id=100 + i, buyer=draw(members), seller=draw(members), base_asset=base, quote_asset=quote,
                   trade_date=D1 + draw(st.integers(0, 1)), settle_date=day, base_amount=draw(amounts),
                   quote_amount=draw(amounts), fee_buyer=draw(st.integers(0, 10**6)),
                   fee_seller=draw(st.integers(0, 10**6)), settlement=draw(st.sampled_from([NET, NET, GROSS])),
                   qty=draw(st.integers(1, 100)))
        if draw(st.booleans()):
            row.update(far_settle_date=day + draw(st.integers(0, 5)), far_quote_amount=draw(amounts))
        rows.append(row)
    return make_trades(rows)


@settings(max_examples=150)
@given(trade_sets())
def test_matches_per_trade_reference(trades):
    o = net(trades)
    expected_net, expected_gross = reference(trades)
    assert as_dict(o) == expected_net
    key = lambda g: (g[2], g[0], g[1])
    assert gross_tuples(o.gross) == sorted(expected_gross, key=key)


@settings(max_examples=150)
@given(trade_sets())
def test_every_asset_and_date_nets_to_zero(trades):
    o = net(trades)
    sums: dict = defaultdict(int)
    for _, asset, day, amount in o.net.tolist():
        sums[(asset, day)] += amount
    assert all(v == 0 for v in sums.values())
    assert (o.imbalance()["amount"] == 0).all()
    # the GROSS fee is exactly what the receiver pays beyond what the deliverer gets
    assert (o.gross["pay_amount"] - o.gross["proceeds"] == o.gross["fee"]).all()


@settings(max_examples=60)
@given(trade_sets())
def test_arrow_pandas_and_streams_give_the_same_obligations(trades):
    o = net(trades)
    table = trades_to_arrow(trades)
    for other in (table, plain_strings(table), table.to_pandas(), table.to_pandas(date_as_object=False),
                  [trades[:3], trades[3:]], iter(table.to_batches(max_chunksize=4))):
        assert same(o, net(other))


def test_small_chunks_give_the_same_obligations(monkeypatch):
    trades = random_trades(5_000, members=7, days=3, seed=4)
    whole = net(trades)
    monkeypatch.setattr(inputs, "CHUNK", 37)
    assert same(whole, net(trades))
    backwards = net(trades[::-1])  # record order changes nothing but the order of GROSS deals
    assert np.array_equal(whole.net, backwards.net) and whole.keys == backwards.keys
    assert sorted(backwards.gross.tolist()) == sorted(whole.gross.tolist()) != backwards.gross.tolist()


def test_chunked_arrow_with_different_dictionaries():
    trades = random_trades(3_000, members=7, days=2, seed=3)
    table = pa.concat_tables([trades_to_arrow(trades[:1000]), trades_to_arrow(trades[1000:][::-1])])
    assert table.column("base_asset").num_chunks == 2
    assert np.array_equal(net(table).net, net(trades).net)


def test_synthetic_numpy_arrow_and_chunk_generators_agree():
    a, b = net(random_trades(5_000, days=3, seed=9)), net(random_trades_arrow(5_000, days=3, seed=9))
    assert same(a, b) and len(a.net) > 0 and len(a.gross) > 0
    assert same(a, net(random_trade_chunks(5_000, days=3, seed=9)))


def test_exchange_frame_and_parquet_read_back_as_they_are(tmp_path):
    trades = random_trades(4_000, days=2, seed=8)
    expected = net(trades)
    pq.write_table(trades_to_arrow(trades), tmp_path / "trades.parquet")
    back = pq.read_table(tmp_path / "trades.parquet")
    assert back.column("base_asset").to_pylist()[:1] in (["USD"], ["EUR"], ["RUB"], ["HSBK"], ["KCEL"], ["KZTO"],
                                                         ["KEGC"])
    assert same(expected, net(back))
    assert same(expected, net(back.to_pandas()))
    assert same(expected, net(pq.ParquetFile(tmp_path / "trades.parquet")))


def test_member_ids_at_the_int32_limit_and_far_apart_dates():
    top = 2**31 - 1
    trades = make_trades([
        dict(buyer=top, seller=7, base_amount=5, quote_amount=9, settle_date="2024-01-01", trade_date="2024-01-01"),
        dict(buyer=7, seller=top - 1, base_amount=5, quote_amount=9, settle_date="9000-01-01",
             trade_date="9000-01-01"),
    ])
    assert as_dict(net(trades)) == reference(trades)[0]


def test_long_and_non_latin_asset_names():
    trades = make_trades([dict(buyer=1, seller=2, base_asset="ТЕНГЕ_ОБЛИГ", quote_asset="ABCDEFGHIJKL",
                               base_amount=3, quote_amount=4)])
    assert as_dict(net(trades)) == reference(trades)[0]


def test_for_date_and_dates():
    trades = random_trades(2_000, days=3, seed=2)
    o = net(trades)
    days = o.dates()
    assert list(days) == sorted(set(o.net["date"].tolist()) | set(o.gross["date"].tolist()))
    parts = [o.for_date(d) for d in days]
    assert sum(len(p.net) for p in parts) == len(o.net)
    assert sum(len(p.keys) for p in parts) == len(o.keys)
    assert all((p.net["date"] == d).all() and (p.gross["date"] == d).all() for p, d in zip(parts, days))


def test_to_arrow_and_pandas_show_names():
    o = net(random_trades(500, seed=1))
    table = o.to_arrow()
    assert table.column_names == ["member", "asset", "date", "amount"]
    assert pa.types.is_dictionary(table.schema.field("asset").type)
    assert set(table.column("asset").to_pylist()) <= {"USD", "EUR", "RUB", "KZT"}
    assert table.num_rows == len(o.net) and table.column("amount").to_pylist() == o.net["amount"].tolist()
    frame = o.to_pandas()
    assert frame["amount"].sum() == 0 and frame["asset"].dtype == "category"
    gross = o.gross_to_pandas()
    assert gross.shape[0] == len(o.gross) and set(gross["quote_asset"]) == {"KZT"}


def test_digest_depends_on_names_not_codes():
    trades = make_trades([dict(buyer=1, seller=2, base_amount=3, quote_amount=4)])
    o = net(trades)
    renamed = make_trades([dict(buyer=1, seller=2, base_asset="EUR", base_amount=3, quote_amount=4)])
    assert o.digest() == net(trades.copy()).digest() != net(renamed).digest()


# --------------------------------------------------------------------------- bad input


def one_trade(**overrides) -> np.ndarray:
    return make_trades([{**dict(buyer=1, seller=2, base_amount=10, quote_amount=20), **overrides}])


@pytest.mark.parametrize(
    "overrides, field",
    [
        (dict(qty=-1), "qty"),
        (dict(qty=0), "qty"),
        (dict(base_amount=-10), "base_amount"),
        (dict(quote_amount=-1), "quote_amount"),
        (dict(fee_buyer=-1), "fee_buyer"),
        (dict(far_settle_date=D2, far_quote_amount=-3), "far_quote_amount"),
        (dict(buyer=-1), "buyer"),
        (dict(settle_date=np.datetime64("NaT")), "settle_date"),
        (dict(trade_date=np.datetime64("NaT")), "trade_date"),
        (dict(far_quote_amount=5), "far_settle_date"),
        (dict(far_settle_date="2024-02-01", far_quote_amount=5), "far_settle_date"),
        (dict(quote_asset="USD"), "quote_asset"),
    ],
)
def test_bad_values_name_the_field_and_trade(overrides, field):
    trades = one_trade(trade_id=77, **overrides)
    with pytest.raises(TradeValidationError, match=field) as info:
        net(trades)
    assert "trade_id 77" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_bad_codes_and_settlement_are_refused():
    trades = one_trade()
    trades["base_asset"] = 32_000
    with pytest.raises(TradeValidationError, match="base_asset: code 32000 names no asset"):
        net(trades)
    table = trades_to_arrow(one_trade(trade_id=9))
    table = table.set_column(table.column_names.index("settlement"), "settlement", pa.array([2], pa.int8()))
    with pytest.raises(TradeValidationError, match="settlement: 2 is neither NET"):
        net(table)
    unregistered = one_trade()
    unregistered["instrument"] = CODES.instrument.code("NEVER_REGISTERED")
    with pytest.raises(TradeValidationError, match="'NEVER_REGISTERED' has no registered settlement method"):
        net(unregistered)


def test_duplicate_trades_are_refused():
    """Issue 10: net() accepted the same trade id twice."""
    row = dict(buyer=1, seller=2, base_amount=10, quote_amount=20)
    twice = make_trades([dict(row, trade_id=5), dict(row, trade_id=5)])
    with pytest.raises(TradeValidationError, match="trade_id: 5 appears more than once on trade date 2024-03-01"):
        net(twice)
    shuffled = make_trades([dict(row, trade_id=i) for i in (3, 1, 2, 1)])
    with pytest.raises(TradeValidationError, match="trade_id: 1 appears more than once"):
        net(shuffled)
    other_settle_date = make_trades([dict(row, trade_id=4), dict(row, trade_id=4, settle_date=D2)])
    with pytest.raises(TradeValidationError, match="trade_id: 4 appears more than once"):
        net(other_settle_date)
    # the same id on another trade date is another trade (an exchange numbers each day anew)
    assert len(net(make_trades([dict(row, trade_id=1), dict(row, trade_id=1, trade_date=D2, settle_date=D2)])).net)


def test_pandas_frame_is_accepted():
    """Issue 10: net() refused the DataFrame that Exchange.trades_frame() makes."""
    trades = random_trades(300, seed=6)
    assert same(net(trades), net(trades_to_arrow(trades).to_pandas(date_as_object=False)))


def test_arrow_codes_and_far_base_mismatch_are_refused():
    table = trades_to_arrow(one_trade())
    codes = table.set_column(table.column_names.index("base_asset"), "base_asset", pa.array([0], pa.int16()))
    with pytest.raises(TradeValidationError, match="base_asset: expected names"):
        net(codes)
    i = table.column_names.index("far_base_amount")
    bad = table.set_column(i, "far_base_amount", pa.array([3], pa.int64()))
    with pytest.raises(TradeValidationError, match="far_base_amount: 3 is not the base amount"):
        net(bad)


@pytest.mark.parametrize(
    "trades, message",
    [
        (np.zeros(3, np.int64), "structured array"),
        (np.zeros(3, [("buyer", "i8")]), "missing fields"),
        (np.zeros(3, [(n, "f8" if n == "base_amount" else TRADE_RECORD_DTYPE[n]) for n in TRADE_RECORD_DTYPE.names]),
         "base_amount: expected an integer dtype"),
        ([1, 2, 3], "expected trade records"),
        ("trades.parquet", "expected trade records"),
        (pa.table({"buyer": [1]}), "missing columns"),
    ],
)
def test_bad_containers_and_dtypes(trades, message):
    with pytest.raises(TradeValidationError, match=message):
        net(trades)


def test_arrow_nulls_rejected():
    table = trades_to_arrow(one_trade())
    i = table.column_names.index("quote_amount")
    table = table.set_column(i, "quote_amount", pa.array([None], pa.int64()))
    with pytest.raises(TradeValidationError, match="quote_amount: 1 null"):
        net(table)


def test_overflowing_totals_rejected():
    trades = make_trades([dict(buyer=1, seller=2, base_amount=2**62, quote_amount=1, trade_id=i) for i in (1, 2)])
    with pytest.raises(TradeValidationError, match="base_amount: total .* overflow"):
        net(trades)

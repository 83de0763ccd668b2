"""The agent framework: the README example, the scheduler's contract, views and draws."""
from __future__ import annotations

import datetime as dt
import textwrap

import numpy as np
import pytest

import exchange.sim as sim
from exchange import TIF, Exchange
from exchange.sim import Agent, MarketMaker, NoiseTrader, Random, Scheduler, SimClock

DATE = dt.date(2026, 11, 27)


def _example_code() -> str:
    """The indented literal block after "Your own agent::" in the package docstring."""
    lines = sim.__doc__.split("Your own agent::", 1)[1].splitlines()[1:]
    block = []
    for line in lines:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block))


def test_the_docstring_example_runs_and_trades(capsys):
    code = _example_code()
    assert 10 <= len([line for line in code.splitlines() if line.strip()]) <= 20
    namespace: dict = {}
    exec(compile(code, "exchange.sim example", "exec"), namespace)
    run, ex = namespace["run"], namespace["ex"]
    assert run.orders >= 2_000 and run.trades > 0
    assert run.trades == len(ex.trades())
    buyer = ex.trades()["buyer"]
    assert (buyer == 1).sum() > 0  # the user's agent bought
    printed = capsys.readouterr().out.split()
    assert printed[:2] == [str(run.orders), str(run.trades)]


def _exchange(members=(1, 2, 3)):
    clock = SimClock()
    ex = Exchange(clock=clock, reference_rates={"USDKZT": "505"})
    for m in members:
        ex.add_member(m, f"member {m}")
    ex.begin_day(DATE)
    return ex, clock


def _agents():
    return [MarketMaker(1, weight=2, symbols=["USDKZT_TOD", "EURKZT_TOD"]),
            NoiseTrader(2, symbols=["USDKZT_TOD", "EURKZT_TOD"]),
            NoiseTrader(3, symbols=["USDKZT_TOD"])]


def _session(seed: int) -> tuple[np.ndarray, object]:
    ex, clock = _exchange()
    run = Scheduler(ex, _agents(), seed=seed, clock=clock).run_session("morning", 1_500)
    return ex.trades().copy(), run


def test_a_session_is_a_function_of_the_seed():
    a, run_a = _session(21)
    b, run_b = _session(21)
    c, _ = _session(22)
    assert len(a) > 50 and a.tobytes() == b.tobytes()
    assert (run_a.orders, run_a.turns) == (run_b.orders, run_b.turns)
    assert a.tobytes() != c.tobytes()
    assert (a["time"] >= 36_000).all() and (a["time"] <= 41_400).all()


def test_run_session_reports_and_expires():
    ex, clock = _exchange()
    run = Scheduler(ex, _agents(), seed=1, clock=clock).run_session("morning", 1_000)
    assert run.name == "morning"
    assert "USDKZT_TOD" in run.symbols and "USDKZT_TOM" not in run.symbols  # TOD only
    assert 1_000 <= run.orders <= 1_001 and run.turns >= run.orders // 2
    assert run.expired > 0  # resting orders expired at the close
    assert len(ex.book("USDKZT_TOD")) == 0
    bids, asks = run.depth["USDKZT_TOD"]
    assert bids.shape[1] == 2 and int(bids[:, 1].sum() + asks[:, 1].sum()) > 0
    assert run.trades == len(ex.trades())


def test_an_agent_that_sends_nothing_stops_the_session_as_idle():
    class Silent(Agent):
        def act(self, view, rng):
            pass

    ex, clock = _exchange((1,))
    run = Scheduler(ex, [Silent(1)], seed=1, clock=clock).run_session("morning", 50)
    assert run.idle and run.orders == 0 and run.turns >= 10_000


def test_scheduler_refuses_bad_setups():
    ex, clock = _exchange((1,))
    with pytest.raises(KeyError, match="member 9"):
        Scheduler(ex, [NoiseTrader(9)], seed=1, clock=clock)
    with pytest.raises(ValueError, match="does not read this clock"):
        Scheduler(ex, [NoiseTrader(1)], seed=1, clock=SimClock())
    with pytest.raises(ValueError, match="seed"):
        Scheduler(ex, [NoiseTrader(1)], seed=-1, clock=clock)
    with pytest.raises(ValueError, match="agents"):
        Scheduler(ex, [], seed=1, clock=clock)
    with pytest.raises(TypeError, match="Agent"):
        Scheduler(ex, [object()], seed=1, clock=clock)
    with pytest.raises(ValueError, match="orders"):
        Scheduler(ex, [NoiseTrader(1)], seed=1, clock=clock).run_session("morning", 0)


def test_without_a_clock_the_scheduler_sets_the_exchange_time():
    ex = Exchange(reference_rates={"USDKZT": "505"})
    ex.add_member(1, "a")
    ex.add_member(2, "b")
    ex.begin_day(DATE)
    agents = [MarketMaker(1, symbols=["USDKZT_TOD"]), NoiseTrader(2, symbols=["USDKZT_TOD"])]
    Scheduler(ex, agents, seed=4).run_session("morning", 500)
    times = ex.trades()["time"]
    assert len(times) and times.min() >= 36_000 and times.max() <= 41_400


def test_view_tracks_own_orders_and_counts_refusals():
    ex, clock = _exchange((1, 2))
    scheduler = Scheduler(ex, [NoiseTrader(1), NoiseTrader(2)], seed=1, clock=clock)
    ex.open_session("morning")
    mine, other = scheduler.views
    placed = mine.buy("USDKZT_TOD", 50_000, 3)
    assert placed is not None and mine.open_orders("USDKZT_TOD", 0) == [placed.order_id]
    taken = other.sell("USDKZT_TOD", 50_000, 3, tif=TIF.IOC)
    assert taken.executed_qty == 3
    # tracked until someone looks: tracked_orders does not check the book, open_orders does
    assert mine.tracked_orders("USDKZT_TOD", 0) == [placed.order_id]
    assert not mine.is_resting("USDKZT_TOD", placed.order_id)
    assert mine.open_orders("USDKZT_TOD", 0) == []
    assert mine.tracked_orders("USDKZT_TOD", 0) == []
    kept = mine.buy("USDKZT_TOD", 49_000, 1)
    mine.untrack(kept.order_id)
    assert mine.open_orders("USDKZT_TOD", 0) == [] and mine.is_resting("USDKZT_TOD",
                                                                        kept.order_id)
    assert mine.limit("USDKZT_TOD", 0, 50_000, 1, tif=TIF.FOK) is None
    assert mine.last_refusal.reason.value == "FOK_NOT_FILLED"
    assert sum(mine.refusals.values()) == 1
    assert mine.cancel(12345) is False
    assert mine.last_refusal.reason.value == "UNKNOWN_ORDER"
    assert scheduler.tally.n == 5  # buy, sell, buy, FOK, cancel: refused ones count too


def test_random_is_seeded_and_in_range():
    a, b = Random(5, block=7), Random(5, block=7)
    draws_a = [a.random() for _ in range(20)] + [a.integers(3, 9) for _ in range(50)]
    draws_b = [b.random() for _ in range(20)] + [b.integers(3, 9) for _ in range(50)]
    assert draws_a == draws_b
    assert all(0 <= x < 1 for x in draws_a[:20]) and set(draws_a[20:]) <= set(range(3, 9))
    assert min(Random(1).exponential(2.0) for _ in range(100)) >= 0
    with pytest.raises(ValueError, match="high"):
        a.integers(4, 4)
    with pytest.raises(ValueError, match="empty"):
        a.choice([])


def test_agent_arguments_are_checked():
    with pytest.raises(TypeError, match="member"):
        NoiseTrader("1")
    with pytest.raises(ValueError, match="weight"):
        NoiseTrader(1, weight=0)
    with pytest.raises(ValueError, match="p_cancel"):
        NoiseTrader(1, p_cancel=1.5)
    with pytest.raises(ValueError, match="levels"):
        MarketMaker(1, levels=0)
    with pytest.raises(NotImplementedError):
        Agent(1).act(None, None)

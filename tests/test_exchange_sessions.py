"""Sessions: the schedule, the state machine, the trading day and expiries at each close."""
from __future__ import annotations

import datetime as dt

import pytest

from exchange import Exchange, ExecType, OrdStatus, RejectReason, SessionState
from exchange.reference.calendar import Calendar, NonBusinessDayError
from exchange.venue.codes import OrderRejected
from exchange.reference.instruments import default_instruments
from exchange.venue.sessions import (
    DEFAULT_TIMES,
    SessionError,
    SessionSchedule,
    TradingDay,
    default_assignment,
    seconds,
)

THU = dt.date(2024, 3, 7)  # a KZ business day; Fri 8 March is a KZ holiday
CALENDAR = Calendar()


@pytest.fixture
def ex() -> Exchange:
    exchange = Exchange(calendar=CALENDAR, reference_rates={"USDKZT": "470.00"})
    for member in (1, 2):
        exchange.add_member(member, f"member {member}")
    return exchange


# --------------------------------------------------------------------------- schedule


def test_default_schedule_times_and_assignment():
    schedule = SessionSchedule()
    assert [(s.name, s.start, s.end) for s in schedule.specs] == [
        ("morning", 36_000.0, 41_400.0), ("day", 41_400.0, 55_800.0),
        ("evening", 55_800.0, 63_000.0)]
    instruments = default_instruments()
    by_symbol = {sym: schedule.sessions_of(instruments[sym]) for sym in instruments}
    assert by_symbol["USDKZT_TOD"] == (0, 1)
    assert by_symbol["USDKZT_SWAP_1D"] == (0, 1)  # swaps start TOD
    assert by_symbol["USDKZT_TOM"] == (2,) and by_symbol["EURUSD_SPT"] == (2,)
    assert by_symbol["KZTK"] == (1,) and by_symbol["MEKAM_0120"] == (1,)
    assert schedule.session_at("10:00") == "morning" and schedule.session_at(41_400) == "day"
    assert schedule.session_at("17:30") is None and schedule.session_at("09:59:59") is None


def test_schedule_is_configurable_and_checked():
    schedule = SessionSchedule(times={"morning": ("09:30", "10:00")},
                               overrides={"KZTK": ("morning", "day")})
    assert schedule.spec("morning").start == 34_200.0
    assert schedule.sessions_of(default_instruments()["KZTK"]) == (0, 1)
    with pytest.raises(SessionError, match="'night'"):
        SessionSchedule(times={"night": (0, 1)})
    with pytest.raises(SessionError, match="starts at .* before 'morning' ends"):
        SessionSchedule(times={"day": ("11:00", "12:00")})
    with pytest.raises(SessionError, match="start .* is not before end"):
        SessionSchedule(times={"evening": ("18:00", "17:00")})
    # the evening session trades T+1/T+2: a T+0 instrument cannot be put there
    bad = SessionSchedule(overrides={"USDKZT_TOD": ("evening",)})
    with pytest.raises(SessionError, match="USDKZT_TOD settles T\\+0 .* 'evening'"):
        bad.sessions_of(default_instruments()["USDKZT_TOD"])
    with pytest.raises(SessionError, match="unknown session 'lunch'"):
        SessionSchedule(overrides={"KZTK": ("lunch",)}).sessions_of(default_instruments()["KZTK"])


@pytest.mark.parametrize("value, expected", [("10:30", 37_800.0), ("10:30:15", 37_815.0),
                                             (dt.time(15, 30), 55_800.0), (3600, 3600.0)])
def test_seconds_accepts_times(value, expected):
    assert seconds(value) == expected


@pytest.mark.parametrize("value, exc", [("25:00", ValueError), ("10", ValueError),
                                        (-1, ValueError), (1e9, ValueError), (None, TypeError),
                                        (True, TypeError)])
def test_seconds_refuses_bad_times(value, exc):
    with pytest.raises(exc):
        seconds(value)


def test_default_assignment_by_kind():
    ins = default_instruments()
    assert default_assignment(ins["EURKZT_SWAP_2D"]) == ("morning", "day")
    assert default_assignment(ins["RUBKZT_SPT"]) == ("evening",)
    assert default_assignment(ins["KZTO_B1"]) == ("day",)
    assert DEFAULT_TIMES["evening"][1] == 17 * 3600 + 1800


# --------------------------------------------------------------------------- state machine


def test_state_machine_transitions_and_errors():
    day = TradingDay(THU, SessionSchedule())
    assert [day.state(n) for n in ("morning", "day", "evening")] == [SessionState.CLOSED] * 3
    day.open("morning")
    assert day.state("morning") is SessionState.OPEN and day.open_session.name == "morning"
    with pytest.raises(SessionError, match="cannot open session 'day': session 'morning' is "
                                           "OPEN"):
        day.open("day")
    with pytest.raises(SessionError, match="cannot open session 'morning': it is OPEN"):
        day.open("morning")
    with pytest.raises(SessionError, match="cannot close session 'evening': it is CLOSED"):
        day.close("evening")
    with pytest.raises(SessionError, match="cannot end trading day .* 'morning' is OPEN"):
        day.end()
    day.close("morning")
    with pytest.raises(SessionError, match="cannot open session 'morning': it is CLOSED_FOR_DAY"):
        day.open("morning")
    with pytest.raises(SessionError, match="cannot close session 'morning': it is "
                                           "CLOSED_FOR_DAY"):
        day.close("morning")
    day.open("evening")  # skips the day session
    assert day.state("day") is SessionState.CLOSED_FOR_DAY
    day.close("evening")
    day.end()
    with pytest.raises(SessionError, match="has ended"):
        day.open("day")
    with pytest.raises(SessionError, match="already ended"):
        day.end()


def test_begin_day_refuses_non_business_days_and_out_of_order_dates(ex):
    with pytest.raises(NonBusinessDayError, match="2024-03-08 is not a business day in KZ"):
        ex.begin_day(dt.date(2024, 3, 8))  # International Women's Day
    with pytest.raises(NonBusinessDayError, match="2024-03-09"):
        ex.begin_day(dt.date(2024, 3, 9))  # Saturday
    assert ex.date is None
    with pytest.raises(TypeError):
        ex.begin_day(dt.datetime(2024, 3, 7, 10))
    ex.begin_day(THU)
    with pytest.raises(SessionError, match="2024-03-07 has not ended"):
        ex.begin_day(dt.date(2024, 3, 11))
    ex.end_of_day()
    with pytest.raises(SessionError, match="dates must advance"):
        ex.begin_day(THU)
    ex.begin_day(dt.date(2024, 3, 11))
    assert ex.date == dt.date(2024, 3, 11)


def test_session_transitions_need_a_live_day(ex):
    with pytest.raises(SessionError, match="no trading day has begun"):
        ex.open_session("morning")
    with pytest.raises(SessionError, match="no trading day has begun"):
        ex.end_of_day()
    assert ex.session_state("day") is SessionState.CLOSED
    ex.begin_day(THU)
    ex.end_of_day()
    with pytest.raises(SessionError, match="has ended"):
        ex.open_session("evening")
    with pytest.raises(SessionError, match="unknown session"):
        ex.session_state("night")


def test_orders_refused_outside_their_session_and_before_the_day(ex):
    with pytest.raises(OrderRejected) as info:
        ex.submit(1, "USDKZT_TOD", 0, "470", 1000)
    assert info.value.reason is RejectReason.NO_TRADING_DAY
    ex.begin_day(THU)
    ex.open_session("morning")
    for symbol in ("USDKZT_TOM", "KZTK"):  # evening, day
        with pytest.raises(OrderRejected) as info:
            ex.submit(1, symbol, 0, "470", 1)
        assert info.value.reason is RejectReason.SESSION_CLOSED
        assert symbol in info.value.message
    ex.close_session("morning")
    with pytest.raises(OrderRejected) as info:
        ex.submit(1, "USDKZT_TOD", 0, "470", 1000)
    assert info.value.reason is RejectReason.SESSION_CLOSED
    assert ex.rejections() == {RejectReason.NO_TRADING_DAY: 1, RejectReason.SESSION_CLOSED: 3}


def test_instrument_that_cannot_settle_today_is_refused(ex):
    ex.begin_day(dt.date(2024, 7, 4))  # US holiday: USD does not settle T+0
    ex.open_session("morning")
    with pytest.raises(OrderRejected) as info:
        ex.submit(1, "USDKZT_TOD", 0, "470", 1000)
    assert info.value.reason is RejectReason.NOT_TRADING_DAY
    assert "2024-07-04" in info.value.message and "US" in info.value.message
    assert ex.submit(1, "EURKZT_TOD", 0, "510", 1000).leaves_qty == 1  # EUR/KZT trades
    ex.close_session("morning")
    ex.open_session("evening")
    assert ex.submit(1, "USDKZT_TOM", 0, "470", 1000).leaves_qty == 1  # T+1 settles 5 July


def test_whole_day_of_three_sessions_expires_orders_at_each_close(ex):
    events = []
    ex.subscribe(events.append)
    ex.begin_day(THU)
    ex.set_time(36_000)
    ex.open_session("morning")
    a = ex.submit(1, "USDKZT_TOD", 0, "470.00", 5000, client_order_id="m-bid")
    b = ex.submit(2, "USDKZT_TOD", 1, "470.00", 2000)
    assert (a.status, b.status) == (OrdStatus.NEW, OrdStatus.FILLED)
    ex.set_time(41_400)
    morning = ex.close_session("morning")
    assert [(e.order_id, e.member, e.instrument, e.side, e.price_ticks, e.qty)
            for e in morning] == [(a.order_id, 1, "USDKZT_TOD", 0, 47_000, 3)]
    assert len(ex.book("USDKZT_TOD")) == 0
    expired = [e for e in events if e.exec_type is ExecType.EXPIRED]
    assert len(expired) == 1 and expired[0].ord_status is OrdStatus.EXPIRED
    assert (expired[0].order_id, expired[0].cl_ord_id, expired[0].cum_qty,
            expired[0].leaves_qty, expired[0].transact_time) == (a.order_id, "m-bid", 2, 0,
                                                                  41_400.0)

    ex.open_session("day")
    ex.deposit(1, "KZTK", 10)  # securities are pre-funded by every member
    c = ex.submit(1, "KZTK", 1, "1200.50", 10)
    d = ex.submit(2, "USDKZT_TOD", 0, "469.00", 1000)
    day = ex.close_session("day")
    assert sorted(e.order_id for e in day) == [c.order_id, d.order_id]

    ex.open_session("evening")
    e = ex.submit(1, "USDKZT_SPT", 0, "471.00", 1000)
    with pytest.raises(OrderRejected):
        ex.submit(1, "USDKZT_TOD", 0, "470", 1000)
    end = ex.end_of_day()  # closes the evening session: its orders expire too
    assert [x.order_id for x in end.expired] == [e.order_id]
    assert all(ex.session_state(n) is SessionState.CLOSED_FOR_DAY
               for n in ("morning", "day", "evening"))
    assert sum(1 for x in events if x.exec_type is ExecType.EXPIRED) == 4
    assert len(ex.trades()) == 1 and ex.trades()["session"][0] == 0


def test_clock_is_the_callers(ex):
    now = [36_000.0]
    clocked = Exchange(calendar=CALENDAR, clock=lambda: now[0])
    clocked.add_member(1, "a")
    clocked.add_member(2, "b")
    clocked.begin_day(THU)
    clocked.open_session("morning")
    clocked.submit(1, "USDKZT_TOD", 0, "470", 1000)
    now[0] = 37_000.5
    clocked.submit(2, "USDKZT_TOD", 1, "470", 1000)
    assert clocked.trades()["time"].tolist() == [37_000.5]
    with pytest.raises(ValueError, match="clock callable"):
        clocked.set_time(1.0)
    with pytest.raises(ValueError):
        ex.set_time(-1)
    with pytest.raises(ValueError):
        ex.set_time(float("nan"))
    ex.set_time(12.5)
    assert ex.now() == 12.5

"""The key numbers of a simulated day as plain tables, for the console and the HTML report.

Each function takes a :class:`~exchange.sim.day.DayResult` (those typed :class:`Outcome`
also a multi-day :class:`~exchange.sim.days.RunResult`) and returns a :class:`Table`:
a title, column names, rows of already formatted strings (amounts in whole units with
thousands separators, prices on the instrument's tick grid) and which columns are numeric
(right-aligned). Nothing here prints or draws; ``console`` and ``report`` render these.
Wall-clock speeds are the only figures that differ between two runs of one seed; they are
always written ``N/s`` (:func:`per_second`).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

import numpy as np

from exchange.clearing import Obligations
from exchange.codes import CODES
from exchange.sim.day import DayResult, SettlementDay
from exchange.sim.days import RunResult
from exchange.sim.scenario import Scenario

__all__ = ["Outcome", "RunFacts", "Table", "all_tables", "days", "hhmm", "kzt_turnover",
           "members", "money", "net_totals", "obligations", "obligations_by_date",
           "official_rates", "outstanding", "overview", "per_second", "refusals", "run_facts",
           "session_runs", "session_stats", "settlement", "usd_sessions"]


class Outcome(Protocol):
    """What a day and a multi-day run both have: trades, NET obligations, settlement runs,
    what is still owed, the opening balances, and the scenario's names."""

    @property
    def scenario(self) -> Scenario: ...
    @property
    def trades(self) -> np.ndarray: ...
    @property
    def obligations(self) -> Obligations: ...
    @property
    def settlements(self) -> list[SettlementDay]: ...
    @property
    def outstanding(self) -> list[tuple[str, int, str, int]]: ...
    @property
    def opening(self) -> dict[tuple[int, str], int]: ...
    def member_name(self, member: int) -> str: ...


@dataclass(frozen=True)
class Table:
    """A titled table of formatted cells; ``numeric[i]`` right-aligns column i."""

    key: str
    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]
    note: str = ""
    highlight: list[bool] = field(default_factory=list)  # rows to emphasise (failures)
    keys: int = 1  # leading columns that name a row: repeated when a wide table is split


def money(result: Outcome, asset: str, minor: int, places: int | None = None) -> str:
    """``minor`` units of ``asset`` as whole units with thousands separators."""
    value = result.scenario.instruments.assets[asset].from_minor(int(minor))
    if places is not None:
        return f"{value:,.{places}f}"
    return f"{value:,}"


def per_second(count: float) -> str:
    """A wall-clock rate, e.g. ``84,128/s``."""
    return f"{count:,.0f}/s"


def _price(value: Decimal) -> str:
    return f"{value:,}"


def overview(result: DayResult) -> Table:
    """The day in a few numbers."""
    trades = result.trades
    rows = [
        ["Trade date", result.date.isoformat()],
        ["Seed", str(result.scenario.seed)],
        ["Members", f"{len(result.scenario.members)} "
                    f"({sum(m.regime.value == 'PREFUNDED' for m in result.scenario.members)} "
                    f"pre-funded)"],
        ["Order messages", f"{result.orders:,} ({result.orders_per_session:,} per session)"],
        ["Trades", f"{len(trades):,}"],
        ["Turnover (KZT)", money(result, "KZT", kzt_turnover(result), 0)],
        ["Settlement dates", ", ".join(s.date.isoformat() for s in result.settlements)],
    ]
    return Table("overview", "The day at a glance", ["", ""], rows, [False, False])


def session_runs(result: DayResult) -> Table:
    """Per session: hours, orders, trades, refusals, expiries, speed."""
    rows = []
    for run in result.sessions:
        rows.append([run.name, f"{hhmm(run.start)}-{hhmm(run.end)}", f"{run.orders:,}",
                     f"{run.trades:,}", f"{sum(run.refusals.values()):,}", f"{run.expired:,}",
                     per_second(run.orders_per_second)])
    return Table("sessions", "Sessions", ["Session", "Hours", "Orders", "Trades", "Refused",
                                          "Expired at close", "Orders (wall)"],
                 rows, [False, False, True, True, True, True, True],
                 note="Orders count every order message: new, market, cancel and modify.")


def hhmm(seconds: float) -> str:
    """Seconds since midnight as ``HH:MM``."""
    whole = round(seconds)
    return f"{whole // 3600:02d}:{whole % 3600 // 60:02d}"


def session_stats(result: DayResult) -> Table:
    """Per session and instrument: trades, volume, OHLC, VWAP (from the exchange)."""
    rows = []
    for s in result.exchange.session_stats(result.date):
        unit = result.scenario.instruments[s.instrument].base.code
        rows.append([s.session, s.instrument, f"{s.trades:,}", f"{s.volume:,} {unit}",
                     f"{s.turnover:,.0f}", _price(s.open), _price(s.high), _price(s.low),
                     _price(s.close), _price(s.vwap)])
    return Table("stats", "Trading by session and instrument",
                 ["Session", "Instrument", "Trades", "Volume", "Turnover (KZT)", "Open",
                  "High", "Low", "Close", "VWAP"],
                 rows, [False, False] + [True] * 8,
                 note="Prices in KZT per unit of the base asset; a swap's in KZT swap points. "
                      "Turnover of a swap counts its near leg.", keys=2)


def official_rates(result: DayResult) -> Table:
    """The day's weighted average rates, official from the next business day."""
    end = result.day_end
    rows = [[f"{pair[:3]}/{pair[3:]}", f"{rate:,}", end.effective_date.isoformat()]
            for pair, rate in sorted(end.official_rates.items())]
    return Table("official", "Official rates (weighted average of the day's spot trades)",
                 ["Pair", "Rate (KZT)", "In force from"], rows, [False, True, False])


def refusals(result: DayResult) -> Table:
    """Refused order messages by reason and session."""
    reasons = sorted({r for run in result.sessions for r in run.refusals}, key=lambda r: r.value)
    rows = []
    for reason in reasons:
        counts = [run.refusals.get(reason, 0) for run in result.sessions]
        rows.append([reason.value] + [f"{n:,}" for n in counts] + [f"{sum(counts):,}"])
    names = [run.name for run in result.sessions]
    return Table("refusals", "Refusals by reason", ["Reason"] + names + ["Total"], rows,
                 [False] + [True] * (len(names) + 1),
                 note="INSUFFICIENT_FUNDS: a pre-funded member's available balance did not "
                      "cover the order's worst case.")


_ORDER = ("KZT", "USD", "EUR", "RUB")


def _currencies(result: Outcome) -> list[str]:
    """Currency codes: KZT, USD, EUR, RUB first, any others after, alphabetically."""
    assets = result.scenario.instruments.assets
    return sorted((a for a in assets if assets[a].is_currency),
                  key=lambda a: (_ORDER.index(a) if a in _ORDER else len(_ORDER), a))


def _securities(result: Outcome) -> list[str]:
    assets = result.scenario.instruments.assets
    return sorted(a for a in assets if not assets[a].is_currency)


def kzt_turnover(result: Outcome) -> int:
    """Sum of the quote amounts (near legs) of the trades quoted in KZT, in tiyn."""
    trades = result.trades
    return int(trades["quote_amount"][trades["quote_asset"] == CODES.asset.find("KZT")].sum())


def net_totals(result: Outcome) -> dict[int, dict[str, int]]:
    """member -> asset -> NET obligation summed over all settlement dates, in minor units
    (+ receives, - pays). O(obligations)."""
    net = result.obligations.net
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for member, asset, amount in zip(net["member"].tolist(), CODES.asset.decode(net["asset"]),
                                     net["amount"].tolist()):
        totals[member][asset] += amount
    return totals


def obligations(result: Outcome) -> Table:
    """Net obligations per member and currency over all settlement dates (+ receives)."""
    currencies = _currencies(result)
    totals = net_totals(result)
    rows = []
    for member in sorted(totals, key=lambda m: (m < 0, abs(m))):
        spec = None if member < 0 else result.scenario.member(member)
        role = spec.role if spec else "exchange"
        rows.append([str(member), result.member_name(member), role]
                    + [money(result, a, totals[member][a], 2) if totals[member][a] else "-"
                       for a in currencies])
    return Table("obligations", "Net obligations per member (all dates; + receives, - pays)",
                 ["Id", "Member", "Role"] + currencies, rows,
                 [True, False, False] + [True] * len(currencies),
                 note="Multilateral net against the clearing house of the currency trades; "
                      "securities settle gross, deal by deal.", keys=2)


def obligations_by_date(result: Outcome) -> Table:
    """Net obligations per settlement date, member and currency."""
    net = result.obligations.net
    rows = []
    for day, member, asset, amount in zip(net["date"].astype(str).tolist(),
                                          net["member"].tolist(), CODES.asset.decode(net["asset"]),
                                          net["amount"].tolist()):
        rows.append([day, result.member_name(member), asset, money(result, asset, amount, 2)])
    return Table("obligations_by_date", "Net obligations by settlement date",
                 ["Date", "Member", "Asset", "Amount"], rows, [False, False, False, True])


@dataclass(frozen=True)
class RunFacts:
    """One settlement run in plain values: the members with NET lines, those that failed,
    shortfalls ``(member, asset, minor units)``, dates failures rolled to, GROSS deals."""

    members: list[int]
    failed: list[int]
    shortfalls: list[tuple[int, str, int]]
    rolled_to: list[str]
    gross_settled: int
    gross_deals: int


def run_facts(day: SettlementDay) -> RunFacts:
    """The facts of one settlement run (for the table and the JSON summary). O(lines)."""
    res = day.result
    lines = res.net[res.net["kind"] == CODES.kind.code("net")]
    short = res.shortfalls
    return RunFacts(
        members=sorted(set(lines["member"][lines["member"] >= 0].tolist())),
        failed=list(res.failed_members),
        shortfalls=[(int(m), a, int(n - v)) for m, a, n, v in zip(
            short["member"].tolist(), CODES.asset.decode(short["asset"]),
            short["needed"].tolist(), short["available"].tolist())],
        rolled_to=sorted({str(d) for d in lines["carried_to"][~np.isnat(lines["carried_to"])]}),
        gross_settled=int((res.gross["status"] == CODES.status.code("settled")).sum()),
        gross_deals=len(res.gross))


def settlement(result: Outcome) -> Table:
    """Per settlement run: who settled, who failed and by how much, where failures went."""
    rows, marks = [], []
    for day in result.settlements:
        facts = run_facts(day)
        shortfall = "; ".join(f"{result.member_name(m)} {a} {money(result, a, x, 2)}"
                              for m, a, x in facts.shortfalls)
        topups = "; ".join(f"{result.member_name(m)} {money(result, a, x, 2)} {a}"
                           for m, a, x in day.top_ups)
        settled = len(facts.members) - len(facts.failed)
        rows.append([day.date.isoformat(), f"{settled} / {len(facts.members)}",
                     ", ".join(result.member_name(m) for m in facts.failed) or "-",
                     shortfall or "-", ", ".join(facts.rolled_to) or "-",
                     f"{facts.gross_settled:,} / {facts.gross_deals:,}", topups or "-"])
        marks.append(bool(facts.failed) or facts.gross_settled < facts.gross_deals)
    return Table("settlement", "Settlement outcome per date",
                 ["Date", "Members settled", "Failed", "Shortfall", "Rolled to",
                  "Gross deals settled", "Top-ups before the run"],
                 rows, [False, True, False, False, False, True, False],
                 note="DVP: a member settles all its obligations of the date or none; the "
                      "clearing house fronts a failed member and its obligations roll to the "
                      "next business day.", highlight=marks)


def outstanding(result: Outcome) -> Table:
    """Obligations still open after the last settlement run."""
    rows = [[day, result.member_name(m), a, money(result, a, x, 2)]
            for day, m, a, x in result.outstanding]
    return Table("outstanding", "Still outstanding after the last run",
                 ["Due", "Member", "Asset", "Amount"], rows, [False, False, False, True])


def members(result: Outcome) -> Table:
    """The members, their regime and opening balances (currencies, then securities)."""
    assets = _currencies(result) + _securities(result)
    rows = []
    for spec in result.scenario.members:
        rows.append([str(spec.id), spec.name, spec.role, spec.regime.value]
                    + [money(result, a, result.opening.get((spec.id, a), 0), 0)
                       for a in assets])
    return Table("members", "Members and opening balances",
                 ["Id", "Member", "Role", "Regime"] + assets, rows,
                 [True, False, False, False] + [True] * len(assets),
                 note="Currencies in whole units, securities in pieces. PREFUNDED members "
                      "trade only what their available balance covers; DEFERRED members "
                      "settle after the fact and may fail.", keys=2)


def usd_sessions(result: DayResult) -> Table:
    """USD/KZT spot instruments per session: trades, close and VWAP (compact)."""
    rows = []
    for s in result.exchange.session_stats(result.date):
        if s.instrument.startswith("USDKZT_") and "SWAP" not in s.instrument:
            rows.append([s.session, s.instrument, f"{s.trades:,}", _price(s.close),
                         _price(s.vwap.quantize(Decimal("0.0001")))])
    return Table("usd", "USD/KZT by session", ["Session", "Instrument", "Trades", "Close",
                                               "VWAP"], rows, [False, False, True, True, True],
                 keys=2)


def days(run: RunResult) -> Table:
    """Per trade date of a multi-day run: orders, trades, turnover, the official USD/KZT rate
    the day published (for the next day), the settlement dates run at its end and who
    failed."""
    rows, marks = [], []
    for day in run.days:
        rate = day.day_end.official_rates.get("USDKZT")
        failed = sorted({m for s in day.settlements for m in s.result.failed_members})
        refused = sum(sum(r.refusals.values()) for r in day.sessions)
        rows.append([day.date.isoformat(), f"{day.orders:,}", f"{refused:,}",
                     f"{len(day.trades):,}", money(day, "KZT", kzt_turnover(day), 0),
                     "-" if rate is None else f"{rate:,}", day.day_end.effective_date.isoformat(),
                     ", ".join(s.date.isoformat() for s in day.settlements) or "-",
                     ", ".join(run.member_name(m) for m in failed) or "-"])
        marks.append(bool(failed))
    return Table("days", "Trading days", ["Date", "Orders", "Refused", "Trades",
                                          "Turnover (KZT)", "USD/KZT official", "In force from",
                                          "Settled at its end", "Failed"],
                 rows, [False, True, True, True, True, True, False, False, False],
                 note="Each day settles the dates due by its end; the official rate it "
                      "publishes is the next day's swap reference rate.", highlight=marks)


def all_tables(result: DayResult) -> dict[str, Table]:
    """Every table of the report, by key."""
    tables = [overview(result), session_runs(result), session_stats(result),
              official_rates(result), refusals(result), obligations(result),
              obligations_by_date(result), settlement(result), outstanding(result),
              members(result), usd_sessions(result)]
    return {t.key: t for t in tables}


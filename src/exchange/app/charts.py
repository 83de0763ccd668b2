"""Charts of a simulated day (matplotlib, Agg backend: no display needed).

Each function takes a :class:`~exchange.sim.day.DayResult` (the positions and settlement
charts also a :class:`~exchange.sim.days.RunResult`) and returns a matplotlib ``Figure``;
:func:`png` turns one into PNG bytes. The charts:

* :func:`price_chart`: USD/KZT trade prices (per-bin last, high-low band) and each session's
  running VWAP through the day, session boundaries marked, the new official rate as a line;
* :func:`depth_chart`: cumulative bid/ask depth of the main USD/KZT book at each session's
  close;
* :func:`volume_chart`: turnover per instrument and session (log scale: FX dwarfs securities);
* :func:`positions_chart`: net obligations per member in each currency;
* :func:`settlement_chart`: per settlement date, members settled and failed, and shortfalls;
* :func:`days_chart` (a multi-day run): USD/KZT per day with the official rate in force,
  turnover per day and session, and members settled and failed per settlement date.

Large days are binned (a few hundred points per line), so drawing costs O(trades) numpy work
plus a constant.
"""
from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # headless: must precede pyplot

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MultipleLocator

from exchange.codes import CODES
from exchange.records import SESSION_NAMES
from exchange.reference.instruments import KZT
from exchange.sim.day import DayResult, SettlementDay
from exchange.sim.days import RunResult

from .summary import Outcome, hhmm

__all__ = ["price_chart", "depth_chart", "volume_chart", "positions_chart", "settlement_chart",
           "days_chart", "png", "all_charts"]

SESSION_COLORS = {"morning": "#f2c14e", "day": "#5b8def", "evening": "#8e5bd8"}
_LINE_COLORS = {"TOD": "#1f5fa8", "TOM": "#2a9d5c", "SPT": "#c2571a"}
_BUY, _SELL = "#2a9d5c", "#c8423b"
_BINS_PER_SESSION = 240
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "axes.titleweight": "bold",
                     "axes.spines.top": False, "axes.spines.right": False})


def png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return buffer.getvalue()


def _clock(seconds: float, _pos: object = None) -> str:
    """Axis label of a time of day (matplotlib's formatter signature)."""
    return hhmm(seconds)


def _usd_spot(result: DayResult) -> list[str]:
    return [s for s in sorted(result.scenario.instruments)
            if s.startswith("USDKZT_") and s.split("_")[1] in _LINE_COLORS]


def _binned(t: np.ndarray, p: np.ndarray, q: np.ndarray, start: float, end: float) -> tuple:
    """Per time bin: centre, last price, low, high, and the running VWAP at the bin's end."""
    edges = np.linspace(start, end, _BINS_PER_SESSION + 1)
    b = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, _BINS_PER_SESSION - 1)
    used, last_rev = np.unique(b[::-1], return_index=True)
    last = p[len(p) - 1 - last_rev]
    low = np.full(_BINS_PER_SESSION, np.inf)
    high = np.full(_BINS_PER_SESSION, -np.inf)
    np.minimum.at(low, b, p)
    np.maximum.at(high, b, p)
    vwap = np.cumsum(p * q) / np.cumsum(q)
    end_of_bin = len(p) - 1 - last_rev  # index of the bin's last trade
    centre = (edges[used] + edges[used + 1]) / 2
    return centre, last, low[used], high[used], vwap[end_of_bin]


def price_chart(result: DayResult) -> Figure:
    """USD/KZT through the day (see the module docstring)."""
    fig, ax = plt.subplots(figsize=(10.5, 4.8), layout="constrained")
    trades = result.trades
    plotted = set()
    for run in result.sessions:
        code = SESSION_NAMES.index(run.name)
        ax.axvspan(run.start, run.end, color=SESSION_COLORS[run.name], alpha=0.07, lw=0)
        ax.axvline(run.start, color="#777777", lw=0.8, ls="--")
        ax.text((run.start + run.end) / 2, 1.01, f"{run.name} session", ha="center",
                va="bottom", transform=ax.get_xaxis_transform(), fontsize=9, color="#444444")
        for symbol in _usd_spot(result):
            sel = ((trades["instrument"] == CODES.instrument.find(symbol))
                   & (trades["session"] == code))
            if not sel.any():
                continue
            tenor = symbol.split("_")[1]
            color = _LINE_COLORS[tenor]
            tick = float(result.scenario.instruments[symbol].tick_size)
            prices = trades["price_ticks"][sel] * tick
            centre, last, low, high, vwap = _binned(trades["time"][sel], prices,
                                                    trades["qty"][sel].astype(float),
                                                    run.start, run.end)
            first = symbol not in plotted
            ax.fill_between(centre, low, high, color=color, alpha=0.15, lw=0,
                            label=f"{symbol} high-low per bin" if first else None)
            ax.plot(centre, last, color=color, lw=0.9,
                    label=f"{symbol} last price" if first else None)
            ax.plot(centre, vwap, color=color, lw=2.0, ls="--",
                    label=f"{symbol} session VWAP" if first else None)
            plotted.add(symbol)
    ax.axvline(result.sessions[-1].end, color="#777777", lw=0.8, ls="--")
    rate = result.day_end.official_rates.get("USDKZT")
    if rate is not None:
        ax.axhline(float(rate), color="black", lw=1.0, ls=":",
                   label=f"official rate from {result.day_end.effective_date}: {rate}")
    ax.xaxis.set_major_locator(MultipleLocator(1800))
    ax.xaxis.set_major_formatter(FuncFormatter(_clock))
    ax.set_xlim(result.sessions[0].start - 600, result.sessions[-1].end + 600)
    ax.set_xlabel("time of day (Almaty)")
    ax.set_ylabel("KZT per USD")
    ax.set_title(f"USD/KZT on {result.date.isoformat()}: trade prices and VWAP", pad=18)
    ax.grid(axis="y", color="#e5e5e5")
    if plotted:
        fig.legend(loc="outside lower center", ncol=4, frameon=False, fontsize=8)
    else:
        ax.text(0.5, 0.5, "no USD/KZT trades", ha="center", transform=ax.transAxes)
    return fig


def _main_symbol(run_symbols: tuple[str, ...]) -> str | None:
    for symbol in ("USDKZT_TOD", "USDKZT_TOM", "USDKZT_SPT"):
        if symbol in run_symbols:
            return symbol
    return run_symbols[0] if run_symbols else None


def depth_chart(result: DayResult, levels: int = 40) -> Figure:
    """Cumulative depth of the main USD/KZT book at each session's close (``levels`` a side)."""
    runs = result.sessions
    fig, axes = plt.subplots(1, len(runs), figsize=(10.5, 3.9), layout="constrained",
                             squeeze=False)
    for ax, run in zip(axes[0], runs):
        symbol = _main_symbol(run.symbols)
        ax.set_title(f"{run.name} close: {symbol}")
        if symbol is None or symbol not in run.depth:
            ax.text(0.5, 0.5, "no book", ha="center", transform=ax.transAxes)
            continue
        ins = result.scenario.instruments[symbol]
        tick = float(ins.tick_size)
        bids, asks = (side[:levels] for side in run.depth[symbol])
        if len(bids) == 0 and len(asks) == 0:
            ax.text(0.5, 0.5, "empty book", ha="center", transform=ax.transAxes)
            continue
        for rows, color, label in ((bids, _BUY, "bids"), (asks, _SELL, "asks")):
            if len(rows):
                px, cum = rows[:, 0] * tick, np.cumsum(rows[:, 1])
                ax.fill_between(px, cum, step="post", color=color, alpha=0.35, lw=0)
                ax.step(px, cum, where="post", color=color, lw=1.2,
                        label=f"{label} ({int(cum[-1]):,} lots)")
        ax.set_xlabel(f"{ins.quote.code} per {ins.base.code}")
        ax.tick_params(axis="x", labelrotation=30)
        top = max(int(bids[:, 1].sum()) if len(bids) else 0,
                  int(asks[:, 1].sum()) if len(asks) else 0)
        ax.set_ylim(0, top * 1.3)  # headroom for the legend above the steps
        ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=2)
        ax.grid(axis="y", color="#e5e5e5")
    lot = result.scenario.instruments["USDKZT_TOD"].lot_size \
        if "USDKZT_TOD" in result.scenario.instruments else None
    unit = f"cumulative depth, lots (1 lot = {lot:,} USD)" if lot else "cumulative depth, lots"
    axes[0][0].set_ylabel(unit)
    fig.suptitle(f"Order book depth at each session's close (best {levels} levels a side)",
                 fontweight="bold", fontsize=10)
    return fig


def volume_chart(result: DayResult) -> Figure:
    """Turnover (KZT) per instrument and session, log scale."""
    stats = result.exchange.session_stats(result.date)
    symbols = sorted({s.instrument for s in stats},
                     key=lambda s: list(result.scenario.instruments).index(s))
    fig, ax = plt.subplots(figsize=(10.5, 0.3 * max(4, len(symbols)) + 1.3),
                           layout="constrained")
    by_symbol: dict[str, list] = {s: [] for s in symbols}
    for s in stats:
        by_symbol[s.instrument].append(s)
    used = set()
    for y, symbol in enumerate(symbols):
        rows = by_symbol[symbol]
        width = 0.8 / len(rows)
        for i, s in enumerate(rows):
            pos = y - 0.4 + width * (i + 0.5)
            value = float(s.turnover)
            ax.barh(pos, value, height=width * 0.9, color=SESSION_COLORS[s.session],
                    label=s.session if s.session not in used else None)
            used.add(s.session)
            ax.text(value * 1.08, pos, _short_kzt(value), va="center", fontsize=7.5)
    ax.set_yticks(range(len(symbols)), symbols)
    ax.invert_yaxis()
    ax.set_xscale("log")
    if stats:
        top = max(float(s.turnover) for s in stats)
        ax.set_xlim(right=top * 8)
    ax.set_xlabel("turnover, KZT (log scale)")
    ax.set_title("Turnover per instrument and session")
    handles = [plt.Rectangle((0, 0), 1, 1, color=SESSION_COLORS[n]) for n in SESSION_NAMES
               if n in used]
    ax.legend(handles, [n for n in SESSION_NAMES if n in used], frameon=False,
              loc="lower right", title="session")
    ax.grid(axis="x", color="#e5e5e5")
    return fig


def _short_kzt(value: float) -> str:
    for size, suffix in ((1e9, "bn"), (1e6, "mn"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f} {suffix}"
    return f"{value:,.0f}"


_UNITS = {"KZT": (1e6, "million KZT"), "USD": (1e3, "thousand USD"),
          "EUR": (1e3, "thousand EUR"), "RUB": (1e6, "million RUB")}


def positions_chart(result: Outcome) -> Figure:
    """Net obligations per member and currency, all dates (+ receives, - pays)."""
    net = result.obligations.net
    failed = {m for s in result.settlements for m in s.result.failed_members}
    members = _busiest(result, net, failed)
    assets = [a for a in ("KZT", "USD", "EUR", "RUB") if a in result.scenario.instruments.assets]
    fig, axes = plt.subplots(1, len(assets), figsize=(10.5, 0.3 * len(members) + 1.6),
                             layout="constrained", sharey=True, squeeze=False)
    for ax, asset in zip(axes[0], assets):
        size, unit = _UNITS[asset]
        decimals = result.scenario.instruments.assets[asset].decimals
        mine = net[net["asset"] == CODES.asset.find(asset)]
        totals = np.zeros(len(members))
        for i, m in enumerate(members):
            totals[i] = mine["amount"][mine["member"] == m].sum() / 10**decimals / size
        colors = [_BUY if v >= 0 else _SELL for v in totals]
        ax.barh(range(len(members)), totals, color=colors, height=0.7)
        ax.axvline(0, color="#444444", lw=0.8)
        ax.set_title(asset)
        ax.set_xlabel(unit)
        ax.tick_params(axis="x", labelrotation=30)
        ax.grid(axis="x", color="#e5e5e5")
    labels = [f"{result.member_name(m)}{' (failed)' if m in failed else ''}" for m in members]
    axes[0][0].set_yticks(range(len(members)), labels)
    for tick, m in zip(axes[0][0].get_yticklabels(), members):
        if m in failed:
            tick.set_color(_SELL)
            tick.set_fontweight("bold")
    axes[0][0].invert_yaxis()
    shown = "" if len(members) == len(result.scenario.members) else \
        f"\nthe {len(members)} largest KZT positions of {len(result.scenario.members)} members"
    fig.suptitle("Net obligations per member and currency, all settlement dates "
                 f"(green receives, red pays){shown}", fontweight="bold", fontsize=10)
    return fig


def _busiest(result: Outcome, net: np.ndarray, failed: set[int], most: int = 40) -> list[int]:
    """Member ids to chart, in id order: all of them, or the failed ones and those with the
    largest absolute KZT obligations, ``most`` in all."""
    ids = [m.id for m in result.scenario.members]
    if len(ids) <= most:
        return ids
    kzt = net[net["asset"] == CODES.asset.find("KZT")]
    size = {m: abs(int(kzt["amount"][kzt["member"] == m].sum())) for m in ids}
    ranked = sorted(ids, key=lambda m: (m not in failed, -size[m], m))
    return sorted(ranked[:most])


def _settled_failed(runs: list[SettlementDay]) -> tuple[list[int], list[int]]:
    """Per run: members whose NET obligations settled, and members that failed."""
    settled, failed = [], []
    for d in runs:
        net = d.result.net
        lines = net[(net["kind"] == CODES.kind.code("net")) & (net["member"] >= 0)]
        failed.append(len(d.result.failed_members))
        settled.append(len(set(lines["member"].tolist())) - failed[-1])
    return settled, failed


def settlement_chart(result: Outcome) -> Figure:
    """Per settlement date: members settled / failed, and the shortfalls by asset."""
    days = result.settlements
    fig, (left, right) = plt.subplots(1, 2, figsize=(10.5, 3.6), layout="constrained")
    labels = [f"{d.date.isoformat()}\n"
              f"{_tenor(result, d.date) if isinstance(result, DayResult) else f'{d.date:%a}'}"
              for d in days]
    settled, failed = _settled_failed(days)
    x = np.arange(len(days))
    left.bar(x, settled, color=_BUY, label="settled")
    left.bar(x, failed, bottom=settled, color=_SELL, label="failed (rolled)")
    for i, d in enumerate(days):
        names = ", ".join(result.member_name(m) for m in d.result.failed_members)
        if names:
            left.text(i, settled[i] + failed[i] + 0.3, names, ha="center", va="bottom",
                      fontsize=7.5, color=_SELL, wrap=True)
    left.set_xticks(x, labels)
    left.set_ylabel("members with obligations")
    left.set_title("NET settlement: members per date")
    left.set_ylim(0, max([s + f for s, f in zip(settled, failed)] + [1]) * 1.3)
    left.legend(frameon=False, loc="upper right", fontsize=8)
    _shortfalls(right, result, labels)
    fig.suptitle("Settlement outcome", fontweight="bold", fontsize=10)
    return fig


def _tenor(result: DayResult, day) -> str:
    """``T+n``: business days (at home) from the trade date to ``day``."""
    n, current = 0, result.date
    while current < day and n < 30:
        current = result.exchange.calendar.next_business_day(current, (KZT,))
        n += 1
    return f"T+{n}"


def _shortfalls(ax, result: Outcome, labels: list[str]) -> None:
    """Grouped bars: the shortfall per asset and date, in the asset's display unit."""
    assets = sorted({a for d in result.settlements
                     for a in CODES.asset.decode(d.result.shortfalls["asset"])})
    if not assets:
        ax.text(0.5, 0.5, "no shortfalls: everything settled", ha="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return
    width = 0.8 / len(assets)
    for j, asset in enumerate(assets):
        size, unit = _UNITS.get(asset, (1.0, asset))
        decimals = result.scenario.instruments.assets[asset].decimals
        values = []
        for d in result.settlements:
            s = d.result.shortfalls[d.result.shortfalls["asset"] == CODES.asset.find(asset)]
            values.append(float((s["needed"] - s["available"]).sum()) / 10**decimals / size)
        pos = np.arange(len(labels)) - 0.4 + width * (j + 0.5)
        bars = ax.bar(pos, values, width * 0.9, label=f"{asset} ({unit})",
                      color=["#c8423b", "#e08a3c", "#8e5bd8", "#5b8def"][j % 4])
        ax.bar_label(bars, labels=[f"{v:,.1f}" if v else "" for v in values], fontsize=7.5,
                     padding=2)
    ax.set_xticks(np.arange(len(labels)), labels)
    ax.set_ylabel(f"shortfall, {_UNITS.get(assets[0], (1, assets[0]))[1]}" if len(assets) == 1
                  else "shortfall (unit per asset, see legend)")
    ax.set_title("Shortfall of failed members per date")
    ax.legend(frameon=False, fontsize=8)
    ax.margins(y=0.2)


def days_chart(run: RunResult) -> Figure:
    """A multi-day run across its days (see the module docstring)."""
    fig = plt.figure(figsize=(10.5, 7.2), layout="constrained")
    grid = fig.add_gridspec(2, 2)
    _days_prices(fig.add_subplot(grid[0, :]), run)
    _days_turnover(fig.add_subplot(grid[1, 0]), run)
    runs = run.settlements
    ax = fig.add_subplot(grid[1, 1])
    settled, failed = _settled_failed(runs)
    x = np.arange(len(runs))
    ax.bar(x, settled, color=_BUY, label="settled")
    ax.bar(x, failed, bottom=settled, color=_SELL, label="failed (rolled)")
    ax.set_xticks(x, [f"{d.date:%d %b}" for d in runs], rotation=45)
    ax.set_ylabel("members with obligations")
    ax.set_title("NET settlement per settlement date")
    ax.set_ylim(0, max([s + f for s, f in zip(settled, failed)] + [1]) * 1.3)
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=2)
    fig.suptitle(f"{len(run.days)} trading days, {run.dates[0]} to {run.dates[-1]}",
                 fontweight="bold", fontsize=10)
    return fig


def _days_prices(ax, run: RunResult) -> None:
    """USDKZT_TOD per trade date: the day's range and VWAP, and the official rate in force
    that day (the previous day's fixing; the scenario's reference on the first day)."""
    x = np.arange(len(run.days))
    ins = run.scenario.instruments["USDKZT_TOD"]
    code, tick = CODES.instrument.find("USDKZT_TOD"), float(ins.tick_size)
    in_force = [float(run.scenario.reference_rates["USDKZT"])] \
        if "USDKZT" in run.scenario.reference_rates else [np.nan]
    for i, day in enumerate(run.days):
        mine = day.trades[day.trades["instrument"] == code]
        rate = day.day_end.official_rates.get("USDKZT")
        in_force.append(np.nan if rate is None else float(rate))
        if len(mine) == 0:
            continue
        prices, qty = mine["price_ticks"] * tick, mine["qty"].astype(float)
        ax.vlines(i, prices.min(), prices.max(), color=_LINE_COLORS["TOD"], lw=6, alpha=0.3,
                  label="USDKZT_TOD low-high" if i == 0 else None)
        ax.plot(i, float((prices * qty).sum() / qty.sum()), "o", color=_LINE_COLORS["TOD"],
                label="USDKZT_TOD VWAP" if i == 0 else None)
    ax.step(np.arange(len(run.days) + 1) - 0.5, in_force, where="post", color="black", lw=1.2,
            ls=":", label="swap reference in force: the previous day's official rate "
                          "(day 1: the configured rate)")
    ax.set_xticks(x, [f"{d:%a %d %b}" for d in run.dates])
    ax.set_xlim(-0.6, len(run.days) - 0.4)
    ax.set_ylabel("KZT per USD")
    ax.set_title("USD/KZT per trading day")
    ax.grid(axis="y", color="#e5e5e5")
    ax.legend(frameon=False, fontsize=8, loc="best")


def _days_turnover(ax, run: RunResult) -> None:
    """Turnover (KZT, near legs of KZT-quoted trades) per trade date, stacked by session."""
    x = np.arange(len(run.days))
    kzt = CODES.asset.find("KZT")
    bottom = np.zeros(len(run.days))
    for code, name in enumerate(SESSION_NAMES):
        values = np.array([float(d.trades["quote_amount"][(d.trades["quote_asset"] == kzt)
                                                          & (d.trades["session"] == code)]
                                 .sum()) / 100 for d in run.days])
        ax.bar(x, values, bottom=bottom, color=SESSION_COLORS[name], label=name)
        bottom += values
    ax.set_xticks(x, [f"{d:%d %b}" for d in run.dates], rotation=45)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: _short_kzt(v)))
    ax.set_ylim(0, max(float(bottom.max()), 1.0) * 1.3)
    ax.set_ylabel("turnover, KZT")
    ax.set_title("Turnover per day and session")
    ax.legend(frameon=False, fontsize=8, loc="upper center", ncol=3)


def all_charts(result: DayResult) -> dict[str, bytes]:
    """Every chart as PNG bytes, by key."""
    makers = {"price": price_chart, "depth": depth_chart, "volume": volume_chart,
              "positions": positions_chart, "settlement": settlement_chart}
    return {key: png(make(result)) for key, make in makers.items()}

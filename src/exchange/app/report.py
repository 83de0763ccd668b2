"""The files of a simulated day or run of days: ``trades.parquet``, ``obligations.parquet``,
``settlement.parquet`` and ``report.html``.

``report.html`` is one self-contained page (charts embedded as base64 PNG, CSS inline, no
scripts or external links): key numbers, then each chart beside the table of its numbers.
The Parquet files are written with pyarrow and describe themselves (docs/outputs.md lists
every column with its unit): the exchange's trade records (``records.TABLE_COLUMNS``: names as
dictionary columns, so a reader sees "USDKZT_TOD", "morning", "KZT"), the NET obligations with
member names, and every settlement run's NET lines with their status. A multi-day run
(:class:`~exchange.sim.days.RunResult`) writes the same files over all its days, its page
starting with the days side by side (a chart across days and a table) and a section per day;
a run of one day writes exactly the day's files.
"""
from __future__ import annotations

import base64
import html
import os
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from exchange.sim.day import DayResult
from exchange.sim.days import RunResult

from . import charts, summary
from .paths import OUTPUT_FILES
from .summary import Outcome, Table

__all__ = ["write_outputs", "render_html", "render_run_html", "book_at_close"]


def write_outputs(result: DayResult | RunResult, out: str | os.PathLike) -> dict[str, Path]:
    """Write every file into ``out`` (created if missing); returns name -> path."""
    if isinstance(result, RunResult) and len(result.days) == 1:
        result = result.days[0]
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / name for name in OUTPUT_FILES}
    pq.write_table(result.exchange.trades_table(), paths["trades.parquet"])
    pq.write_table(_obligations_table(result), paths["obligations.parquet"])
    pq.write_table(_settlement_table(result), paths["settlement.parquet"])
    page = render_html(result) if isinstance(result, DayResult) else render_run_html(result)
    paths["report.html"].write_text(page, encoding="utf-8")
    return paths


def _obligations_table(result: Outcome) -> pa.Table:
    table = result.obligations.to_arrow()
    names = [result.member_name(m) for m in result.obligations.net["member"].tolist()]
    return table.append_column("member_name", pa.array(names, pa.string()))


def _settlement_table(result: Outcome) -> pa.Table:
    parts = []
    for day in result.settlements:
        lines = day.result.to_arrow("net")
        parts.append(lines.append_column(
            "settle_date", pa.array([day.date] * lines.num_rows, pa.date32())))
    if not parts:
        return pa.table({"settle_date": pa.array([], pa.date32())})
    return pa.concat_tables(parts)


def book_at_close(result: DayResult) -> Table:
    """Each session's main USD/KZT book at the close: best prices, spread, depth."""
    rows = []
    for run in result.sessions:
        symbol = charts._main_symbol(run.symbols)
        if symbol is None or symbol not in run.depth:
            continue
        ins = result.scenario.instruments[symbol]
        bids, asks = run.depth[symbol]
        bid = ins.from_ticks(int(bids[0, 0])) if len(bids) else None
        ask = ins.from_ticks(int(asks[0, 0])) if len(asks) else None
        spread = f"{ask - bid:,}" if bid is not None and ask is not None else "-"
        rows.append([run.name, symbol, f"{bid:,}" if bid is not None else "-",
                     f"{ask:,}" if ask is not None else "-", spread,
                     f"{int(bids[:, 1].sum()):,}", f"{int(asks[:, 1].sum()):,}"])
    return Table("book", "Book at each close (expired afterwards)",
                 ["Session", "Instrument", "Best bid", "Best ask", "Spread", "Bid lots",
                  "Ask lots"], rows, [False, False, True, True, True, True, True],
                 note="Depth counts the best 200 levels a side.")


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;
background:#f6f7f9;color:#1d2330}
header{background:#14325c;color:#fff;padding:22px 36px}
header h1{margin:0;font-size:24px}header p{margin:6px 0 0;color:#c9d6ea;font-size:14px}
main{padding:12px 36px 36px;max-width:1700px}
section{background:#fff;border:1px solid #dde2ea;border-radius:6px;margin:18px 0;
padding:14px 20px}
h2{font-size:18px;margin:4px 0 12px;color:#14325c}
.kpis{display:flex;flex-wrap:wrap;gap:12px}
.kpi{background:#fff;border:1px solid #dde2ea;border-radius:6px;padding:10px 16px;
min-width:150px}
.kpi .v{font-size:20px;font-weight:600}.kpi .l{font-size:12px;color:#5b6475}
.kpi.bad .v{color:#b3261e}
.row{display:flex;flex-wrap:wrap;gap:20px;align-items:flex-start}
.chart{flex:2 1 700px;min-width:0;max-width:1160px}.chart img{width:100%;height:auto}
.side{flex:1 1 460px;min-width:0}
.wide img{width:100%;max-width:1160px;height:auto}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0 4px}
caption{text-align:left;font-weight:600;padding:4px 0;color:#14325c}
th,td{padding:3px 9px;border-bottom:1px solid #e6e9ef;white-space:nowrap}
th{background:#eef1f6;text-align:left}td.n,th.n{text-align:right;
font-variant-numeric:tabular-nums}
tr.bad td{background:#fdecea;color:#8c1d18}
.note{font-size:12px;color:#5b6475;margin:2px 0 10px}
.scroll{overflow-x:auto}
details{margin:8px 0}summary{cursor:pointer;color:#14325c;font-weight:600;font-size:13px}
footer{font-size:12px;color:#5b6475;padding:0 36px 30px}
"""


def _table_html(table: Table, folded: bool = False) -> str:
    head = "".join(f'<th class="{"n" if n else ""}">{html.escape(c)}</th>'
                   for c, n in zip(table.columns, table.numeric))
    body = []
    for i, row in enumerate(table.rows):
        bad = table.highlight[i] if i < len(table.highlight) else False
        cells = "".join(f'<td class="{"n" if n else ""}">{html.escape(v)}</td>'
                        for v, n in zip(row, table.numeric))
        body.append(f'<tr class="{"bad" if bad else ""}">{cells}</tr>')
    if not table.rows:
        body.append(f'<tr><td colspan="{len(table.columns)}">none</td></tr>')
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    block = (f'<div class="scroll"><table><caption>{html.escape(table.title)}</caption>'
             f'<thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'
             f"{note}")
    if folded:  # long detail tables: collapsed, no script needed
        return (f"<details><summary>{html.escape(table.title)} ({len(table.rows)} rows)"
                f"</summary>{block}</details>")
    return block


def _img(data: bytes, alt: str) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">'


def _kpis(result: Outcome, days: list[DayResult]) -> str:
    """The key numbers of ``result``, which spans ``days`` (the last one's fixing shown)."""
    failed = sorted({m for s in result.settlements for m in s.result.failed_members})
    refused = sum(sum(r.refusals.values()) for d in days for r in d.sessions)
    turnover = summary.kzt_turnover(result) / 100
    end = days[-1].day_end
    usd = end.official_rates.get("USDKZT")
    items = [
        (f"{len(result.trades):,}", "trades", False),
        (charts._short_kzt(turnover) + " KZT", "turnover (KZT-quoted, near legs)", False),
        (f"{usd}" if usd is not None else "-",
         f"USD/KZT official rate from {end.effective_date}", False),
        (f"{sum(d.orders for d in days):,}", "order messages", False),
        (f"{refused:,}", "refused messages", False),
        (f"{len(failed)}", "members failed a settlement", bool(failed)),
    ]
    return '<div class="kpis">' + "".join(
        f'<div class="kpi{" bad" if bad else ""}"><div class="v">{html.escape(v)}</div>'
        f'<div class="l">{html.escape(label)}</div></div>' for v, label, bad in items) + "</div>"


def _section(title: str, chart: str | None, side: Sequence[Table],
             below: Sequence[Table] = (), folded: Sequence[Table] = ()) -> str:
    parts = [f"<section><h2>{html.escape(title)}</h2>"]
    if chart is not None and side:
        parts.append(f'<div class="row"><div class="chart">{chart}</div>'
                     f'<div class="side">{"".join(_table_html(t) for t in side)}</div></div>')
    elif chart is not None:
        parts.append(f'<div class="wide">{chart}</div>')
    else:
        parts.append("".join(_table_html(t) for t in side))
    parts.append("".join(_table_html(t) for t in below))
    parts.append("".join(_table_html(t, folded=True) for t in folded))
    parts.append("</section>")
    return "".join(parts)


def render_html(result: DayResult) -> str:
    """The whole report page of a day as a string (see the module docstring)."""
    tables = summary.all_tables(result)
    images = charts.all_charts(result)
    date = result.date
    subtitle = (f"Trade date {date.strftime('%A')} {date.day} {date.strftime('%B %Y')} · "
                f"seed {result.scenario.seed} · {len(result.scenario.members)} members · "
                f"{result.orders_per_session:,} order messages per session · settlement "
                f"T+0..T+2 with DVP and rolls")
    sections = [
        _section("USD/KZT through the day", _img(images["price"], "USD/KZT price and VWAP"),
                 [tables["official"], tables["usd"]]),
        _section("Trading by session and instrument",
                 _img(images["volume"], "turnover per instrument and session"),
                 [tables["refusals"]], [tables["sessions"], tables["stats"]]),
        _section("Order book at each session's close",
                 _img(images["depth"], "order book depth at the close"), [book_at_close(result)]),
        _section("Net positions and obligations",
                 _img(images["positions"], "net obligations per member"), [],
                 [tables["obligations"]], folded=[tables["obligations_by_date"]]),
        _section("Settlement", _img(images["settlement"], "settlement outcome per date"),
                 [tables["outstanding"]], [tables["settlement"]]),
        _section("Members", None, [tables["members"]]),
    ]
    return _page(f"KASE simulated trading day {date.isoformat()}",
                 f"Simulated KASE trading day: {date.isoformat()}", subtitle,
                 _kpis(result, [result]), sections,
                 result.timings)


def render_run_html(run: RunResult) -> str:
    """The report page of a multi-day run as a string (see the module docstring)."""
    first, last = run.dates[0].isoformat(), run.dates[-1].isoformat()
    subtitle = (f"{len(run.days)} trading days · seed {run.scenario.seed} · "
                f"{len(run.scenario.members)} members · {run.orders_per_session:,} order "
                f"messages per session a day · one ledger; every obligation settles on its own "
                f"date, with DVP and rolls")
    across = charts.png(charts.days_chart(run))
    sections = [_section("Across the days", _img(across, "the run across its days"), [],
                         [summary.days(run)])]
    for k, day in enumerate(run.days, start=1):
        price = charts.png(charts.price_chart(day))
        sections.append(_section(
            f"Day {k}: {day.date:%A} {day.date.isoformat()}",
            _img(price, f"USD/KZT on {day.date.isoformat()}"),
            [summary.official_rates(day), summary.usd_sessions(day)],
            [summary.session_runs(day), summary.refusals(day), summary.settlement(day)]))
    sections += [
        _section("Net positions and obligations, all days",
                 _img(charts.png(charts.positions_chart(run)), "net obligations per member"),
                 [], [summary.obligations(run)], folded=[summary.obligations_by_date(run)]),
        _section("Settlement, every run",
                 _img(charts.png(charts.settlement_chart(run)), "settlement outcome per date"),
                 [summary.outstanding(run)], [summary.settlement(run)]),
        _section("Members", None, [summary.members(run)]),
    ]
    return _page(f"KASE simulated trading days {first} to {last}",
                 f"Simulated KASE trading days: {first} to {last}", subtitle,
                 _kpis(run, run.days), sections,
                 run.timings)


def _page(title: str, heading: str, subtitle: str, kpis: str, sections: list[str],
          timings: dict[str, float]) -> str:
    timing = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body>"
            f"<header><h1>{html.escape(heading)}</h1>"
            f"<p>{html.escape(subtitle)}</p></header><main>{kpis}"
            f'{"".join(sections)}</main>'
            f"<footer>Generated by <code>python -m exchange simulate</code>. Simulated data: "
            f"members, prices and balances are fictional. Wall-clock timings of this run: "
            f"{html.escape(timing)}. Files beside this page: trades.parquet, "
            f"obligations.parquet, settlement.parquet.</footer></body></html>")

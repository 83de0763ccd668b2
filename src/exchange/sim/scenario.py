"""The embedded default setup of a simulated KASE trading day: market, members, agents.

:func:`default_scenario` builds, from a seed and a member count, everything a day needs and
nothing that needs a service:

* instruments (:data:`SIM_SYMBOLS`, taken from ``default_instruments()``): USD/KZT, EUR/KZT and
  RUB/KZT as TOD, TOM and SPT; the USD/KZT TOD/TOM swap; a government security (MEKAM_0120), a
  share (KZTK) and a corporate bond (KZTO_B1);
* members with roles (about a fifth market makers, a few new PREFUNDED members, two
  overtraders, the rest noise traders) and opening balances in every currency and security,
  sized to the day's expected activity;
* one agent per member, and the reference prices' starting levels (USD/KZT near 505 KZT,
  moved a little by the seed).

The two overtraders are DEFERRED members that buy far more USD than their KZT can pay for:
one buys USD/KZT TOD (due on the trade date) and tops its account up the next business day,
the other buys USD/KZT TOM (due T+1) and never does. Their obligations fail and roll.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from exchange.reference.instruments import InstrumentSet, default_instruments
from exchange.venue.members import Regime

from .agents import Agent, MarketMaker, NoiseTrader, Overtrader
from .market import DEFAULT_DRIVERS, DEFAULT_PROFILES, Driver, Profile

__all__ = ["SIM_SYMBOLS", "DEFAULT_DATE", "MAX_MEMBERS", "MIN_MEMBERS", "MemberSpec", "Scenario",
           "default_scenario", "sim_instruments"]

#: Instruments of the default simulated day (the underlying TOD precedes its swap).
SIM_SYMBOLS = (
    "USDKZT_TOD", "USDKZT_TOM", "USDKZT_SPT", "USDKZT_SWAP_1D",
    "EURKZT_TOD", "EURKZT_TOM", "EURKZT_SPT",
    "RUBKZT_TOD", "RUBKZT_TOM", "RUBKZT_SPT",
    "MEKAM_0120", "KZTK", "KZTO_B1",
)

#: The default trade date: a Friday, so T+1 and T+2 fall after a weekend.
DEFAULT_DATE = _dt.date(2026, 11, 27)

#: Fewest members the default roster can be built with (2 market makers, 1 noise trader,
#: 1 new member, 2 overtraders).
MIN_MEMBERS = 6

#: Most members the default roster is built with.
MAX_MEMBERS = 1000

#: Orders per session the default balances are sized for; more orders scale them by the
#: square root of the ratio (noise positions grow like a random walk).
_BASE_ORDERS = 50_000

_NAMES = (
    "Steppe Capital", "Tengri Markets", "Nomad Securities", "Caspian Trust", "Altai Partners",
    "Saryarka Brokers", "Irtysh Finance", "Ili Asset Management", "Turkestan Trade",
    "Zhetysu Capital", "Aral Invest", "Esil Brokers", "Kokshe Markets", "Balkhash Partners",
    "Talas Securities", "Ural Finance", "Charyn Capital", "Shymbulak Trade", "Burabay Invest",
    "Otrar Holdings", "Mangystau Capital", "Kyzylkum Brokers", "Emba Securities",
    "Tobol Finance",
)

# Opening balances per role in whole units (securities in pieces).
_BALANCES: Mapping[str, Mapping[str, int]] = {
    "market maker": {"KZT": 200_000_000_000, "USD": 400_000_000, "EUR": 300_000_000,
                     "RUB": 30_000_000_000, "MEKAM_0120": 50_000_000, "KZTK": 2_000_000,
                     "KZTO_B1": 50_000_000},
    "noise trader": {"KZT": 20_000_000_000, "USD": 40_000_000, "EUR": 30_000_000,
                     "RUB": 3_000_000_000, "MEKAM_0120": 5_000_000, "KZTK": 200_000,
                     "KZTO_B1": 5_000_000},
    "new member": {"KZT": 300_000_000, "USD": 500_000, "EUR": 300_000, "RUB": 30_000_000,
                   "MEKAM_0120": 100_000, "KZTK": 2_000, "KZTO_B1": 100_000},
}


@dataclass(frozen=True)
class MemberSpec:
    """One member of the scenario: id, name, role, regime, opening ``balances`` (asset ->
    minor units) and ``tops_up``: before each settlement date after a failure, it deposits
    what its due obligations need beyond its balance."""

    id: int
    name: str
    role: str
    regime: Regime
    balances: Mapping[str, int]
    tops_up: bool = False


@dataclass
class Scenario:
    """Everything a simulated day is built from (see :func:`default_scenario`)."""

    seed: int
    instruments: InstrumentSet
    members: list[MemberSpec]
    agents: list[Agent]
    profiles: dict[str, Profile]
    drivers: dict[str, Driver]
    reference_rates: dict[str, str] = field(default_factory=dict)

    def member(self, member_id: int) -> MemberSpec:
        """The member with ``member_id``; KeyError naming it if there is none."""
        for spec in self.members:
            if spec.id == member_id:
                return spec
        raise KeyError(f"scenario has no member {member_id!r}")


def sim_instruments(symbols: tuple[str, ...] = SIM_SYMBOLS) -> InstrumentSet:
    """A new InstrumentSet of ``symbols`` taken from ``default_instruments()`` (KeyError naming
    an unknown symbol; a swap must come after its underlying)."""
    full = default_instruments()
    result = InstrumentSet()
    for symbol in symbols:
        result.add(full[symbol])
    return result


def _drivers(seed: int) -> dict[str, Driver]:
    """The default drivers with opening levels moved by up to about 1 % by the seed."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7_001,)))
    moves = np.clip(rng.normal(0.0, 0.005, len(DEFAULT_DRIVERS)), -0.02, 0.02).tolist()
    return {name: Driver(round(d.level * math.exp(m), 4), d.daily_vol)
            for (name, d), m in zip(sorted(DEFAULT_DRIVERS.items()), moves)}


def _roles(members: int) -> list[str]:
    """Roles of members 1..n in id order."""
    makers = max(2, round(members * 0.2))
    new = max(1, round(members * 0.15))
    noise = members - makers - new - 2
    return (["market maker"] * makers + ["noise trader"] * noise + ["new member"] * new
            + ["overtrader TOD", "overtrader TOM"])


def _minor(instruments: InstrumentSet, whole: Mapping[str, int], scale: float) -> dict[str, int]:
    assets = instruments.assets
    return {code: assets[code].to_minor(int(amount * scale)) for code, amount in whole.items()
            if code in assets and int(amount * scale) > 0}


def default_scenario(seed: int = 1, members: int = 20,
                     orders: int = _BASE_ORDERS) -> Scenario:
    """The default day's market, members and agents for ``seed``; ``orders`` (per session)
    sizes the opening balances. ValueError for fewer than :data:`MIN_MEMBERS` members, more
    than :data:`MAX_MEMBERS`, or a non-positive ``orders``."""
    if isinstance(members, bool) or not isinstance(members, int) \
            or not MIN_MEMBERS <= members <= MAX_MEMBERS:
        raise ValueError(f"members: {members!r} is not an int in {MIN_MEMBERS}..{MAX_MEMBERS}")
    if isinstance(orders, bool) or not isinstance(orders, int) or orders < 1:
        raise ValueError(f"orders: {orders!r} is not a positive int")
    instruments = sim_instruments()
    drivers = _drivers(seed)
    usd = drivers["USDKZT"].level
    scale = max(1.0, math.sqrt(orders / _BASE_ORDERS))
    specs: list[MemberSpec] = []
    agents: list[Agent] = []
    for member_id, role in enumerate(_roles(members), start=1):
        name = _NAMES[(member_id - 1) % len(_NAMES)]
        if member_id > len(_NAMES):
            name = f"{name} {1 + (member_id - 1) // len(_NAMES)}"
        spec, agent = _member(instruments, member_id, name, role, scale, usd)
        specs.append(spec)
        agents.append(agent)
    return Scenario(seed, instruments, specs, agents, dict(DEFAULT_PROFILES), drivers,
                    {"USDKZT": f"{usd:.2f}"})


def _member(instruments: InstrumentSet, member_id: int, name: str, role: str, scale: float,
            usd_kzt: float) -> tuple[MemberSpec, Agent]:
    """The spec and agent of one member of ``role``."""
    if role == "market maker":
        return (MemberSpec(member_id, name, role, Regime.DEFERRED,
                           _minor(instruments, _BALANCES[role], scale)),
                MarketMaker(member_id, weight=2.5, name=name))
    if role == "noise trader":
        return (MemberSpec(member_id, name, role, Regime.DEFERRED,
                           _minor(instruments, _BALANCES[role], scale)),
                NoiseTrader(member_id, name=name))
    if role == "new member":
        return (MemberSpec(member_id, name, role, Regime.PREFUNDED,
                           _minor(instruments, _BALANCES[role], 1.0)),
                NoiseTrader(member_id, size=1.5, name=name))
    # Overtraders: KZT for about a third (TOD) or two fifths (TOM) of what they will buy.
    tod = role == "overtrader TOD"
    kzt = 30_000_000 if tod else 20_000_000
    lot_value = usd_kzt * 1_000  # KZT per lot of 1000 USD
    target = math.ceil((3.0 if tod else 2.5) * kzt / lot_value)
    symbol = "USDKZT_TOD" if tod else "USDKZT_TOM"
    balances = _minor(instruments, {"KZT": kzt, "USD": 50_000}, 1.0)
    return (MemberSpec(member_id, name, role, Regime.DEFERRED, balances, tops_up=tod),
            Overtrader(member_id, symbol, target, weight=0.5, name=name))

"""The embedded default setup of a simulated KASE trading day: market, members, agents.

:func:`default_scenario` builds, from a seed and a member count, everything a day needs and
nothing that needs a service:

* instruments (:data:`SIM_SYMBOLS`, taken from ``default_instruments()``): USD/KZT, EUR/KZT and
  RUB/KZT as TOD, TOM and SPT; the USD/KZT TOD/TOM swap; a government security (MEKAM_0120), a
  share (KZTK) and a corporate bond (KZTO_B1);
* members with roles (about a fifth market makers, a few new PREFUNDED members, two
  overtraders, the rest noise traders) and opening balances in every currency and security,
  sized to the day's expected activity;
* the fee schedule (FX 0.5 bp, securities 5 bp, as ``default_fee_schedule()``);
* one agent per member, and the reference prices' starting levels (USD/KZT near 505 KZT,
  moved a little by the seed).

The two overtraders are DEFERRED members that buy far more USD than their KZT can pay for:
one buys USD/KZT TOD (due on the trade date) and tops its account up the next business day,
the other buys USD/KZT TOM (due T+1) and never does. Their obligations fail and roll.

The knobs a parameter sweep varies are the fields of :class:`ScenarioParams` (members, orders,
fee rates, the member mix, the pre-funding rule), checked in one place; their defaults give
the default day exactly.
"""
from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import cast

import numpy as np

from exchange.reference.fees import (
    DEFAULT_FX_BP,
    DEFAULT_SECURITIES_BP,
    MAX_BP,
    FeeSchedule,
    default_fee_schedule,
)
from exchange.reference.instruments import (
    DecimalLike,
    InstrumentSet,
    checked_int,
    default_instruments,
    to_decimal,
)
from exchange.venue.members import Regime

from .agents import Agent, MarketMaker, NoiseTrader, Overtrader
from .market import DEFAULT_DRIVERS, DEFAULT_PROFILES, Driver, Profile

__all__ = [
    "DEFAULT_DATE",
    "FEE_BP_PLACES",
    "MAX_MEMBERS",
    "MIN_MEMBERS",
    "SIM_SYMBOLS",
    "MemberSpec",
    "Scenario",
    "ScenarioParams",
    "default_scenario",
    "scenario_of",
    "sim_instruments",
]

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
    fees: FeeSchedule | None = None  # None: the exchange's default schedule

    def member(self, member_id: int) -> MemberSpec:
        """The member with ``member_id``; KeyError naming it if there is none."""
        for spec in self.members:
            if spec.id == member_id:
                return spec
        raise KeyError(f"scenario has no member {member_id!r}")

    def member_name(self, member: int) -> str:
        """The name of ``member`` (the clearing house -1 and the fee account -2 included)."""
        if member == -1:
            return "CLEARING HOUSE"
        if member == -2:
            return "EXCHANGE FEES"
        return self.member(member).name


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


#: Decimal places a fee rate in basis points may have (0.0001 bp): the exchange computes fees
#: with exact integer fractions, and this keeps them far inside int64.
FEE_BP_PLACES = 4


def _fee_bp(value: DecimalLike, what: str) -> Decimal:
    """``value`` as a rate in basis points in 0..MAX_BP with at most FEE_BP_PLACES places."""
    bp = to_decimal(value, what)
    if not 0 <= bp <= MAX_BP:
        raise ValueError(f"{what}: {value!r} bp is not in 0..{MAX_BP} bp")
    if bp != bp.quantize(Decimal(1).scaleb(-FEE_BP_PLACES)):
        raise ValueError(f"{what}: {value!r} has more than {FEE_BP_PLACES} decimal places")
    return bp


@dataclass(frozen=True)
class ScenarioParams:
    """The knobs of :func:`default_scenario`, checked and normalised on construction.

    * ``members``: roster size, MIN_MEMBERS..MAX_MEMBERS;
    * ``orders``: order messages per session the opening balances are sized for, >= 1;
    * ``fee_bps``: exchange fee of FX spot and swaps, ``security_fee_bps``: of securities, in
      basis points of the trade value (taker = maker, minimum fee as the default schedule),
      0..MAX_BP with at most FEE_BP_PLACES decimal places (Decimal, int or str; no float);
    * the member mix: ``makers`` market makers (None: a fifth of the members, at least 2),
      ``prefunded`` new members who trade under the pre-funding rule with small balances
      (None: about 15 %, at least 1), two overtraders, and noise traders for the rest (at
      least one);
    * ``overtraders_prefunded``: the pre-funding rule binds the two overtraders too, so their
      orders beyond their money are refused instead of failing at settlement.

    Raises TypeError (a bool or float where an integer or rate belongs, a non-bool
    ``overtraders_prefunded``) or ValueError (out of range, or a mix that leaves no noise
    trader), naming the field and value. numpy integers are accepted. ``makers`` and
    ``prefunded`` hold the resolved counts afterwards, never None.
    """

    members: int = 20
    orders: int = _BASE_ORDERS
    fee_bps: DecimalLike = DEFAULT_FX_BP
    security_fee_bps: DecimalLike = DEFAULT_SECURITIES_BP
    makers: int | None = None
    prefunded: int | None = None
    overtraders_prefunded: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise once, here
        members = checked_int(self.members, "members", MIN_MEMBERS, ValueError, MAX_MEMBERS)
        set_(self, "members", members)
        set_(self, "orders", checked_int(self.orders, "orders", 1, ValueError))
        set_(self, "fee_bps", _fee_bp(self.fee_bps, "fee_bps"))
        set_(self, "security_fee_bps", _fee_bp(self.security_fee_bps, "security_fee_bps"))
        makers = max(2, round(members * 0.2)) if self.makers is None else \
            checked_int(self.makers, "makers", 0, ValueError, members)
        prefunded = max(1, round(members * 0.15)) if self.prefunded is None else \
            checked_int(self.prefunded, "prefunded", 0, ValueError, members)
        set_(self, "makers", makers)
        set_(self, "prefunded", prefunded)
        if not isinstance(self.overtraders_prefunded, bool):
            raise TypeError(f"overtraders_prefunded: expected a bool, got "
                            f"{type(self.overtraders_prefunded).__name__} "
                            f"{self.overtraders_prefunded!r}")
        if self.noise_traders < 1:
            raise ValueError(f"members: {members} leave no noise trader beside {makers} makers, "
                             f"{prefunded} prefunded and 2 overtraders")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The knobs' names, in declaration order."""
        return tuple(f.name for f in fields(cls))

    @property
    def noise_traders(self) -> int:
        """Members that are neither makers, new members nor overtraders."""
        return self.members - self._counts()[0] - self._counts()[1] - 2

    def roles(self) -> list[str]:
        """Roles of members 1..n in id order."""
        makers, prefunded = self._counts()
        return (["market maker"] * makers + ["noise trader"] * self.noise_traders
                + ["new member"] * prefunded + ["overtrader TOD", "overtrader TOM"])

    def _counts(self) -> tuple[int, int]:
        """(makers, prefunded), never None once constructed."""
        return cast(int, self.makers), cast(int, self.prefunded)

    def fees(self) -> FeeSchedule:
        """The fee schedule: ``fee_bps`` on FX, ``security_fee_bps`` on securities."""
        return default_fee_schedule(self.fee_bps, self.security_fee_bps)


def _minor(instruments: InstrumentSet, whole: Mapping[str, int], scale: float) -> dict[str, int]:
    assets = instruments.assets
    return {code: assets[code].to_minor(int(amount * scale)) for code, amount in whole.items()
            if code in assets and int(amount * scale) > 0}


def default_scenario(seed: int = 1, members: int = 20, orders: int = _BASE_ORDERS,
                     **knobs) -> Scenario:
    """The default day's market, members and agents for ``seed``; ``orders`` (per session)
    sizes the opening balances. ``knobs`` are the other fields of :class:`ScenarioParams`
    (fee rates, member mix, pre-funding rule); their defaults give the default day. Raises
    what ScenarioParams raises for a bad value (TypeError for an unknown knob)."""
    return scenario_of(ScenarioParams(members=members, orders=orders, **knobs), seed)


def scenario_of(params: ScenarioParams, seed: int = 1) -> Scenario:
    """The scenario ``params`` describe, for ``seed``. O(members)."""
    instruments = sim_instruments()
    drivers = _drivers(seed)
    usd = drivers["USDKZT"].level
    scale = max(1.0, math.sqrt(params.orders / _BASE_ORDERS))
    specs: list[MemberSpec] = []
    agents: list[Agent] = []
    for member_id, role in enumerate(params.roles(), start=1):
        name = _NAMES[(member_id - 1) % len(_NAMES)]
        if member_id > len(_NAMES):
            name = f"{name} {1 + (member_id - 1) // len(_NAMES)}"
        spec, agent = _member(instruments, member_id, name, role, scale, usd)
        if role.startswith("overtrader") and params.overtraders_prefunded:
            spec = replace(spec, regime=Regime.PREFUNDED)
        specs.append(spec)
        agents.append(agent)
    return Scenario(seed, instruments, specs, agents, dict(DEFAULT_PROFILES), drivers,
                    {"USDKZT": f"{usd:.2f}"}, params.fees())


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

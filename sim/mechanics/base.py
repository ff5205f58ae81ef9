"""What every mechanic is: a parameter model with a `type:` name and a class that declares
itself (what it owns, records, publishes and reads) and steps each day.

A mechanic talks to the others only through population columns and same-day signals, and both
are declared: the columns it owns (`columns`) and those of others it reads (`uses`, or
`uses_if_any` when it can do without), the signals it publishes (`emits`) and those it reads
(`reads`, `reads_if_any`). The engine refuses at set-up a scenario in which a mechanic needs
what no enabled mechanic provides, and the accessors below refuse, naming the mechanic, a
signal or column the mechanic did not declare, so a misspelt name fails at once instead of
reading an empty array. The engine runs mechanics in stage order each day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, ClassVar, Generic, TypeVar

import numpy as np
import simpy

from sim.errors import Problem
from sim.metric import Metric, ReportSection
from sim.orders import ORDER_COLUMNS, ORDER_SIGNALS
from sim.params import StrictModel, Window
from sim.population import Layout, Population, Stage
from sim.recorder import Recorder
from sim.variants import VariantParams

CORE_SIGNALS = ("acquired", "churned")  # published by the population for every scenario


class StageOrder(IntEnum):
    """The documented order of a simulated day."""

    ACQUISITION = 0
    FUNNEL = 1
    PURCHASE = 2
    VIRALITY = 3
    LOYALTY = 4
    CHURN = 5


class MechanicParams(StrictModel):
    """Fields every mechanic has. Subclasses add `type: Literal[...]` and their own numbers.

    `fixed_fields` names the numeric fields (dotted, from the mechanic; a section covers every
    field in it) the mechanic reads once for the whole market (`params.base`: a schedule, a
    cap, a fixed cost): an arm or persona `set` of one would be silently ignored, so the
    scenario check refuses it. `trait_fields` names those drawn once per user at set-up (a
    purchase rate): an arm may set them only when its experiment starts on day 0, since a
    later switch could not change what every user already drew."""

    fixed_fields: ClassVar[frozenset[str]] = frozenset()
    trait_fields: ClassVar[frozenset[str]] = frozenset()
    # absolute quantities (people, yuan, units) written for market.reference_size users,
    # rescaled with the market (sim/scaling.py); `*` is any list item or key
    scaled_fields: ClassVar[frozenset[str]] = frozenset()

    window: Window | None = None

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        """What this mechanic needs from the other mechanics or the market, as (path, message)
        pairs located at its fields; `scenario` is the validated sim.scenario.Scenario. The
        scenario check asks every mechanic, so each keeps its own rules; most need nothing."""
        return []


P = TypeVar("P", bound=MechanicParams)


@dataclass
class Context:
    """What the engine hands a mechanic: the shared state and the mechanic's own random stream."""

    population: Population
    recorder: Recorder
    rng: np.random.Generator
    env: simpy.Environment
    days: int
    market_size: int
    layout: Layout


class UndeclaredError(LookupError):
    """A mechanic used a signal or column it did not declare (a bug in the mechanic)."""


class Mechanic(Generic[P]):
    """The interface. Class attributes declare what the mechanic is; `setup`, `step` and
    `idle` do its work."""

    stage: ClassVar[StageOrder]
    substage: ClassVar[int] = 0  # order within a stage when it matters (funnel before gift)
    events: ClassVar[tuple[str, ...]] = ()  # user events it records (count and amount per cell)
    channel_events: ClassVar[tuple[str, ...]] = ()  # costs with no user, per channel
    stocks: ClassVar[tuple[str, ...]] = ()  # levels it records at the end of each day
    metrics: ClassVar[tuple[Metric, ...]] = ()  # the metrics computed from what it records
    emits: ClassVar[tuple[str, ...]] = ()  # same-day signals it publishes
    reads: ClassVar[tuple[str, ...]] = ()  # signals it needs another mechanic to publish
    reads_if_any: ClassVar[tuple[str, ...]] = ()  # signals it reads when someone publishes them
    uses: ClassVar[tuple[str, ...]] = ()  # other mechanics' columns it needs
    uses_if_any: ClassVar[tuple[str, ...]] = ()  # other mechanics' columns it reads if present
    sells: ClassVar[bool] = False  # books orders: owns ORDER_COLUMNS, publishes ORDER_SIGNALS
    member_price: ClassVar[tuple[str, str] | None] = None  # (rate column, event): sim/orders.py
    needs_graph: ClassVar[bool] = False  # shares travel along friendships
    report: ClassVar[ReportSection | None] = None  # where its metric groups appear in the report
    # end-of-run tables (from `finish`) that are lists of records, one row each, whose number
    # differs between replicates: listed per replicate, never averaged
    records: ClassVar[tuple[str, ...]] = ()
    # platform rules and law it must keep: rule(scenario, name, params) -> problems
    compliance: ClassVar[tuple[Callable[[Any, str, Any], list[Problem]], ...]] = ()

    def __init__(self, name: str, params: VariantParams[P], ctx: Context) -> None:
        self.name = name
        self.params = params
        self.ctx = ctx
        self.pop = ctx.population
        self.rng = ctx.rng
        self.active = True
        cls = type(self)
        self._readable_columns = {*cls.uses, *cls.uses_if_any, *cls.owned_columns(params.base)}
        self._readable_signals = {*cls.reads, *cls.reads_if_any, *CORE_SIGNALS, *cls.published()}

    # --- declarations --------------------------------------------------------------------------
    @classmethod
    def columns(cls, params: P) -> dict[str, np.dtype]:
        """Population columns this mechanic owns (name -> dtype); shared names must agree."""
        return {}

    @classmethod
    def owned_columns(cls, params: P) -> dict[str, np.dtype]:
        """`columns` plus the order path's columns for a mechanic that sells."""
        return {**(ORDER_COLUMNS if cls.sells else {}), **cls.columns(params)}

    @classmethod
    def published(cls) -> tuple[str, ...]:
        """Signals it publishes: `emits`, and the order path's when it sells."""
        return (*cls.emits, *(ORDER_SIGNALS if cls.sells else ()))

    @classmethod
    def channels(cls, params: P) -> list[str]:
        """Acquisition channels this mechanic credits new users to."""
        return []

    @classmethod
    def base_channels(cls, params: P) -> list[str]:
        """Those of `channels` whose users were won before the run (an existing base): their
        first orders are not new buyers of the run (`won_first_purchases`, CAC)."""
        return []

    @classmethod
    def scratch_bytes_per_user(cls, params: P) -> int:
        """Temporary memory per user during set-up, for the memory estimate."""
        return 0

    # --- what it hears and touches, checked against the declarations ---------------------------
    def today(self, signal: str) -> np.ndarray:
        """Rows published today under a signal it declared it reads (empty if none)."""
        self._check_signal(signal)
        return self.pop.rows_today(signal)

    def today_values(self, signal: str) -> np.ndarray:
        """The values published with today's rows of a signal (aligned with `today`)."""
        self._check_signal(signal)
        return self.pop.values_today(signal)

    def publish(self, signal: str, rows: np.ndarray, values: np.ndarray | None = None) -> None:
        """Publish rows (and a value each) under a signal it declared in `emits`."""
        if signal not in self.published():
            raise UndeclaredError(f"mechanic {self.name!r} ({type(self).__name__}) publishes "
                                  f"signal {signal!r}, which it does not declare in `emits`")
        if values is None:
            self.pop.emit(signal, rows)
        else:
            self.pop.emit_values(signal, rows, values)

    def has(self, column: str) -> bool:
        """Whether a column it may read is in this scenario (its own, or one it declared in
        `uses` or `uses_if_any`)."""
        if column not in self._readable_columns:
            raise UndeclaredError(f"mechanic {self.name!r} ({type(self).__name__}) reads column "
                             f"{column!r}, which it does not declare in `uses` or `uses_if_any`")
        return column in self.pop.columns

    def _check_signal(self, signal: str) -> None:
        if signal not in self._readable_signals:
            raise UndeclaredError(f"mechanic {self.name!r} ({type(self).__name__}) reads signal "
                             f"{signal!r}, which it does not declare in `reads` or "
                             "`reads_if_any`")

    # --- the day -------------------------------------------------------------------------------
    def setup(self) -> None:
        """Draw per-user attributes and start any SimPy processes. Runs before day 0."""

    def step(self, day: int) -> None:
        """One day's work while the mechanic is switched on."""
        raise NotImplementedError

    def idle(self, day: int) -> None:
        """One day while switched off (outside its window); most mechanics do nothing."""

    def restart(self, day: int, changed: np.ndarray, before: VariantParams[P]) -> None:
        """The experiment's start day (before day `day`'s step) switched the values of the
        groups flagged in `changed` (`before`: the values until now). A mechanic that drew
        something per user from a rate (a pending checkout, an open) draws it again for those
        users here, so the arm's values act from the start day; one-off grants made before it
        (a gift on joining) stay. Values drawn once per user at set-up cannot follow: they are
        `trait_fields`, which an arm may only set when the test starts on day 0."""

    def moved(self, rows: np.ndarray, old_cells: np.ndarray, new_cells: np.ndarray) -> None:
        """The engine moved these users to other counter cells (an experiment's start day with
        eligibility new_users moves users acquired before it out of the test). Mechanics that
        keep running totals per cell move the users' share of them; the rest do nothing."""

    def finish(self) -> dict[str, np.ndarray]:
        """End-of-run tables that are not daily series (e.g. a referral-tree depth histogram)."""
        return {}

    # --- helpers of acquisition channels -------------------------------------------------------
    def bring(self, rows: np.ndarray, day: int, channel: int, campaign: int = -1) -> None:
        """Acquisition channels call this: record the visits, then let them arrive (register at
        once, or through the funnel when the scenario has one)."""
        rows = rows[self.pop.stage[rows] == Stage.POTENTIAL]
        self.ctx.recorder.event("visit", day, rows, channel=channel)
        self.pop.arrive_potential(rows, day, channel, campaign)

    def targeted_groups(self, personas: list[str]) -> np.ndarray:
        """Parameter groups (arm x persona) whose persona is in `personas` (all if empty)."""
        layout = self.ctx.layout
        groups = np.arange(layout.n_groups)
        if not personas:
            return groups
        wanted = [layout.personas.index(p) for p in personas]
        return groups[np.isin(groups % len(layout.personas), wanted)]

"""The engine: a pure function from (scenario, replicate) to daily counters, and `run`.

The day loop is plain Python and its order is explicit (`_days`): each day, first every SimPy
event due by that day (dated things are SimPy processes: windows, the experiment's start,
deliveries, live slots, renewals), then the enabled mechanics in stage order (acquisition,
funnel, purchase, virality, loyalty, churn), then the day's records.

Experiments: arms are assigned by the experiment's unit (each user; whole graph communities;
or ego clusters, see `assign_arms`). Arm settings apply from the experiment's start day (a
SimPy timeout swaps every mechanic's parameters from the control's values to the arms'); with
`eligibility: new_users`, users already acquired then are moved to the control arm. A
`UserTally` asks for per-user totals of some events, read at the end of given days, for
user-level A/B analysis (in `Counters.extras` under `user.*`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, replace

import numpy as np
import simpy

from sim.aggregation import Result, collect
from sim.arms import assign_arms, draw_labels, start_experiment
from sim.graph_cache import PROCESS_GRAPHS, GraphCache, needs_graph
from sim.growth_accounting import EVENTS as GA_EVENTS
from sim.growth_accounting import GrowthAccounting
from sim.mechanics import REGISTRY
from sim.mechanics.base import Context, Mechanic
from sim.metrics import (
    COHORT_EVENTS,
)
from sim.planning import (
    CORE_CHANNEL_EVENTS,
    CORE_EVENTS,
    CORE_STOCKS,
    check_memory,
    columns_and_scratch,
    declared,
    layout_of,
)
from sim.population import Population, Stage
from sim.recorder import Counters, Recorder
from sim.rng import stream
from sim.scenario import Scenario
from sim.variants import VariantParams, variant_scenarios

Progress = Callable[[int], None]


@dataclass(frozen=True)
class UserTally:
    """Per-user totals of some events from `first_day` on, read at the end of each checkpoint
    day: what a user-level A/B comparison needs, without the whole event log."""

    events: tuple[str, ...]
    first_day: int = 0
    checkpoints: tuple[int, ...] = ()  # last days (inclusive); empty = the last day
    # also the cohort tables, the retention grid and growth accounting: an A/B reading uses
    # only the per-user arrays (without them a 100k x 60 market costs 7-9% less). Growth
    # accounting still runs when a ga_* event is tallied (a ga_* metric read per user); the
    # other daily counters are kept either way, the ga_* ones only then
    cohorts: bool = True


class _TallyRecorder(Recorder):
    """A recorder that also adds events up per user (counts and amounts)."""

    def __init__(self, *args: object, tally: UserTally, size: int, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.first_day = tally.first_day
        self.user_counts = {e: np.zeros(size) for e in tally.events}
        self.user_amounts = {e: np.zeros(size) for e in tally.events}
        self.snapshots: dict[str, np.ndarray] = {}

    def event(self, name: str, day: int, rows: np.ndarray,
              amount: np.ndarray | float | None = None, channel: int | None = None) -> None:
        super().event(name, day, rows, amount, channel)
        if name in self.user_counts and day >= self.first_day and len(rows):
            np.add.at(self.user_counts[name], rows, 1.0)
            if amount is not None:
                np.add.at(self.user_amounts[name], rows,
                          np.broadcast_to(np.asarray(amount, dtype=np.float64), rows.shape))

    def events_on_days(self, name: str, days: np.ndarray, rows: np.ndarray) -> None:
        if name in self.user_counts:  # tallied per user: the per-day path adds them up
            self.events_day_by_day(name, days, rows)
        else:
            super().events_on_days(name, days, rows)

    def snapshot(self, day: int) -> None:
        for name in self.user_counts:
            self.snapshots[f"user.{name}@{day}"] = self.user_counts[name].copy()
            self.snapshots[f"user.{name}_amount@{day}"] = self.user_amounts[name].copy()


def simulate(scenario: Scenario, replicate: int = 0, progress: Progress | None = None,
             log_events: bool = False, tally: UserTally | None = None,
             graphs: GraphCache | None = None) -> Counters:
    """Run one replicate and return its counter tables (and the event log if asked).

    A pure function of picklable inputs: the same (scenario, replicate) gives the same numbers
    in any process. With `tally`, `counters.extras` also holds per-user arrays: `user.arm`
    (as assigned), `user.unit` (randomisation unit id), `user.acquired_day` (-1 = never) and
    `user.<event>@<day>` / `user.<event>_amount@<day>` for each tallied event and checkpoint.
    `graphs`: where the friendship graph comes from (default: the process's `PROCESS_GRAPHS`).
    """
    check_memory(scenario)
    seed, days, size = scenario.seed, scenario.days, scenario.market.size
    exp = scenario.experiment
    layout = layout_of(scenario)
    graphs = PROCESS_GRAPHS if graphs is None else graphs
    graph = graphs.graph(scenario, replicate) if needs_graph(scenario) else None
    arm, unit = assign_arms(scenario, replicate, graph)
    assigned = arm.copy() if tally is not None else arm
    persona = draw_labels("personas", scenario.persona_shares, size, seed, replicate)
    columns, _ = columns_and_scratch(scenario)
    pop = Population(layout, arm, persona, columns)
    tables = (layout, pop, days, declared(scenario, "events", CORE_EVENTS),
              declared(scenario, "channel_events", CORE_CHANNEL_EVENTS),
              declared(scenario, "stocks", CORE_STOCKS), log_events)
    cohorts = tally is None or tally.cohorts
    recorder = Recorder(*tables, cohort_events=COHORT_EVENTS) if tally is None else \
        _TallyRecorder(*tables, cohort_events=COHORT_EVENTS if cohorts else (),
                       retention_grid=cohorts, tally=tally, size=size)
    env = simpy.Environment()

    delayed = exp is not None and exp.start_day > 0
    shared = Context(pop, recorder, None, env, days, size, layout)  # type: ignore[arg-type]
    mechanics = _mechanics(scenario, replicate, shared, with_arms=not delayed)  # own rng each
    pop.member_prices = [m.member_price for m in mechanics if m.member_price is not None]
    pop.graph = graph
    pop.funnel = any(getattr(m, "registers_visits", False) for m in mechanics)
    _set_up(env, scenario, mechanics)
    if delayed:
        env.process(start_experiment(env, scenario, mechanics, pop))

    checkpoints: set[int] = set()
    if tally is not None:
        checkpoints = set(tally.checkpoints) or {days - 1}
    accounting = GrowthAccounting(scenario.growth_accounting, pop, recorder) \
        if tally is None or tally.cohorts or set(tally.events) & set(GA_EVENTS) else None
    _days(env, mechanics, pop, recorder, days, progress, checkpoints, accounting)
    return _counters(recorder, mechanics, pop, assigned, unit, log_events)


def _mechanics(scenario: Scenario, replicate: int, shared: Context,
               with_arms: bool) -> list[Mechanic]:
    """Every enabled mechanic, each with its own random stream and its parameters per variant
    (the control's for every arm until a delayed start), in stage order (stable: then the
    scenario's order)."""
    variants = variant_scenarios(scenario, with_arms=with_arms)
    mechanics: list[Mechanic] = []
    for name, params in scenario.mechanics.items():
        cls = REGISTRY[params.type][1]
        ctx = replace(shared, rng=stream(scenario.seed, replicate, f"mechanic:{name}"))
        mechanics.append(cls(name, VariantParams([v.mechanics[name] for v in variants]), ctx))
    mechanics.sort(key=lambda m: (m.stage, m.substage))
    return mechanics


def _set_up(env: simpy.Environment, scenario: Scenario, mechanics: list[Mechanic]) -> None:
    """Each mechanic's set-up, in stage order; a mechanic with a window starts its clock."""
    for mech in mechanics:
        mech.setup()
        window = scenario.mechanics[mech.name].window
        if window is not None:
            mech.active = window.first_day == 0
            env.process(_window(env, mech, window.first_day, window.last_day))


def _counters(recorder: Recorder, mechanics: list[Mechanic], pop: Population,
              assigned: np.ndarray, unit: np.ndarray | None, log_events: bool) -> Counters:
    """The recorder's tables with each mechanic's end-of-run tables and, for a tally, the
    per-user arrays an A/B reading needs."""
    counters = recorder.finish()
    for mech in mechanics:
        counters.extras.update({f"{mech.name}.{k}": v for k, v in mech.finish().items()})
    if isinstance(recorder, _TallyRecorder):
        counters.extras.update(recorder.snapshots)
        counters.extras.update({"user.arm": assigned,
                                "user.unit": np.arange(pop.size) if unit is None else unit,
                                "user.acquired_day": pop.acquired_day.copy()})
    if log_events:  # who is who, so the log can name arms and personas
        counters.events.update(_arm=pop.arm, _persona=pop.persona)
    return counters


def _window(env: simpy.Environment, mech: Mechanic, first: int, last: int | None) -> Iterator:
    if first > 0:
        yield env.timeout(first)
        mech.active = True
    if last is not None:
        yield env.timeout(last + 1 - first)
        mech.active = False


def _advance(env: simpy.Environment, day: int) -> None:
    """Run every SimPy event due by `day` (dated things are on whole days) and leave the clock
    at `day`, so a timeout a mechanic starts in today's step counts from today."""
    if day > env.now:
        env.run(until=day)  # stops at `day` before that day's events
    while env.peek() <= day:
        env.step()


def _days(env: simpy.Environment, mechanics: list[Mechanic], pop: Population,
          recorder: Recorder, days: int, progress: Progress | None,
          checkpoints: Collection[int] = (),
          accounting: GrowthAccounting | None = None) -> None:
    """The day loop, in its documented order: first the calendar (every SimPy event due by
    today: windows opening or closing, the experiment's start, deliveries, live slots,
    renewals), then each mechanic in stage order (acquisition, funnel, purchase, virality,
    loyalty, churn; `substage`, then scenario order, within a stage), then the day's core
    counters and growth accounting."""
    for day in range(days):
        _advance(env, day)
        pop.begin_day()
        for mech in mechanics:
            if mech.active:
                mech.step(day)
            else:
                mech.idle(day)
        recorder.event("acquired", day, pop.rows_today("acquired"))
        recorder.event("churned", day, pop.rows_today("churned"))
        recorder.stock("alive_users", day, pop.count(Stage.ALIVE))
        if accounting is not None:
            accounting.record_day(day)
        if day in checkpoints and isinstance(recorder, _TallyRecorder):
            recorder.snapshot(day)
        if progress is not None:
            progress(1)


def run(scenario: Scenario, progress: Progress | None = None,
        log_events: bool = False) -> Result:
    """Run every replicate of a scenario in this process and collect the metrics."""
    check_memory(scenario)
    counters = {r: simulate(scenario, r, progress, log_events)
                for r in range(scenario.replicates)}
    return collect(scenario, counters)

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
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import simpy

from sim.errors import InputError
from sim.graph import CommunityGraphParams, SocialGraph, community_graph, edge_list_graph
from sim.growth_accounting import COLUMNS as GA_COLUMNS
from sim.growth_accounting import EVENTS as GA_EVENTS
from sim.growth_accounting import SCRATCH_BYTES_PER_USER as GA_SCRATCH
from sim.growth_accounting import GrowthAccounting
from sim.mechanics import REGISTRY
from sim.mechanics.base import Context, Mechanic
from sim.memory import available_bytes, bytes_per_user, estimate_bytes, human
from sim.metrics import (
    COHORT_EVENTS,
    daily_metrics,
    horizon_values,
    ltv_by_cohort,
    retention_grid,
    unit_economics,
)
from sim.population import Layout, Population, Stage
from sim.recorder import Counters, Recorder
from sim.rng import stream
from sim.scenario import Experiment, Scenario, variant_scenarios
from sim.stats import mean_ci
from sim.variants import VariantParams

CORE_EVENTS = ("visit", "acquired", "churned", *GA_EVENTS)
CORE_CHANNEL_EVENTS = ("ad_spend", "kol_spend")  # always there, so CAC and ROI always exist
CORE_STOCKS = ("alive_users",)
Progress = Callable[[int], None]


# --- planning: what the scenario needs before anything is allocated ---------------------------


def _columns_and_scratch(scenario: Scenario) -> tuple[dict[str, np.dtype], int]:
    columns: dict[str, np.dtype] = dict(GA_COLUMNS)  # growth accounting: every scenario
    scratch = GA_SCRATCH
    for name, params in scenario.mechanics.items():
        cls = REGISTRY[params.type][1]
        for col, dtype in cls.owned_columns(params).items():
            if col in columns and columns[col] != dtype:
                raise InputError([scenario.problem(("mechanics", name),
                                                   f"column {col!r} is {dtype} here but "
                                                   f"{columns[col]} in another mechanic")])
            columns[col] = dtype
        scratch = max(scratch, cls.scratch_bytes_per_user(params))
    return columns, scratch


def layout_of(scenario: Scenario) -> Layout:
    channels = ["none"]
    for params in scenario.mechanics.values():
        for channel in REGISTRY[params.type][1].channels(params):
            if channel not in channels:
                channels.append(channel)
    return Layout(tuple(scenario.arm_names), tuple(scenario.persona_names), tuple(channels))


def _declared(scenario: Scenario, attribute: str, core: tuple[str, ...] = ()) -> list[str]:
    names = list(core)
    for params in scenario.mechanics.values():
        names += [n for n in getattr(REGISTRY[params.type][1], attribute) if n not in names]
    return names


def user_events(scenario: Scenario) -> list[str]:
    """Events recorded per user in this scenario (what a per-user A/B metric can be built from;
    channel costs such as ad spend have no user)."""
    return _declared(scenario, "events", CORE_EVENTS)


def channel_events(scenario: Scenario) -> list[str]:
    """Events recorded per channel, with no user (costs such as ad spend, market levels)."""
    return _declared(scenario, "channel_events", CORE_CHANNEL_EVENTS)


def memory_estimate(scenario: Scenario) -> int:
    """Peak bytes one replicate of this scenario is expected to need."""
    columns, scratch = _columns_and_scratch(scenario)
    layout = layout_of(scenario)
    tables = len(_declared(scenario, "events", CORE_EVENTS)) * 2 + len(
        _declared(scenario, "stocks", CORE_STOCKS))
    graph = scenario.market.graph
    needs = graph is not None or any(REGISTRY[p.type][1].needs_graph
                                     for p in scenario.mechanics.values())
    degree = (graph.mean_degree if isinstance(graph, CommunityGraphParams)
              else CommunityGraphParams().mean_degree) if needs else 0.0
    return estimate_bytes(scenario.market.size, columns, scratch, scenario.days, tables,
                          layout.n_cells, degree)


def check_memory(scenario: Scenario) -> None:
    """Refuse, with the estimate, a scenario that will not fit in the memory available now."""
    need, have = memory_estimate(scenario), available_bytes()
    if need > have:
        columns, scratch = _columns_and_scratch(scenario)
        per_user = bytes_per_user(columns, scratch)
        raise InputError([scenario.problem(
            ("market", "size"),
            f"{scenario.market.size:,} users need about {human(need)} "
            f"({per_user} bytes per user) but only {human(have)} is available; "
            "lower market.size or switch off mechanics")])


# --- one replicate -----------------------------------------------------------------------------


def _assign(rng_name: str, shares: list[float], size: int, seed: int, replicate: int) -> np.ndarray:
    if len(shares) == 1:
        return np.zeros(size, dtype=np.int8)
    p = np.asarray(shares) / np.sum(shares)
    return stream(seed, replicate, rng_name).choice(len(p), size=size, p=p).astype(np.int8)


def _needs_graph(scenario: Scenario) -> bool:
    unit = scenario.experiment.unit if scenario.experiment else "user"
    return (unit != "user" or scenario.market.graph is not None
            or any(REGISTRY[p.type][1].needs_graph for p in scenario.mechanics.values()))


def ego_clusters(graph: SocialGraph, share: float, rng: np.random.Generator) -> np.ndarray:
    """Non-overlapping ego clusters: the cluster id (its ego's row) of every user, -1 if none.

    Candidates are sampled with probability `share`, each with a random priority; a candidate
    keeps its cluster (itself and all its friends) if it has the smallest priority on every
    member, so kept clusters never share a user (one vectorised round, as in Luby's
    independent-set step; dropped candidates are not retried).
    """
    n = len(graph.community)
    candidate = np.flatnonzero(rng.random(n) < share)
    priority = rng.permutation(len(candidate)).astype(np.int64)
    degree = graph.degree[candidate]
    members = np.concatenate([candidate, graph.indices[
        np.repeat(graph.indptr[candidate], degree)
        + _ranges(degree)]]).astype(np.int64)
    owner = np.concatenate([np.arange(len(candidate)), np.repeat(np.arange(len(candidate)),
                                                                  degree)])
    best = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(best, members, priority[owner])
    lost = np.zeros(len(candidate), dtype=bool)
    lost[owner[best[members] != priority[owner]]] = True
    cluster = np.full(n, -1, dtype=np.int64)
    kept = ~lost[owner]
    cluster[members[kept]] = candidate[owner[kept]]
    return cluster


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """0..k-1 for each k in `lengths`, concatenated."""
    total = int(lengths.sum())
    starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - starts


def assign_arms(scenario: Scenario, replicate: int,
                graph: SocialGraph | None) -> tuple[np.ndarray, np.ndarray | None]:
    """The arm of every user and the id of the unit it was randomised with (None: each
    user is its own unit).

    user: each user draws its arm (bit-identical to the engine before units existed).
    cluster: each graph community draws one arm for all its members.
    ego: users in an ego cluster (`ego_clusters`) take their cluster's arm; everyone else
    keeps the arm they drew as a user. Unit ids: the row (user), the community (cluster), the
    ego's row or size + row for users randomised alone (ego).
    """
    seed, size = scenario.seed, scenario.market.size
    exp = scenario.experiment
    unit = exp.unit if exp else "user"
    if unit == "user" or graph is None:
        return _assign("arms", scenario.arm_shares, size, seed, replicate), None
    p = np.asarray(scenario.arm_shares) / np.sum(scenario.arm_shares)
    if unit == "cluster":
        community = graph.community.astype(np.int64)
        per_unit = stream(seed, replicate, "arms:cluster").choice(
            len(p), size=int(community.max()) + 1, p=p).astype(np.int8)
        return per_unit[community], community
    arm = _assign("arms", scenario.arm_shares, size, seed, replicate)
    cluster = ego_clusters(graph, exp.ego_share, stream(seed, replicate, "ego"))
    per_unit = stream(seed, replicate, "arms:ego").choice(len(p), size=size, p=p).astype(np.int8)
    inside = cluster >= 0
    arm[inside] = per_unit[cluster[inside]]
    return arm, np.where(inside, cluster, size + np.arange(size))


@dataclass(frozen=True)
class UserTally:
    """Per-user totals of some events from `first_day` on, read at the end of each checkpoint
    day: what a user-level A/B comparison needs, without the whole event log."""

    events: tuple[str, ...]
    first_day: int = 0
    checkpoints: tuple[int, ...] = ()  # last days (inclusive); empty = the last day


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

    def snapshot(self, day: int) -> None:
        for name in self.user_counts:
            self.snapshots[f"user.{name}@{day}"] = self.user_counts[name].copy()
            self.snapshots[f"user.{name}_amount@{day}"] = self.user_amounts[name].copy()


def simulate(scenario: Scenario, replicate: int = 0, progress: Progress | None = None,
             log_events: bool = False, tally: UserTally | None = None) -> Counters:
    """Run one replicate and return its counter tables (and the event log if asked).

    A pure function of picklable inputs: the same (scenario, replicate) gives the same numbers
    in any process. With `tally`, `counters.extras` also holds per-user arrays: `user.arm`
    (as assigned), `user.unit` (randomisation unit id), `user.acquired_day` (-1 = never) and
    `user.<event>@<day>` / `user.<event>_amount@<day>` for each tallied event and checkpoint.
    """
    check_memory(scenario)
    seed, days, size = scenario.seed, scenario.days, scenario.market.size
    exp = scenario.experiment
    layout = layout_of(scenario)
    graph = build_graph(scenario, replicate) if _needs_graph(scenario) else None
    arm, unit = assign_arms(scenario, replicate, graph)
    assigned = arm.copy() if tally is not None else arm
    persona = _assign("personas", scenario.persona_shares, size, seed, replicate)
    columns, _ = _columns_and_scratch(scenario)
    pop = Population(layout, arm, persona, columns)
    tables = (layout, pop, days, _declared(scenario, "events", CORE_EVENTS),
              _declared(scenario, "channel_events", CORE_CHANNEL_EVENTS),
              _declared(scenario, "stocks", CORE_STOCKS), log_events)
    recorder = Recorder(*tables, cohort_events=COHORT_EVENTS) if tally is None else \
        _TallyRecorder(*tables, cohort_events=COHORT_EVENTS, tally=tally, size=size)
    env = simpy.Environment()

    delayed = exp is not None and exp.start_day > 0
    variants = variant_scenarios(scenario, with_arms=not delayed)
    mechanics: list[Mechanic] = []
    for name, params in scenario.mechanics.items():
        cls = REGISTRY[params.type][1]
        ctx = Context(pop, recorder, stream(seed, replicate, f"mechanic:{name}"), env, days,
                      size, layout)
        mechanics.append(cls(name, VariantParams([v.mechanics[name] for v in variants]), ctx))
    mechanics.sort(key=lambda m: (m.stage, m.substage))  # stable: then file order
    pop.member_prices = [m.member_price for m in mechanics if m.member_price is not None]
    pop.graph = graph
    pop.funnel = any(getattr(m, "registers_visits", False) for m in mechanics)
    for mech in mechanics:
        mech.setup()
        window = scenario.mechanics[mech.name].window
        if window is not None:
            mech.active = window.first_day == 0
            env.process(_window(env, mech, window.first_day, window.last_day))
    if delayed:
        env.process(_start(env, scenario, mechanics, pop))

    checkpoints: set[int] = set()
    if tally is not None:
        checkpoints = set(tally.checkpoints) or {days - 1}
    accounting = GrowthAccounting(scenario.growth_accounting, pop, recorder)
    _days(env, mechanics, pop, recorder, days, progress, checkpoints, accounting)
    counters = recorder.finish()
    for mech in mechanics:
        counters.extras.update({f"{mech.name}.{k}": v for k, v in mech.finish().items()})
    if isinstance(recorder, _TallyRecorder):
        counters.extras.update(recorder.snapshots)
        counters.extras.update({"user.arm": assigned,
                                "user.unit": np.arange(size) if unit is None else unit,
                                "user.acquired_day": pop.acquired_day.copy()})
    if log_events:  # who is who, so the log can name arms and personas
        counters.events.update(_arm=pop.arm, _persona=pop.persona)
    return counters


def _start(env: simpy.Environment, scenario: Scenario, mechanics: list[Mechanic],
           pop: Population) -> Iterator:
    """At the start day: with eligibility new_users, users acquired before then leave their
    arms for `not_enrolled` (they keep the control's values and are counted apart); then
    every mechanic switches to the arms' values (`arm_settings`) and re-derives what it drew
    under the old ones for the users whose values changed (`Mechanic.restart`)."""
    exp: Experiment = scenario.experiment  # type: ignore[assignment]
    yield env.timeout(exp.start_day)
    if exp.eligibility == "new_users":
        rows = np.flatnonzero(pop.stage != Stage.POTENTIAL)
        old_cells = pop.cell[rows].copy()
        _move_to_arm(pop, rows, len(exp.arms))
        for mech in mechanics:  # per-cell running totals follow the users
            mech.moved(rows, old_cells, pop.cell[rows])
    variants = variant_scenarios(scenario)
    for mech in mechanics:
        before = mech.params
        mech.params = VariantParams([v.mechanics[mech.name] for v in variants])
        changed = before.changed_groups(mech.params)
        if changed.any():
            mech.restart(exp.start_day, changed, before)


def _move_to_arm(pop: Population, rows: np.ndarray, arm: int) -> None:
    """Acquired users join another arm: their group, cell and the per-cell stage counts
    follow."""
    if not len(rows):
        return
    np.add.at(pop.stage_counts, (pop.stage[rows], pop.cell[rows]), -1)
    pop.arm[rows] = arm
    pop.group[rows] = arm * len(pop.layout.personas) + pop.persona[rows]
    pop.cell[rows] = pop.group[rows] * pop.n_channels + pop.channel[rows]
    np.add.at(pop.stage_counts, (pop.stage[rows], pop.cell[rows]), 1)


_GRAPHS: dict[tuple, SocialGraph] = {}  # the last generated graph: the A/B markets of one
# replicate (mixed, all-treatment, all-control) share it instead of building it three times


def build_graph(scenario: Scenario, replicate: int) -> SocialGraph:
    """The friendship graph of a replicate: generated from its own stream, or loaded."""
    from pathlib import Path

    params = scenario.market.graph or CommunityGraphParams()
    if isinstance(params, CommunityGraphParams):
        key = (scenario.market.size, params, scenario.seed, replicate)
        if key not in _GRAPHS:
            _GRAPHS.clear()
            _GRAPHS[key] = community_graph(scenario.market.size, params,
                                           stream(scenario.seed, replicate, "graph"))
        return _GRAPHS[key]
    base = Path(scenario._source).parent if scenario._source != "<scenario>" else Path.cwd()
    return edge_list_graph(scenario.market.size, params, base, scenario._source)


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


# --- tables of daily counters and metrics ------------------------------------------------------


def daily_table(c: Counters, cells: np.ndarray | None = None,
                channels: np.ndarray | None = None) -> pd.DataFrame:
    """Raw daily counters summed over the chosen cells (all if None); channel-level costs over
    the chosen channels (left out when `channels` is an empty array, e.g. for an arm)."""
    def pick(table: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        return table.sum(axis=1) if keep is None else table[:, keep].sum(axis=1)

    cols: dict[str, np.ndarray] = {}
    for name, table in c.counts.items():
        cols[name] = pick(table, cells)
        cols[f"{name}_amount"] = pick(c.amounts[name], cells)
    for name, table in c.stocks.items():
        cols[name] = pick(table, cells)
    if channels is None or len(channels):
        for name, table in c.channel_amounts.items():
            cols[name] = pick(table, channels)
    return pd.DataFrame(cols)


@dataclass
class Result:
    """Daily metrics of every replicate, for the whole market, each arm and each channel."""

    scenario: Scenario
    metrics: pd.DataFrame  # replicate, day, one column per metric (whole market)
    arm_metrics: pd.DataFrame  # replicate, arm, day, metrics
    channel_metrics: pd.DataFrame  # replicate, channel, day, metrics
    counters: dict[int, Counters] = field(repr=False, default_factory=dict)

    @property
    def metric_names(self) -> list[str]:
        return [c for c in self.metrics.columns if c not in ("replicate", "day")]

    def horizon(self, frame: pd.DataFrame | None = None, by: str | None = None) -> pd.DataFrame:
        """One row per replicate (and `by` value): each metric over the whole horizon."""
        frame = self.metrics if frame is None else frame
        keys = ["replicate"] + ([by] if by else [])
        rows = [{**dict(zip(keys, key if isinstance(key, tuple) else (key,), strict=True)),
                 **horizon_values(g.drop(columns=[*keys, "day"]))}
                for key, g in frame.groupby(keys, sort=False)]
        return pd.DataFrame(rows)

    def summary(self) -> dict[str, dict[str, float]]:
        """Mean and 95% confidence interval across replicates of each metric over the horizon."""
        table = self.horizon()
        return {name: mean_ci(table[name].to_numpy()) for name in self.metric_names}

    def _summary_by(self, frame: pd.DataFrame, by: str) -> dict[str, dict[str, dict[str, float]]]:
        table = self.horizon(frame, by)
        return {str(key): {name: mean_ci(g[name].to_numpy())
                           for name in g.columns if name not in ("replicate", by)}
                for key, g in table.groupby(by, sort=False)}

    def arm_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return self._summary_by(self.arm_metrics, "arm")

    def channel_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        return self._summary_by(self.channel_metrics, "channel")

    def unit_economics(self) -> pd.DataFrame:
        """One row per replicate and channel ("all" for the market): CAC, LTV at 30/90/180
        days per new buyer, LTV/CAC, payback days, conversion to a first order in 7/30 days
        (NaN, not applicable, where the scenario books no orders)."""
        layout, days = layout_of(self.scenario), self.scenario.days
        rows = []
        for replicate, c in sorted(self.counters.items()):
            whole = self.metrics[self.metrics["replicate"] == replicate]
            rows.append({"replicate": replicate, "channel": "all", **unit_economics(
                c.cohort_counts, c.cohort_amounts, _total(whole, "acquisition_spend"),
                _total(whole, "first_purchases"), days)})
            for k, name in enumerate(layout.channels[1:], start=1):
                frame = self.channel_metrics
                mine = frame[(frame["replicate"] == replicate) & (frame["channel"] == name)]
                rows.append({"replicate": replicate, "channel": name, **unit_economics(
                    c.cohort_counts, c.cohort_amounts, _total(mine, "acquisition_spend"),
                    _total(mine, "first_purchases"), days, k)})
        return pd.DataFrame(rows)

    def unit_economics_summary(self) -> dict[str, dict[str, dict[str, float]]]:
        table = self.unit_economics()
        return {str(ch): {name: mean_ci(g[name].to_numpy()) for name in g.columns
                          if name not in ("replicate", "channel")}
                for ch, g in table.groupby("channel", sort=False)}

    def events(self) -> pd.DataFrame:
        """The per-user event log of every replicate (runs made with log_events=True)."""
        from sim.events import event_table

        layout = layout_of(self.scenario)
        return pd.concat([event_table(c, layout).assign(replicate=r)
                          for r, c in sorted(self.counters.items())], ignore_index=True)

    def ltv_by_cohort(self, channel: str | None = None) -> pd.DataFrame:
        """LTV at 30/90/180 days per weekly cohort (margin and GMV, per new buyer), mean over
        replicates; one channel or the whole market."""
        k = None if channel is None else layout_of(self.scenario).channel_id(channel)
        tables = [ltv_by_cohort(c.cohort_counts, c.cohort_amounts, self.scenario.days, k)
                  for c in self.counters.values()]
        return pd.concat(tables).groupby(level=0).mean()

    def attribution(self) -> pd.DataFrame:
        """Multi-touch attribution of every touchpoints mechanic: one row per (mechanic, model,
        touch point) with attributed orders, first orders, GMV, the touch point's cost and ROI,
        mean over replicates (empty when the scenario has no touch points)."""
        from sim.mechanics.touchpoints import attribution_table

        names = [n for n, p in self.scenario.mechanics.items() if p.type == "touchpoints"]
        frames = [attribution_table(c.extras, name).assign(mechanic=name, replicate=r)
                  for name in names for r, c in sorted(self.counters.items())]
        if not frames:
            return pd.DataFrame()
        table = pd.concat(frames, ignore_index=True)
        keys = ["mechanic", "model", "touchpoint"]
        mean = table.drop(columns="replicate").groupby(keys, sort=False).mean().reset_index()
        mean["roi"] = (mean["gmv"] - mean["cost"]) / mean["cost"].where(mean["cost"] > 0)
        return mean

    def retention(self, channel: str | None = None) -> pd.DataFrame:
        """Weekly cohorts x weeks since acquisition: share with an open, mean over replicates."""
        layout = layout_of(self.scenario)
        k = None if channel is None else layout.channel_id(channel)
        grids = [retention_grid(c.cohort_active, c.cohort_counts["acquired"][:, :, 0],
                                self.scenario.days, k) for c in self.counters.values()
                 if "open" in c.counts]
        if not grids:
            return pd.DataFrame()
        return sum(grids) / len(grids)


def run(scenario: Scenario, progress: Progress | None = None,
        log_events: bool = False) -> Result:
    """Run every replicate of a scenario in this process and collect the metrics."""
    check_memory(scenario)
    counters = {r: simulate(scenario, r, progress, log_events)
                for r in range(scenario.replicates)}
    return collect(scenario, counters)


def collect(scenario: Scenario, counters: dict[int, Counters]) -> Result:
    """Turn per-replicate counters into metric tables (shared by every executor)."""
    layout = layout_of(scenario)
    cell_arm, cell_channel = layout.cell_arm(), layout.cell_channel()
    whole, by_arm, by_channel = [], [], []
    days = np.arange(scenario.days)
    no_channels = np.empty(0, dtype=int)
    for replicate in sorted(counters):
        c = counters[replicate]
        whole.append(daily_metrics(daily_table(c)).assign(replicate=replicate, day=days))
        for a, arm in enumerate(layout.arms):
            frame = daily_metrics(daily_table(c, np.flatnonzero(cell_arm == a), no_channels))
            by_arm.append(frame.assign(replicate=replicate, arm=arm, day=days))
        for k, channel in enumerate(layout.channels[1:], start=1):
            frame = daily_metrics(daily_table(c, np.flatnonzero(cell_channel == k),
                                              np.array([k])))
            by_channel.append(frame.assign(replicate=replicate, channel=channel, day=days))
    metrics = _front(pd.concat(whole, ignore_index=True), ["replicate", "day"])
    arm_metrics = _front(pd.concat(by_arm, ignore_index=True), ["replicate", "arm", "day"])
    channel_metrics = _front(pd.concat(by_channel, ignore_index=True),
                             ["replicate", "channel", "day"]) if by_channel else pd.DataFrame()
    return Result(scenario, metrics, arm_metrics, channel_metrics, counters)


def _total(frame: pd.DataFrame, metric: str) -> float:
    """A flow's total over the frame's days; NaN when the scenario does not have the metric."""
    return float(frame[metric].sum()) if metric in frame.columns else float("nan")


def _front(frame: pd.DataFrame, first: list[str]) -> pd.DataFrame:
    return frame[first + [c for c in frame.columns if c not in first]]

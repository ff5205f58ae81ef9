"""Planning a run: what a scenario needs before anything is allocated.

The population's columns (each enabled mechanic's `columns`, growth accounting's), the events,
channel costs and stocks it can record (the engine's core ones and the mechanics'
declarations), and the memory all of that will take, refused at once when it cannot fit.
"""

from __future__ import annotations

import numpy as np

from sim.errors import InputError
from sim.graph import CommunityGraphParams
from sim.growth_accounting import COLUMNS as GA_COLUMNS
from sim.growth_accounting import EVENTS as GA_EVENTS
from sim.growth_accounting import SCRATCH_BYTES_PER_USER as GA_SCRATCH
from sim.mechanics import REGISTRY
from sim.memory import available_bytes, bytes_per_user, estimate_bytes, human
from sim.population import Layout
from sim.scenario import Scenario

CORE_EVENTS = ("visit", "acquired", "churned", *GA_EVENTS)
CORE_CHANNEL_EVENTS = ("ad_spend", "kol_spend")  # always there, so CAC and ROI always exist
CORE_STOCKS = ("alive_users",)


def columns_and_scratch(scenario: Scenario) -> tuple[dict[str, np.dtype], int]:
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
    channels, base = ["none"], []
    for params in scenario.mechanics.values():
        cls = REGISTRY[params.type][1]
        channels += [c for c in cls.channels(params) if c not in channels]
        base += [c for c in cls.base_channels(params) if c not in base]
    return Layout(tuple(scenario.arm_names), tuple(scenario.persona_names), tuple(channels),
                  tuple(base))


def declared(scenario: Scenario, attribute: str, core: tuple[str, ...] = ()) -> list[str]:
    names = list(core)
    for params in scenario.mechanics.values():
        names += [n for n in getattr(REGISTRY[params.type][1], attribute) if n not in names]
    return names


def user_events(scenario: Scenario) -> list[str]:
    """Events recorded per user in this scenario (what a per-user A/B metric can be built from;
    channel costs such as ad spend have no user)."""
    return declared(scenario, "events", CORE_EVENTS)


def channel_events(scenario: Scenario) -> list[str]:
    """Events recorded per channel, with no user (costs such as ad spend, market levels)."""
    return declared(scenario, "channel_events", CORE_CHANNEL_EVENTS)


def with_amounts(names: list[str]) -> list[str]:
    """Counter names with their `_amount` columns, in order, once each."""
    return list(dict.fromkeys([*names, *(f"{n}_amount" for n in names)]))


def recorded_counters(scenario: Scenario) -> list[str]:
    """Counters a run of this scenario records (the engine's own and its mechanics', with their
    `_amount` columns): what its metrics can be computed from."""
    return with_amounts([*user_events(scenario), *channel_events(scenario),
                         *declared(scenario, "stocks", CORE_STOCKS)])


def memory_estimate(scenario: Scenario) -> int:
    """Peak bytes one replicate of this scenario is expected to need."""
    columns, scratch = columns_and_scratch(scenario)
    layout = layout_of(scenario)
    tables = len(declared(scenario, "events", CORE_EVENTS)) * 2 + len(
        declared(scenario, "stocks", CORE_STOCKS))
    graph = scenario.market.graph
    needs = graph is not None or any(REGISTRY[p.type][1].needs_graph
                                     for p in scenario.mechanics.values())
    degree = (graph.mean_degree if isinstance(graph, CommunityGraphParams)
              else CommunityGraphParams().mean_degree) if needs else 0.0
    return estimate_bytes(scenario.market.size, columns, scratch, scenario.days, tables,
                          layout.n_cells, degree)


def memory_shortfall(scenario: Scenario) -> tuple[int, int] | None:
    """(bytes needed, bytes available) when the scenario will not fit in the memory available
    now, else None."""
    need, have = memory_estimate(scenario), available_bytes()
    return (need, have) if need > have else None


def users_that_fit(scenario: Scenario, have: int) -> int:
    """The market size whose estimate fits in `have` bytes (the estimate is fixed bytes plus
    bytes per user), rounded down to two figures; 0 when not even the fixed part fits."""
    empty = scenario.model_copy(update={"market": scenario.market.model_copy(
        update={"size": 0})})
    fixed, need = memory_estimate(empty), memory_estimate(scenario)
    fits = int((have - fixed) * scenario.market.size / (need - fixed)) if need > fixed else 0
    step = 10 ** max(len(str(max(fits, 0))) - 2, 0)
    return max(fits, 0) // step * step


def check_memory(scenario: Scenario) -> None:
    """Refuse, with the estimate and a size that fits, a scenario that will not fit in the
    memory available now."""
    short = memory_shortfall(scenario)
    if short is not None:
        need, have = short
        columns, scratch = columns_and_scratch(scenario)
        per_user = bytes_per_user(columns, scratch)
        fits = users_that_fit(scenario, have)
        hint = (f"lower market.size (about {fits:,} fit) or switch off mechanics" if fits else
                "not even an empty market fits: free some memory")
        raise InputError([scenario.problem(
            ("market", "size"),
            f"{scenario.market.size:,} users need about {human(need)} "
            f"({per_user} bytes per user) but only {human(have)} is available; {hint}")])

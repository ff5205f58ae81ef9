"""Experiments in the market: who is in which arm, and what happens on the start day.

Arms are drawn by the experiment's unit: each user, whole graph communities (cluster), or ego
clusters (`ego_clusters`). On the start day (`start_experiment`, a SimPy process) users
already acquired leave for `not_enrolled` when only new users are eligible, and every mechanic
switches from the control's values to its arm's (`Mechanic.restart` re-derives what it drew
under the old ones).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import simpy

from sim.graph import SocialGraph
from sim.mechanics.base import Mechanic
from sim.population import Population, Stage, add_count
from sim.rng import stream
from sim.scenario import Experiment, Scenario
from sim.variants import VariantParams, variant_scenarios


def draw_labels(rng_name: str, shares: list[float], size: int, seed: int,
                replicate: int) -> np.ndarray:
    """A label (arm or persona) for every user, drawn by share from its own stream."""
    if len(shares) == 1:
        return np.zeros(size, dtype=np.int8)
    p = np.asarray(shares) / np.sum(shares)
    return stream(seed, replicate, rng_name).choice(len(p), size=size, p=p).astype(np.int8)


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
        return draw_labels("arms", scenario.arm_shares, size, seed, replicate), None
    p = np.asarray(scenario.arm_shares) / np.sum(scenario.arm_shares)
    if unit == "cluster":
        community = graph.community.astype(np.int64)
        per_unit = stream(seed, replicate, "arms:cluster").choice(
            len(p), size=int(community.max()) + 1, p=p).astype(np.int8)
        return per_unit[community], community
    arm = draw_labels("arms", scenario.arm_shares, size, seed, replicate)
    cluster = ego_clusters(graph, exp.ego_share, stream(seed, replicate, "ego"))
    per_unit = stream(seed, replicate, "arms:ego").choice(len(p), size=size, p=p).astype(np.int8)
    inside = cluster >= 0
    arm[inside] = per_unit[cluster[inside]]
    return arm, np.where(inside, cluster, size + np.arange(size))


def start_experiment(env: simpy.Environment, scenario: Scenario, mechanics: list[Mechanic],
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
        move_to_arm(pop, rows, len(exp.arms))
        for mech in mechanics:  # per-cell running totals follow the users
            mech.moved(rows, old_cells, pop.cell[rows])
    variants = variant_scenarios(scenario)
    for mech in mechanics:
        before = mech.params
        mech.params = VariantParams([v.mechanics[mech.name] for v in variants])
        changed = before.changed_groups(mech.params)
        if changed.any():
            mech.restart(exp.start_day, changed, before)


def move_to_arm(pop: Population, rows: np.ndarray, arm: int) -> None:
    """Acquired users join another arm: their group, cell and the per-cell stage counts
    follow."""
    if not len(rows):
        return
    add_count(pop.stage_counts, (pop.stage[rows], pop.cell[rows]), -1)
    pop.arm[rows] = arm
    pop.group[rows] = arm * len(pop.layout.personas) + pop.persona[rows]
    pop.cell[rows] = pop.group[rows] * pop.n_channels + pop.channel[rows]
    add_count(pop.stage_counts, (pop.stage[rows], pop.cell[rows]))

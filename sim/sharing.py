"""Shares travel along friendships: how many friends one share reaches, and which.

Every mechanic that shares (referral cards, group-buy invitations, bargain requests, live
streams) goes through `share`, so reach follows one rule: min(Zipf(reach_exponent), max_reach)
distinct friends (both may differ by arm and persona), times (1 + the sharer's
`share_reach_bonus`) when a mechanic keeps that column (community KOCs reach more friends), at
most the sharer's friends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.mechanics.base import Mechanic

REACH_BONUS = "share_reach_bonus"  # a column a mechanic may keep: extra reach per sharer


def share(mechanic: Mechanic, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One share from each row, for a mechanic whose parameters have `reach_exponent` and
    `max_reach`: (sharer, friend) pairs along the friendship graph."""
    pop, params, rng = mechanic.pop, mechanic.params, mechanic.rng
    group = pop.group[rows]
    exponent = params.for_rows("reach_exponent", group)
    reach = np.minimum(rng.zipf(exponent, size=len(rows)),
                       params.for_rows("max_reach", group)).astype(np.int64)
    if REACH_BONUS in pop.columns:
        bonus = pop[REACH_BONUS][rows]
        reach = np.rint(reach * (1.0 + bonus.astype(np.float64))).astype(np.int64)
    return pop.graph.friends_of(rows, reach, rng)

"""The purchase mechanic's schedule, as other mechanics may touch it: geometric gaps to the next
checkout, and perks that lift (or undo a lift of) a user's purchase and dropout probabilities.

Buying is a per-user daily probability (`purchase_prob`), a dropout probability after each order
(`dropout_prob`) and the day of the next checkout (`next_purchase_day`), owned by the purchase
mechanic. Perks (tiers, paid membership, community, recommendations) change the probabilities
through `rescale_buying`, which keeps the schedule exact.
"""

from __future__ import annotations

import numpy as np

from sim.population import Population, Stage

NEVER = np.iinfo(np.int32).max  # next_purchase_day of users who will not buy again
BUYING_COLUMNS = ("purchase_prob", "dropout_prob", "next_purchase_day", "purchase_count")


def geometric_gap(rng: np.random.Generator, prob: np.ndarray | float,
                  horizon: int) -> np.ndarray:
    """Inverse-transform Geometric draws that stay finite for prob 0 and exact for prob 1; a
    probability above 1 (a lifted rate kept uncapped, see `rescale_buying`) is 1."""
    prob = np.minimum(np.asarray(prob, dtype=np.float64), 1.0)
    u = 1.0 - rng.random(prob.shape)  # in (0, 1]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # inf is clipped below
        gap = np.floor(np.log(u) / np.log1p(-prob)) + 1.0
    gap = np.where(prob > 0.0, gap, horizon + 1.0)
    return np.minimum(gap, horizon + 1.0).astype(np.int32)


def rescale_buying(pop: Population, rng: np.random.Generator, rows: np.ndarray,
                   purchase_factor: np.ndarray | float, dropout_factor: np.ndarray | float,
                   day: int, horizon: int) -> None:
    """Multiply the rows' daily purchase probability and their dropout probability after an
    order (a perk's effect, or its undoing), and redraw the next checkout of alive buyers at
    the new rate. The columns keep the product uncapped, so undoing a lift by dividing by its
    factor restores the value exactly; where they are used they act as at most 1
    (`geometric_gap` caps the purchase probability; a draw below a dropout probability above 1
    always churns). Purchase gaps are memoryless, so a redraw keeps the distribution exact;
    users still waiting for a first order keep their draw (the purchase mechanic may give them
    a first-order rate). Does nothing in a scenario without the purchase mechanic."""
    if not len(rows) or "purchase_prob" not in pop.columns:
        return
    pop["dropout_prob"][rows] = pop["dropout_prob"][rows] * dropout_factor
    pop["purchase_prob"][rows] = pop["purchase_prob"][rows] * purchase_factor
    due = pop["next_purchase_day"][rows]
    redraw = rows[(pop.stage[rows] == Stage.ALIVE) & (pop["purchase_count"][rows] > 0)
                  & (due > day) & (due <= horizon + day + 1)]
    gap = geometric_gap(rng, pop["purchase_prob"][redraw], horizon)
    pop["next_purchase_day"][redraw] = day + gap

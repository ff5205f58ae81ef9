"""Closed forms the engine is checked against (and notebooks plot beside simulations).

- `bass_mean_field`: the large-N limit of Bass acquisition in daily steps, no churn.
- `purchase_moments`: for users acquired on day 0, the exact survival probability and the mean
  and variance of purchases after k days, averaged over lambda ~ min(1, Gamma(r, rate alpha))
  and pdrop ~ Beta(a, b). Per user it is a three-outcome Markov chain per day (no purchase /
  purchase and stay / purchase and leave), so the moments follow from a recursion; the average
  over users is Gauss quadrature (Gauss-Jacobi in pdrop, exact for polynomials of the degrees
  involved, and Gauss-Legendre in u = lambda**r, where the Gamma density becomes smooth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats


def bass_mean_field(p: float, q: float, days: int) -> np.ndarray:
    """Share of the market acquired by the end of each day: F_t+1 = F_t + (1-F_t) min(1, p+qF_t)."""
    share = np.empty(days)
    f = 0.0
    for t in range(days):
        f += (1.0 - f) * min(1.0, p + q * f)
        share[t] = f
    return share


@dataclass(frozen=True)
class PurchaseMoments:
    """Per-user expectations after k = 1..days days of trials (index k-1)."""

    survival: np.ndarray  # P(still alive)
    mean_purchases: np.ndarray  # E[purchases]
    var_purchases: np.ndarray  # Var[purchases]


def purchase_moments(r: float, alpha: float, a: float, b: float, days: int,
                     first_purchase_certain: bool = False,
                     lam_nodes: int = 400, drop_nodes: int = 220) -> PurchaseMoments:
    """Moments for the `clip` link with alpha as a rate per day.

    With `first_purchase_certain`, day 0 is the acquisition order (no dropout after it) and the
    counts are of purchases on days 1..k-1 plus that first one.
    """
    if 2 * drop_nodes - 1 < days:
        raise ValueError("too few pdrop nodes for an exact quadrature at this horizon")
    # pdrop ~ Beta(a, b) on [0, 1]: Gauss-Jacobi nodes on [-1, 1] with weight (1-t)^(b-1)(1+t)^(a-1)
    t, w_t = special.roots_jacobi(drop_nodes, b - 1.0, a - 1.0)
    pdrop = (t + 1.0) / 2.0
    w_drop = w_t / w_t.sum()
    # lambda ~ Gamma(r, rate alpha), clipped at 1: u = lambda^r on [0, 1] plus an atom at 1
    x, w_x = special.roots_legendre(lam_nodes)
    u = (x + 1.0) / 2.0
    lam = u ** (1.0 / r)
    density = alpha**r * np.exp(-alpha * lam) / special.gamma(r + 1.0)
    w_lam = np.append(w_x / 2.0 * density, stats.gamma.sf(1.0, r, scale=1.0 / alpha))
    lam = np.append(lam, 1.0)

    L, D = np.meshgrid(lam, pdrop, indexing="ij")  # noqa: N806 (grid matrices)
    weight = np.outer(w_lam, w_drop)
    m1, m2, alive = np.zeros_like(L), np.zeros_like(L), np.ones_like(L)
    survival, mean, var = (np.empty(days) for _ in range(3))
    # Recursion over the number of days still to come (moments from the alive state).
    moments = []
    for _ in range(days):
        m1, m2 = ((1 - L) * m1 + L * (1 - D) * (1 + m1) + L * D,
                  (1 - L) * m2 + L * (1 - D) * (1 + 2 * m1 + m2) + L * D)
        moments.append((m1, m2))
    for k in range(1, days + 1):
        if first_purchase_certain:
            prev1, prev2 = moments[k - 2] if k >= 2 else (np.zeros_like(L), np.zeros_like(L))
            e1, e2 = 1 + prev1, 1 + 2 * prev1 + prev2
            alive = (1 - L * D) ** (k - 1)
        else:
            e1, e2 = moments[k - 1]
            alive = (1 - L * D) ** k
        first = float(np.sum(weight * e1))
        survival[k - 1] = float(np.sum(weight * alive))
        mean[k - 1] = first
        var[k - 1] = float(np.sum(weight * e2)) - first**2
    return PurchaseMoments(survival, mean, var)

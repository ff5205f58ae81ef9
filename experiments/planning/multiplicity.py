"""Multiple treatment arms against one control: per-comparison levels (Bonferroni, Holm's first
step, Sidak) and Dunnett's critical value, an exact one-dimensional integral for the
equicorrelated multivariate normal / t (neither scipy nor statsmodels sizes with it)."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from scipy import integrate, optimize, stats

from experiments.planning.design import Correction


def adjusted_alpha(alpha: float, comparisons: int, correction: Correction) -> float:
    """Per-comparison level used for sizing (Holm sized at its first, Bonferroni, step)."""
    if comparisons <= 1 or correction == "none":
        return alpha
    if correction in ("bonferroni", "holm"):
        return alpha / comparisons
    if correction == "sidak":
        return 1 - (1 - alpha) ** (1 / comparisons)
    raise ValueError("dunnett has no closed-form per-comparison alpha; use dunnett_critical_value")


# --------------------------------------------------------------------------------------------
# Dunnett: equicorrelated multivariate normal / t
# --------------------------------------------------------------------------------------------

_HERMITE_NODES, _HERMITE_WEIGHTS = np.polynomial.hermite_e.hermegauss(96)
_HERMITE_WEIGHTS = _HERMITE_WEIGHTS / math.sqrt(2 * math.pi)


def _max_normal_below(c: np.ndarray, comparisons: int, rho: float, sides: int) -> np.ndarray:
    """P(max_i Z_i < c) (one-sided) or P(max_i |Z_i| < c) for equicorrelated Z (rho >= 0).

    Z_i = sqrt(rho) X + sqrt(1 - rho) e_i, so conditional on X the Z_i are independent; the
    outer expectation over X ~ N(0, 1) is done by Gauss-Hermite quadrature.
    """
    c = np.atleast_1d(np.asarray(c, dtype=float))[:, None]
    shift = math.sqrt(rho) * _HERMITE_NODES[None, :]
    spread = math.sqrt(1 - rho)
    upper = stats.norm.cdf((c - shift) / spread)
    inside = upper - stats.norm.cdf((-c - shift) / spread) if sides == 2 else upper
    return (inside**comparisons) @ _HERMITE_WEIGHTS


# above this many degrees of freedom the t is the normal to within 1e-7 of the exceedance,
# closer than the integral over S resolves its ever narrower peak
NORMAL_DF = 1e7


def dunnett_exceedance(
    c: float, comparisons: int, rho: float, sides: int = 2, df: float | None = None
) -> float:
    """P(any comparison exceeds c) under H0: the single-step Dunnett adjusted p-value of c."""
    if df is None or df > NORMAL_DF:
        return float(1 - _max_normal_below(np.array([c]), comparisons, rho, sides)[0])

    # T_i = Z_i / S with nu S^2 ~ chi^2_nu independent of Z: integrate over S.
    def integrand(s: float) -> float:
        density = 2 * s * df * stats.chi2.pdf(df * s * s, df)
        return float(density * _max_normal_below(np.array([c * s]), comparisons, rho, sides)[0])

    # over where S has its mass (all but 1e-15 at each end): over [0, inf) quad misses the
    # narrow peak at large df (about 1e6, as a solver probing large n reaches) and gave 1
    low, high = (math.sqrt(stats.chi2.ppf(q, df) / df) for q in (1e-15, 1 - 1e-15))
    inside, _ = integrate.quad(integrand, low, high, epsabs=1e-11, limit=200)
    return 1 - inside


@lru_cache(maxsize=512)
def dunnett_critical_value(
    alpha: float, comparisons: int, rho: float, sides: int = 2, df: float | None = None
) -> float:
    """Critical value c with P(any |T_i| >= c) = alpha for comparisons sharing one control.

    rho is the correlation between comparisons: n_t / (n_c + n_t) with equal variances.
    """
    if comparisons == 1:
        return marginal_critical(alpha, sides, df)
    return optimize.brentq(
        lambda c: dunnett_exceedance(c, comparisons, rho, sides, df) - alpha, 0.1, 12, xtol=1e-10
    )


def marginal_critical(alpha: float, sides: int, df: float | None) -> float:
    q = 1 - alpha / sides
    return float(stats.norm.ppf(q) if df is None else stats.t.ppf(q, df))

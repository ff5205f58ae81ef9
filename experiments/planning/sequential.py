"""Group-sequential designs: spending functions, boundaries, crossing probabilities and the
maximum-sample-size inflation, by the recursive numerical integration of Armitage, McPherson &
Rowe (1969) on the grid of Jennison & Turnbull (2000, ch. 19), written here because neither scipy
nor statsmodels computes them."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from experiments.planning.errors import PowerInputError
from experiments.planning.multiplicity import marginal_critical

_GRID_R = 32


def _grid(center: float, lower: float, upper: float) -> tuple[np.ndarray, np.ndarray]:
    """Jennison & Turnbull (2000, sec. 19.2) grid and Simpson weights on (lower, upper).

    Points are dense near the mean of Z_k and sparse in the tails; midpoints are added so
    Simpson's rule applies on every pair of intervals.
    """
    r = _GRID_R
    i1 = np.arange(1, r)
    i2 = np.arange(r, 5 * r + 1)
    i3 = np.arange(5 * r + 1, 6 * r)
    base = np.concatenate(
        [
            -3 - 4 * np.log(r / i1),
            -3 + 3 * (i2 - r) / (2 * r),
            3 + 4 * np.log(r / (6 * r - i3)),
        ]
    )
    x = center + base
    x = x[(x > lower) & (x < upper)]
    ends = [lower] if math.isfinite(lower) else []
    tail = [upper] if math.isfinite(upper) else []
    x = np.concatenate([ends, x, tail])
    points = np.empty(2 * len(x) - 1)
    points[0::2] = x
    points[1::2] = (x[:-1] + x[1:]) / 2
    widths = np.diff(x)
    weights = np.zeros_like(points)
    weights[0:-1:2] += widths / 6
    weights[2::2] += widths / 6
    weights[1::2] = 4 * widths / 6
    return points, weights


def crossing_probabilities(
    upper: Sequence[float],
    lower: Sequence[float],
    information_fractions: Sequence[float],
    drift: float,
) -> tuple[np.ndarray, np.ndarray]:
    """P(first crossing above upper[k]) and P(first crossing below lower[k]) at each look.

    Z_k is the standardised statistic at information fraction t_k, with mean drift sqrt(t_k)
    (drift = E[Z] at full information) and independent increments of the score
    (Armitage, McPherson & Rowe 1969).  Use -inf for "no lower boundary".
    """
    t = np.asarray(information_fractions, dtype=float)
    up_cross = np.zeros(len(t))
    low_cross = np.zeros(len(t))
    mean1 = drift * math.sqrt(t[0])
    up_cross[0] = stats.norm.sf(upper[0] - mean1)
    low_cross[0] = stats.norm.cdf(lower[0] - mean1)
    if len(t) == 1:
        return up_cross, low_cross
    z, w = _grid(mean1, lower[0], upper[0])
    density = stats.norm.pdf(z - mean1)
    for k in range(1, len(t)):
        step = t[k] - t[k - 1]
        sd_step = math.sqrt(step)
        prev_score = z * math.sqrt(t[k - 1]) + drift * step
        weighted = w * density
        up_cross[k] = weighted @ stats.norm.sf((upper[k] * math.sqrt(t[k]) - prev_score) / sd_step)
        low_cross[k] = weighted @ stats.norm.cdf(
            (lower[k] * math.sqrt(t[k]) - prev_score) / sd_step
        )
        if k == len(t) - 1:
            break
        z, w_next = _grid(drift * math.sqrt(t[k]), lower[k], upper[k])
        kernel = stats.norm.pdf((z[:, None] * math.sqrt(t[k]) - prev_score[None, :]) / sd_step)
        density = (kernel @ weighted) * math.sqrt(t[k]) / sd_step
        w = w_next
    return up_cross, low_cross


def _lower_of(upper: Sequence[float], sides: int) -> list[float]:
    return [-u for u in upper] if sides == 2 else [-math.inf] * len(upper)


def spending(method: str, t: float, alpha: float) -> float:
    """Lan & DeMets (1983) spending functions; alpha is the one-sided level per tail."""
    if t <= 0:
        return 0.0
    if method == "lan-demets-obf":
        return float(2 - 2 * stats.norm.cdf(stats.norm.ppf(1 - alpha / 2) / math.sqrt(t)))
    if method == "lan-demets-pocock":
        return alpha * math.log(1 + (math.e - 1) * min(t, 1.0))
    raise ValueError(method)


def equally_spaced(looks: int) -> tuple[float, ...]:
    return tuple((k + 1) / looks for k in range(looks))


def group_sequential_boundaries(
    method: str,
    looks: int,
    alpha: float,
    sides: int = 2,
    information_fractions: Sequence[float] | None = None,
) -> tuple[float, ...]:
    """Upper z critical values (two-sided designs are symmetric, no futility boundary).

    alpha is the total level of the test: for sides=2 each tail gets alpha / 2.  Pocock and
    O'Brien-Fleming have constant / c / sqrt(t_k) shapes with c found by root finding; the
    Lan-DeMets boundaries spend alpha / sides per tail look by look (DeMets & Lan 1994), or,
    with a `-two-sided` method, the original total-alpha spending split over the two tails.
    """
    t = tuple(information_fractions) if information_fractions else equally_spaced(looks)
    if len(t) != looks:
        raise PowerInputError("looks", "needs one information fraction per look")

    def total_crossing(upper: list[float]) -> float:
        up, low = crossing_probabilities(upper, _lower_of(upper, sides), t, 0.0)
        return float(up.sum() + low.sum())

    if method in ("pocock", "obrien-fleming"):
        shape = [1.0] * looks if method == "pocock" else [1 / math.sqrt(tk) for tk in t]
        c = optimize.brentq(
            lambda c: total_crossing([c * s for s in shape]) - alpha, 0.5, 15, xtol=1e-10
        )
        return tuple(c * s for s in shape)
    base = method.removesuffix("-two-sided")
    if base not in ("lan-demets-obf", "lan-demets-pocock"):
        raise PowerInputError("sequential", f"unknown method {method!r}")
    # per tail (rpact, gsDesign): each tail spends alpha/2 by the spending function; the
    # original two-sided form (Lan & DeMets 1983) spends the total alpha over both tails
    level, share = (alpha, 0.5) if method != base and sides == 2 else (alpha / sides, 1.0)
    bounds: list[float] = []
    for k in range(looks):
        target = share * (spending(base, t[k], level)
                          - spending(base, t[k - 1] if k else 0.0, level))

        def stage_crossing(c: float, k: int = k) -> float:
            upper = [*bounds, c]
            up, _ = crossing_probabilities(upper, _lower_of(upper, sides), t[: k + 1], 0.0)
            return float(up[k])

        bounds.append(
            optimize.brentq(
                lambda c, target=target: stage_crossing(c) - target, 0.0, 40, xtol=1e-10
            )
        )
    return tuple(bounds)


def sequential_power(
    upper: Sequence[float],
    information_fractions: Sequence[float],
    drift: float,
    sides: int = 2,
    strict: bool = False,
) -> float:
    """P(reject H0 in the effect's direction) at the drift; plus the other tail if strict."""
    up, low = crossing_probabilities(upper, _lower_of(upper, sides), information_fractions, drift)
    return float(up.sum() + (low.sum() if strict else 0.0))


def drift_for_power(
    upper: Sequence[float], information_fractions: Sequence[float], power: float, sides: int = 2
) -> float:
    return optimize.brentq(
        lambda d: sequential_power(upper, information_fractions, d, sides) - power,
        0.0,
        30.0,
        xtol=1e-10,
    )


def naive_peeking_false_positive_rate(looks: int, alpha: float = 0.05, sides: int = 2) -> float:
    """Type-I error of testing at nominal alpha at each of ``looks`` equally spaced looks.

    Armitage, McPherson & Rowe (1969); e.g. 0.142 for 5 looks at two-sided 0.05.
    """
    c = marginal_critical(alpha, sides, None)
    upper = [c] * looks
    up, low = crossing_probabilities(upper, _lower_of(upper, sides), equally_spaced(looks), 0.0)
    return float(up.sum() + low.sum())


@dataclass(frozen=True)
class SequentialDesign:
    method: str
    looks: int
    alpha: float
    sides: int
    power: float
    information_fractions: tuple[float, ...]
    critical_values: tuple[float, ...]
    nominal_alpha: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    inflation_factor: float
    expected_fraction_h0: float
    expected_fraction_h1: float


def _expected_fraction(stop: np.ndarray, t: Sequence[float]) -> float:
    stop = np.asarray(stop, dtype=float).copy()
    stop[-1] = 1 - stop[:-1].sum()
    return float(np.dot(stop, t))


def group_sequential_design(
    method: str, looks: int, alpha: float, sides: int, power: float
) -> SequentialDesign:
    """Boundaries plus inflation factor R = (drift / (z_alpha + z_beta))^2 (J&T sec. 2.3)."""
    t = equally_spaced(looks)
    upper = group_sequential_boundaries(method, looks, alpha, sides, t)
    lower = _lower_of(upper, sides)
    drift = drift_for_power(upper, t, power, sides)
    fixed_drift = marginal_critical(alpha, sides, None) + stats.norm.ppf(power)
    up0, low0 = crossing_probabilities(upper, lower, t, 0.0)
    up1, low1 = crossing_probabilities(upper, lower, t, drift)
    return SequentialDesign(
        method=method,
        looks=looks,
        alpha=alpha,
        sides=sides,
        power=power,
        information_fractions=t,
        critical_values=tuple(upper),
        nominal_alpha=tuple(float(sides * stats.norm.sf(c)) for c in upper),
        cumulative_alpha=tuple(float(x) for x in np.cumsum(up0 + low0)),
        inflation_factor=(drift / fixed_drift) ** 2,
        expected_fraction_h0=_expected_fraction(up0 + low0, t),
        expected_fraction_h1=_expected_fraction(up1 + low1, t),
    )

"""The closed-form BG/NBD model (Fader, Hardie & Lee 2005), fitted by maximum likelihood.

It is the yardstick for the simulated calibration: the workbench's purchase_dropout mechanic
with `purchase_on_acquisition: true` is the BG/NBD story in daily steps, so on a cohort such as
CDNOW both should tell the same story, and the closed form says how good a forecast can be.

Data per customer (time unit: weeks): x repeat transactions, t_x the time of the last one and T
the time observed, both since the first transaction. Likelihood, paper eq. (6):

    L = B(a, b + x) / B(a, b) * G(r + x) alpha^r / (G(r) (alpha + T)^(r + x))
        + [x > 0] B(a + 1, b + x - 1) / B(a, b) * G(r + x) alpha^r / (G(r) (alpha + t_x)^(r + x))

computed in logs (logsumexp). E[X(t)], eq. (7), gives expected repeat transactions for the
cohort: sum over customers of E[X(t - s_i)], s_i their first transaction time.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special
from statsmodels.tools.numdiff import approx_hess3

WEEK = 7.0


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float
    log_likelihood: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def rfm(customers: pd.DataFrame, until_day: int | None = None) -> pd.DataFrame:
    """x, t_x, T in weeks from the per-customer table of `experiments.calibration.observed`
    (first_day, x, last_day, observed_days), as of the end of day `until_day - 1` (default: all
    days)."""
    days = int(customers["observed_days"].iloc[0]) if until_day is None else until_day
    c = customers[customers["first_day"] < days]
    return pd.DataFrame({"x": c["x"].to_numpy(dtype=float),
                         "t_x": (c["last_day"] - c["first_day"]).to_numpy(dtype=float) / WEEK,
                         "T": (days - 1 - c["first_day"]).to_numpy(dtype=float) / WEEK,
                         "first": c["first_day"].to_numpy(dtype=float) / WEEK})


def log_likelihood(params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> float:  # noqa: N803
    """Sum of eq. (6) in logs over customers."""
    r, alpha, a, b = params
    common = special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha)
    beta_ab = special.betaln(a, b)
    first = special.betaln(a, b + x) - beta_ab - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(x > 0, special.betaln(a + 1, np.maximum(b + x - 1, 1e-300)) - beta_ab
                          - (r + x) * np.log(alpha + t_x), -np.inf)
    return float(np.sum(common + np.logaddexp(first, second)))


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:  # noqa: N803
    """Maximum likelihood over log-parameters (Nelder-Mead, then L-BFGS-B to polish)."""
    def negative(theta: np.ndarray) -> float:
        value = log_likelihood(np.exp(theta), x, t_x, T)
        return -value if np.isfinite(value) else 1e300

    start = np.log([1.0, 1.0, 1.0, 1.0])
    rough = optimize.minimize(negative, start, method="Nelder-Mead",
                              options={"xatol": 1e-6, "fatol": 1e-6, "maxiter": 4000})
    fine = optimize.minimize(negative, rough.x, method="L-BFGS-B",
                             options={"ftol": 1e-13, "gtol": 1e-9})
    best = fine if fine.fun <= rough.fun else rough
    r, alpha, a, b = np.exp(best.x)
    return BGNBD(float(r), float(alpha), float(a), float(b), float(-best.fun))


def standard_errors(model: BGNBD, x: np.ndarray, t_x: np.ndarray,
                    T: np.ndarray, step: float = 1e-4) -> dict[str, float]:  # noqa: N803
    """Asymptotic standard errors from the observed information (numerical Hessian of the
    log-likelihood in the parameters), for tolerances and confidence intervals."""
    theta = np.array([model.r, model.alpha, model.a, model.b])
    hess = approx_hess3(theta, lambda p: log_likelihood(p, x, t_x, T), epsilon=step * theta)
    cov = np.linalg.inv(-hess)
    return dict(zip(("r", "alpha", "a", "b"), np.sqrt(np.diag(cov)).tolist(), strict=True))


def expected_repeats(model: BGNBD, t: np.ndarray) -> np.ndarray:
    """E[X(t)], eq. (7): expected repeat transactions of one customer in (0, t] weeks."""
    t = np.maximum(np.asarray(t, dtype=float), 0.0)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    z = t / (alpha + t)
    value = (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r
                                     * special.hyp2f1(r, b, a + b - 1, z))
    return np.where(t > 0, value, 0.0)


def cohort_weekly_repeats(model: BGNBD, first_days: np.ndarray, days: int) -> np.ndarray:
    """Expected repeat transactions per calendar week (weeks of 7 days from day 0) for a cohort
    whose customers made their first transaction on `first_days`."""
    starts, counts = np.unique(np.asarray(first_days, dtype=float), return_counts=True)
    ends = np.arange(1, days + 1, dtype=float)  # cumulative to the end of each day
    cumulative = np.zeros(days)
    for s, n in zip(starts, counts, strict=True):
        cumulative += n * expected_repeats(model, (ends - 1 - s) / WEEK)
    daily = np.diff(np.concatenate([[0.0], cumulative]))
    weeks = -(-days // 7)
    return np.add.reduceat(daily, np.arange(0, weeks * 7, 7)[:weeks])


def p_alive(model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:  # noqa: N803
    """P(still alive at T | x, t_x, T)."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        odds = model.a / np.maximum(model.b + x - 1, 1e-300) * np.exp(
            (model.r + x) * (np.log(model.alpha + T) - np.log(model.alpha + t_x)))
    return np.where(x > 0, 1.0 / (1.0 + odds), 1.0)


def expected_orders(model: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,  # noqa: N803
                    t: float) -> np.ndarray:
    """E[orders in (T, T + t] | x, t_x, T], eq. (10) of Fader, Hardie & Lee (2005)."""
    x = np.asarray(x, dtype=float)
    r, alpha, a, b = model.r, model.alpha, model.a, model.b
    z = t / (alpha + T + t)
    hyper = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
    ratio = np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + T + t)))
    body = (a + b + x - 1) / (a - 1) * (1 - ratio * hyper)
    return p_alive(model, x, t_x, T) * body

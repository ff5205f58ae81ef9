"""Calibration by the exact likelihood of the daily purchase model (`--method likelihood`).

When the observed data is an event log (one row per order) and what is fitted is the purchase
and dropout of a purchase_dropout mechanic (r, alpha, a, b), each customer's history has an exact
likelihood under the model the engine runs (`experiments.calibration.customers`). Maximising it
uses every customer's recency and frequency, not only the weekly totals the simulated-moments
fit sees, so the estimate does not drift along the ridge that weekly totals leave: it is the same
for every seed, and its uncertainty is the asymptotic normal of the maximum-likelihood estimate
(inverse observed information, in the fitted scale: log for wide ranges), from which the
posterior draws for the forecast are sampled. Simulation is still what forecasts: the
calibration folder is the same as the simulated-moments one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from statsmodels.tools.numdiff import approx_hess3

from experiments.calibration.bgnbd import BGNBD
from experiments.calibration.customers import (
    PARAMS,
    daily_log_likelihood,
    history,
    model_parameters,
    point,
    unique_histories,
)
from experiments.calibration.objective import FitParam
from experiments.calibration.observed import Observed
from sim.errors import InputError, Problem
from sim.scenario import Scenario

FLAT = ("the customers' histories do not pin down every fitted parameter (the likelihood is "
        "flat along one); fit fewer with --fit, or give more weeks (--until) or customers")


def check_likelihood(scenario: Scenario, params: list[FitParam], observed: Observed) -> None:
    """Refused with the reason unless the data has customers and only r, alpha, a, b of the
    purchase_dropout mechanic are fitted."""
    paths, _ = model_parameters(scenario)
    others = [p.path for p in params if p.path not in paths.values()]
    if others:
        raise InputError([Problem("--fit", None, others[0], "--method likelihood fits the "
                                  f"purchase and dropout parameters ({', '.join(paths.values())})"
                                  "; use --method msm for others")])
    if observed.customers is None or observed.customers.empty:
        raise InputError([Problem(str(observed.source), None, "", "--method likelihood needs "
                                  "an event log (one row per order with a user id), not a "
                                  "daily table")])
    past = history(observed.customers)
    if not (past["x"] > 0).any():  # the rate and dropout are then not identified at all
        raise InputError([Problem(str(observed.source), None, "", f"{len(past):,} customers "
                                  "and not one repeat purchase in the fitted weeks: nothing to "
                                  "fit the purchase rate and dropout by; give a later --until "
                                  "(or more customers)")])
    distinct = len(unique_histories(*(past[c].to_numpy() for c in ("x", "trials_to_last",
                                                                   "trials")))[0])
    if distinct < len(params):  # then a curve of values gives every history its likelihood
        raise InputError([Problem(str(observed.source), None, "", f"{len(past):,} customer(s) "
                                  f"give only {distinct} distinct history(ies) (repeat orders, "
                                  f"last order, days seen), fewer than the {len(params)} fitted "
                                  "parameters: the likelihood is then highest along a whole "
                                  "curve of values, not at one point; give more customers or "
                                  "weeks (--until), or fit fewer with --fit")])


def maximum_likelihood(scenario: Scenario, params: list[FitParam], customers: pd.DataFrame,
                       draws: int, seed: int) -> tuple[dict[str, float], pd.DataFrame,
                                                       dict[str, Any]]:
    """The maximum-likelihood point for the customers' histories (`observed.customer_table`),
    `draws` posterior draws from its asymptotic normal, and the posterior's description (per
    parameter: estimate, mean, 50% and 90% intervals)."""
    paths, unit = model_parameters(scenario)
    fixed = point(scenario)
    past = history(customers)
    rows, _, counts = unique_histories(past["x"].to_numpy(), past["trials_to_last"].to_numpy(),
                                       past["trials"].to_numpy())
    key_of = {path: key for key, path in paths.items()}

    def model(u: np.ndarray) -> BGNBD:
        values = {k: getattr(fixed, k) for k in PARAMS}
        values.update({key_of[p.path]: p.from_u(float(v)) for p, v in zip(params, u,
                                                                           strict=True)})
        return BGNBD(*(values[k] for k in PARAMS), float("nan"))

    def negative(u: np.ndarray) -> float:
        value = daily_log_likelihood(model(u), unit, rows, counts)
        return -value if np.isfinite(value) else 1e300

    start = np.array([p.to_u(min(max(getattr(fixed, key_of[p.path]), p.low), p.high))
                      for p in params])
    bounds = [(p.u_low, p.u_high) for p in params]
    first = optimize.minimize(negative, start, method="L-BFGS-B", bounds=bounds)
    best_u = optimize.minimize(negative, first.x, method="L-BFGS-B", bounds=bounds,
                               options={"ftol": 1e-12, "gtol": 1e-8}).x  # polish
    cov = _inverse_information(params, negative, best_u)
    _check_pinned(params, cov)
    rng = np.random.default_rng(seed)
    sample = rng.multivariate_normal(best_u, cov, size=draws)
    frame = pd.DataFrame({p.path: [p.from_u(float(v)) for v in sample[:, i]]
                          for i, p in enumerate(params)})
    best = {p.path: p.from_u(float(best_u[i])) for i, p in enumerate(params)}
    doc = {"method": "maximum likelihood of the daily purchase model (exact per-customer "
                     "likelihood), asymptotic normal in the fitted scale",
           "draws": len(frame), "log_likelihood": float(-negative(best_u)),
           "customers": int(counts.sum()), "distinct_histories": len(rows),
           "cov_transformed": cov.tolist(), "noise_replicates": 0,
           "params": _describe(params, best, best_u, cov)}
    warnings = _at_bounds(params, best_u)
    if warnings:
        doc["warnings"] = warnings
    return best, frame, doc


def _inverse_information(params: list[FitParam], negative: Any, u: np.ndarray) -> np.ndarray:
    """Inverse of the numerical Hessian (statsmodels' four-point formula) of the negative
    log-likelihood at `u`; refused, naming the parameter the flattest direction moves most,
    where it is not a covariance (whether a flat direction ends here or as a standard error
    wider than the box depends on rounding in the Hessian)."""
    hessian = approx_hess3(u, negative, epsilon=1e-4 * np.maximum(np.abs(u), 1.0))
    try:
        cov = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        cov = np.full_like(hessian, np.nan)
    if not (np.isfinite(cov).all() and (np.diag(cov) > 0).all()):
        raise InputError([Problem("--observed", None, _flattest(params, hessian), FLAT)])
    return cov


def _flattest(params: list[FitParam], hessian: np.ndarray) -> str:
    """The parameter that moves most along the direction of least curvature (the eigenvalue
    nearest 0, or a negative one: no maximum there), in the fitted scale; where perturbing a
    parameter gave no finite likelihood, that parameter (its row and column are not finite)."""
    broken = (~np.isfinite(hessian)).sum(axis=0)
    if broken.any():
        return params[int(np.argmax(broken))].path
    values, vectors = np.linalg.eigh((hessian + hessian.T) / 2)
    least = int(np.argmin(np.where(values < 0, -np.inf, values)))
    return params[int(np.argmax(np.abs(vectors[:, least])))].path


def _check_pinned(params: list[FitParam], cov: np.ndarray) -> None:
    """Refuse a parameter whose standard error is wider than its whole --fit box: the data say
    nothing about it (the information is invertible only numerically), and its draws, many
    boxes wide, would be nonsense."""
    sd = np.sqrt(np.diag(cov))
    loose = [p.path for p, s in zip(params, sd, strict=True) if not s <= p.u_high - p.u_low]
    if loose:
        raise InputError([Problem("--observed", None, loose[0], FLAT)])


def _at_bounds(params: list[FitParam], u: np.ndarray) -> list[str]:
    """Say which estimates stopped at an end of their --fit box: the likelihood is highest at
    or beyond it, so the estimate and its normal interval are the box's, not the data's
    (common with few customers)."""
    said = []
    for p, v in zip(params, u, strict=True):
        tol = 1e-6 * (p.u_high - p.u_low)
        edge = "lower" if v <= p.u_low + tol else "upper" if v >= p.u_high - tol else None
        if edge:
            said.append(f"{p.path} stopped at the {edge} end of its --fit box "
                        f"({p.from_u(float(v)):g}): the likelihood is highest at or beyond it, so "
                        "its estimate and interval are the box's, not the data's; widen the "
                        f"box (--fit {p.path}=lo..hi) or give more customers")
    return said


def _describe(params: list[FitParam], best: dict[str, float], u: np.ndarray,
              cov: np.ndarray) -> dict[str, Any]:
    sd = np.sqrt(np.diag(cov))
    z90, z50 = 1.6448536269514722, 0.6744897501960817
    return {p.path: {"estimate": best[p.path], "mean": best[p.path],
                     "scale": "log" if p.log else "linear", "sd_transformed": float(sd[i]),
                     "interval90": [p.from_u(u[i] - z90 * sd[i]), p.from_u(u[i] + z90 * sd[i])],
                     "interval50": [p.from_u(u[i] - z50 * sd[i]), p.from_u(u[i] + z50 * sd[i])]}
            for i, p in enumerate(params)}

"""Per-customer forecasts from the fitted model: who is still alive, how many orders each customer
will place in the next days, and a churn-risk table (流失风险) a CRM or a retention automation can
act on.

The purchase_dropout mechanic with `purchase_on_acquisition: true` and the `poisson` link is the
BG/NBD story in daily steps: an alive customer orders on a day with probability
p = 1 - exp(-lambda / time_unit_days), lambda ~ Gamma(r, rate alpha), and after each repeat
order drops out for good with probability theta ~ Beta(a, b). Given a customer's history (x
repeat-order days among n daily trials since the first order, the last at trial k), the
posterior of (lambda, theta, alive) follows from the likelihood

    alive: p^x (1 - p)^(n - x) (1 - theta)^x
    gone after the last order (x > 0): p^x (1 - p)^(k - x) theta (1 - theta)^(x - 1)

with theta integrated in closed form (Beta functions) and lambda by quadrature, and an alive
customer's expected orders in the next m days are (1 - (1 - p theta)^m) / theta. These are the
fitted model's own conditional expectations, exact for the daily mechanic; the continuous-time
BG/NBD formulas (`experiments.calibration.bgnbd`, eq. 10 of Fader, Hardie & Lee 2005) are the
yardstick they are compared with. Evaluated at every posterior draw of the calibration, they
carry the parameter uncertainty as a band per customer. tests/experiments/calibration/
test_customers.py checks them against customers simulated by the engine at known parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from experiments.calibration.bgnbd import BGNBD
from sim.errors import InputError, Problem
from sim.scenario import Scenario

RISK_BOUNDS, RISK_NAMES = (0.3, 0.7), ("high", "medium", "low")  # tiers by P(alive)
RISK_ZH = {"high": "高", "medium": "中", "low": "低"}  # on screen only: the table keeps RISK_NAMES
LAMBDA_NODES = 96  # Gauss-generalised-Laguerre nodes for the purchase rate
THETA_NODES = 32  # Gauss-Jacobi nodes for the dropout probability (at least days / 2 + 1)
PARAMS = ("r", "alpha", "a", "b")


def _purchase_mechanic(scenario: Scenario) -> tuple[str, Any]:
    """The scenario's one purchase_dropout mechanic (name, settings), refused with the reason
    when its purchases are not the BG/NBD story in daily steps."""
    found = [(name, m) for name, m in scenario.mechanics.items()
             if m.type == "purchase_dropout"]
    where = f"{scenario._source}: mechanics"
    if len(found) != 1:
        raise InputError([Problem(where, None, "", "per-customer forecasts need exactly one "
                                  "purchase_dropout mechanic (the BG/NBD story)")])
    name, mech = found[0]
    if not mech.purchase_on_acquisition or mech.purchase_rate.link != "poisson":
        raise InputError([Problem(where, None, name, "per-customer forecasts need "
                                  "purchase_on_acquisition: true and purchase_rate.link: "
                                  "poisson, where the mechanic is BG/NBD in daily steps")])
    return name, mech


def model_parameters(scenario: Scenario) -> tuple[dict[str, str], float]:
    """The dotted paths of r, alpha, a, b in the scenario and the time unit in days."""
    name, mech = _purchase_mechanic(scenario)
    base = f"mechanics.{name}"
    paths = {"r": f"{base}.purchase_rate.r", "alpha": f"{base}.purchase_rate.alpha",
             "a": f"{base}.dropout.a", "b": f"{base}.dropout.b"}
    return paths, float(mech.purchase_rate.time_unit_days)


def point(scenario: Scenario) -> BGNBD:
    """The scenario's own r, alpha, a, b as a BG/NBD model (time unit: the mechanic's)."""
    _, mech = _purchase_mechanic(scenario)
    rate, dropout = mech.purchase_rate, mech.dropout
    return BGNBD(float(rate.r), float(rate.alpha), float(dropout.a), float(dropout.b),
                 float("nan"))


def _history_terms(model: BGNBD, unit_days: float, x: np.ndarray, last: np.ndarray,
                   n: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log joint weights of (alive, lambda = node g) and (gone, lambda = node g) for each
    history, and the daily purchase probability at each node: the likelihood of the module
    docstring with theta integrated (Beta functions) and lambda on Gauss-generalised-Laguerre
    nodes."""
    nodes, weights = special.roots_genlaguerre(LAMBDA_NODES, model.r - 1)
    log_w = np.log(weights) - special.gammaln(model.r)
    p = np.clip(-np.expm1(-nodes / model.alpha / unit_days), 1e-300, 1 - 1e-16)
    log_p, log_q = np.log(p), np.log1p(-p)
    beta_ab = special.betaln(model.a, model.b)
    alive = (log_w + x[:, None] * log_p + (n - x)[:, None] * log_q
             + (special.betaln(model.a, model.b + x) - beta_ab)[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        dead_theta = np.where(x > 0, special.betaln(model.a + 1, np.maximum(
            model.b + x - 1, 1e-12)) - beta_ab, -np.inf)
    dead = log_w + x[:, None] * log_p + (last - x)[:, None] * log_q + dead_theta[:, None]
    return alive, dead, p


def unique_histories(x: np.ndarray, trials_to_last: np.ndarray,
                     trials: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (x, trials_to_last, trials) rows, each customer's row, and their counts."""
    keys = np.column_stack([x, trials_to_last, trials]).astype(float)
    unique, back, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return unique, back.ravel(), counts


def daily_log_likelihood(model: BGNBD, unit_days: float, histories: np.ndarray,
                         counts: np.ndarray) -> float:
    """Log-likelihood of the daily model for distinct histories (rows x, trials_to_last,
    trials; see `unique_histories`) seen `counts` times each."""
    alive, dead, _ = _history_terms(model, unit_days, *histories.T)
    return float(counts @ _log_total(alive, dead))


def _log_total(alive: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """Each history's log-likelihood: both states summed over the rate's nodes."""
    return np.logaddexp(special.logsumexp(alive, axis=1), special.logsumexp(dead, axis=1))


def daily_conditional(model: BGNBD, unit_days: float, x: np.ndarray, trials_to_last: np.ndarray,
                      trials: np.ndarray, days: int) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) and expected orders in the next `days` days of the daily mechanic, given x
    repeat-order days among `trials` daily trials since the first order, the last of them at
    trial `trials_to_last`. Exact for the model the engine runs (module docstring); customers
    with the same history are computed once."""
    unique, back, _ = unique_histories(x, trials_to_last, trials)
    alive, dead, p = _history_terms(model, unit_days, *unique.T)
    # (histories, G): P(alive and lambda = node g | history)
    posterior_alive = np.exp(alive - _log_total(alive, dead)[:, None])
    values, where = np.unique(unique[:, 0], return_inverse=True)
    future = np.array([_future_orders(model, v, p, days) for v in values])  # (X, G)
    expected = (posterior_alive * future[where.ravel()]).sum(axis=1)
    return posterior_alive.sum(axis=1)[back], expected[back]


def _future_orders(model: BGNBD, x: float, p: np.ndarray, days: int) -> np.ndarray:
    """E[(1 - (1 - p theta)^days) / theta] over theta ~ Beta(a, b + x): the orders of a user
    alive today in the next `days` days (a degree days-1 polynomial in theta, so Gauss-Jacobi
    with enough nodes is exact)."""
    count = max(THETA_NODES, days // 2 + 1)
    s, w = special.roots_jacobi(count, model.b + x - 1, model.a - 1)
    theta = (1 + s) / 2
    w = w / w.sum()
    values = -np.expm1(days * np.log1p(-np.outer(p, theta))) / theta  # (G, H)
    return values @ w


def history(customers: pd.DataFrame) -> pd.DataFrame:
    """Per customer, from a calibration's table (user, first_day, x, last_day, observed_days):
    x repeat-order days, the daily trials since the first order up to the last one and up to
    the end of the observed days."""
    return pd.DataFrame({
        "customer": customers["user"].to_numpy(),
        "first_day": customers["first_day"].to_numpy(dtype=int),
        "last_day": customers["last_day"].to_numpy(dtype=int),
        "x": customers["x"].to_numpy(dtype=float),
        "trials_to_last": (customers["last_day"] - customers["first_day"]).to_numpy(float),
        "trials": (customers["observed_days"] - 1 - customers["first_day"]).to_numpy(float)})


def risk_table(fitted: Scenario, customers: pd.DataFrame, posterior: pd.DataFrame, days: int,
               level: float = 0.9, draws: int = 200) -> pd.DataFrame:
    """One row per customer: history, P(alive) and expected orders in the next `days` at the
    fit, their band over posterior draws, and a churn-risk tier; riskiest first."""
    paths, unit = model_parameters(fitted)
    past = history(customers)
    args = (past["x"].to_numpy(), past["trials_to_last"].to_numpy(), past["trials"].to_numpy())
    alive, orders = daily_conditional(point(fitted), unit, *args, days)
    out = past.assign(p_alive=alive, expected_orders=orders)
    usable = [p for p in paths.values() if p in posterior.columns]
    if len(usable) == len(paths) and len(posterior):
        sample = posterior.sample(n=min(draws, len(posterior)), random_state=0)
        bands = [daily_conditional(BGNBD(*values.tolist(), float("nan")), unit, *args, days)
                 for values in sample[[paths[k] for k in PARAMS]].to_numpy(dtype=float)]
        lo, hi = (1 - level) / 2, 1 - (1 - level) / 2
        out["p_alive_lo"], out["p_alive_hi"] = np.quantile([b[0] for b in bands], [lo, hi],
                                                           axis=0)
        out["orders_lo"], out["orders_hi"] = np.quantile([b[1] for b in bands], [lo, hi],
                                                         axis=0)
    out["risk"] = tiers(out["p_alive"].to_numpy())
    return out.sort_values(["p_alive", "expected_orders"], ignore_index=True)


def tiers(alive: np.ndarray) -> np.ndarray:
    """high / medium / low churn risk (流失风险) by P(alive) below 0.3 / 0.7 / above."""
    return np.asarray(RISK_NAMES, dtype=object)[np.digitize(alive, RISK_BOUNDS)]


def tier_label(tier: str) -> str:
    """A churn-risk tier as the screen names it in the language in force (高 / 中 / 低 in
    Chinese); the written table and --json keep high / medium / low."""
    from experiments.report.language import t

    return t(tier, RISK_ZH.get(tier, tier))


def holdout_orders(customers: pd.DataFrame, later: pd.DataFrame) -> np.ndarray:
    """Orders each customer of `customers` (column user) placed after its observed days, from
    a longer per-customer table of the same pseudonymised ids (0 for customers it lacks)."""
    total = later.set_index("user")["x"].reindex(customers["user"]).fillna(0).to_numpy()
    seen = customers["x"].to_numpy(dtype=float)
    return np.maximum(total - seen, 0.0)


def accuracy(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float | None]:
    """MAE, RMSE and Pearson correlation of per-customer predictions (None where undefined)."""
    error = predicted - actual
    return {"mae": float(np.abs(error).mean()), "rmse": float(np.sqrt((error**2).mean())),
            "correlation": correlation(predicted, actual),
            "predicted_total": float(predicted.sum()), "actual_total": float(actual.sum())}


def correlation(x: np.ndarray, y: np.ndarray) -> float | None:
    """Pearson's r, or None where it is undefined: fewer than two customers, or a side that
    does not vary (nobody ordered again in the holdout), where numpy gives NaN, which is not
    JSON, and prints warnings."""
    if len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def write_risk(table: pd.DataFrame, path: Path, suffix: str) -> None:
    """Parquet when `suffix` says so, else CSV with a BOM (so Excel shows 中文)."""
    if suffix.lower() == ".parquet":
        table.to_parquet(path, index=False)
    else:
        table.to_csv(path, index=False, encoding="utf-8-sig")

"""The figures of an A/B simulation over its replicates: estimate, true effect and bias,
simulated and analytic power, A/A rate and coverage, each with its Monte Carlo standard error;
and the cheapest design that is powered and unbiased enough."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from experiments.planning.design import Design
from experiments.planning.errors import PowerInputError
from experiments.planning.metrics import MeanMetric, RatioMetric
from experiments.planning.solver import solve


def _rate(flags: pd.Series) -> tuple[float, float]:
    p, r = float(flags.mean()), len(flags)
    return p, math.sqrt(max(p * (1 - p), 1e-12) / r)


def analytic_power(group: pd.DataFrame, alpha: float, effect: str = "true_effect") -> float:
    """Power from `power.solve` for the measured baseline, variances, arm sizes and the mean
    true effect, or (`effect="estimate"`) the effect the design actually estimates (design
    effect from the measured ICC for cluster and ego units)."""
    delta = float(group[effect].mean())
    n_c, n_t = float(group["n_control"].mean()), float(group["n_treatment"].mean())
    if not (delta and n_c > 1 and n_t > 1) or not math.isfinite(delta):
        return math.nan
    design = Design(alpha=alpha, treatment_ratio=n_t / n_c)
    if "icc" in group and group["icc"].notna().all():
        design = Design(alpha=alpha, treatment_ratio=n_t / n_c,
                        icc=float(group["icc"].mean()),
                        cluster_size=float(group["cluster_size"].mean()),
                        cluster_cv=float(group["cluster_cv"].mean()))
    try:
        if "num_mean" in group and group["num_mean"].notna().all():
            metric: Any = RatioMetric(float(group["num_mean"].mean()),
                                      float(group["den_mean"].mean()),
                                      float(group["num_var"].mean()),
                                      float(group["den_var"].mean()), float(group["cov"].mean()))
        else:
            metric = MeanMetric(sd=math.sqrt(float(group["var_control"].mean())),
                                sd_treatment=math.sqrt(float(group["var_treatment"].mean())),
                                test="t")
        return float(solve(metric, design, n=n_c, mde=delta).power)
    except (PowerInputError, ValueError, ZeroDivisionError):
        return math.nan


def summarise(rows: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """One row per (design, duration, metric): estimate, true effect, bias, power (simulated
    and analytic), A/A rate and coverage, each with its Monte Carlo standard error."""
    out = []
    for (design, duration, metric), g in rows.groupby(["design", "duration", "metric"],
                                                      sort=True):
        r = len(g)
        true = float(g["true_effect"].mean())
        diff = g["estimate"] - g["true_effect"]
        power, power_se = _rate(g["reject"])
        aa, _ = _rate(g["aa_reject"])
        covered = (g["ci_lower"] <= true) & (true <= g["ci_upper"])
        coverage, coverage_se = _rate(covered)
        bias = float(diff.mean())
        out.append({
            "design": int(design), "unit": g["unit"].iloc[0], "size": int(g["size"].iloc[0]),
            "duration": int(duration), "metric": metric, "replicates": r,
            "users": float((g["n_control"] + g["n_treatment"]).mean()),
            "control_mean": float(g["true_control"].mean()),
            "estimate": float(g["estimate"].mean()),
            "estimate_se": float(g["estimate"].std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "true_effect": true,
            "true_effect_se": float(g["true_effect"].std(ddof=1) / math.sqrt(r))
            if r > 1 else math.nan,
            "bias": bias,
            "bias_se": float(diff.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "relative_bias": bias / true if true else math.nan,
            "power": power, "power_se": power_se,
            "analytic_power": analytic_power(g, alpha),
            "analytic_power_at_estimate": analytic_power(g, alpha, "estimate"),
            "aa_rate": aa, "aa_se": math.sqrt(alpha * (1 - alpha) / r),
            "coverage": coverage, "coverage_se": coverage_se,
            "mean_se": float(g["se"].mean()),
        })
    return pd.DataFrame(out)


def recommend(table: pd.DataFrame, primary: str, target_power: float = 0.8,
              bias_tolerance: float = 0.1) -> dict[str, Any]:
    """The cheapest design (fewest user-days, then shortest) whose simulated power on the
    primary metric reaches the target and whose |bias| is at most `bias_tolerance` times the
    true effect; when none does, say which came closest and why."""
    rows = table[table["metric"] == primary].copy()
    rows["cost"] = rows["users"] * rows["duration"]
    rows["bias_ok"] = rows["relative_bias"].abs() <= bias_tolerance
    rows["power_ok"] = rows["power"] >= target_power
    rule = (f"simulated power >= {target_power:g} on {primary} and |bias| <= "
            f"{bias_tolerance:g} x the true effect; cheapest = fewest enrolled user-days")
    fits = rows[rows["bias_ok"] & rows["power_ok"]].sort_values(["cost", "duration"])
    if len(fits):
        best = fits.iloc[0]
        return {"found": True, "rule": rule, **_design(best),
                "text": f"{best['unit']} randomisation, {int(best['duration'])} days, "
                        f"{best['users']:,.0f} users (market {int(best['size']):,}): power "
                        f"{best['power']:.2f}, bias {best['relative_bias']:+.1%} of the true "
                        "effect"}
    if not len(rows):
        return {"found": False, "rule": rule, "text": "no design was simulated"}
    rows["gap"] = (target_power - rows["power"]).clip(lower=0) + (
        rows["relative_bias"].abs() - bias_tolerance).clip(lower=0).fillna(1.0)
    best = rows.sort_values(["gap", "cost"]).iloc[0]
    why = [] if best["power_ok"] else [f"power {best['power']:.2f} < {target_power:g}"]
    if not best["bias_ok"]:
        why.append(f"bias {best['relative_bias']:+.1%} beyond ±{bias_tolerance:.0%}")
    return {"found": False, "rule": rule, **_design(best),
            "text": f"no design qualifies; closest: {best['unit']}, {int(best['duration'])} "
                    f"days, {best['users']:,.0f} users ({'; '.join(why)}); simulate longer "
                    "durations or a larger market"}


def _design(row: pd.Series) -> dict[str, Any]:
    return {"unit": str(row["unit"]), "duration": int(row["duration"]),
            "users": float(row["users"]), "size": int(row["size"]),
            "power": float(row["power"]), "relative_bias": float(row["relative_bias"])}

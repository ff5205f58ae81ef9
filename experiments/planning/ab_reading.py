"""What an analyst reads from one simulated A/B market: per-user values of a metric, the
treatment-vs-control comparison (Welch t per user, the delta method per unit), the intra-cluster
correlation, and the moments the analytic power needs. `run_ab_task` applies it to the
markets of a task."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from experiments.analysis.comparisons import TestResult, ratio_ztest, welch_ttest
from experiments.analysis.statistics import RatioStatistic, SampleMeanStatistic
from sim.metrics import METRICS


def user_frame(extras: dict[str, np.ndarray], events: list[str], day: int) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for e in events:
        cols[e] = extras[f"user.{e}@{day}"]
        cols[f"{e}_amount"] = extras[f"user.{e}_amount@{day}"]
    return pd.DataFrame(cols)


def metric_values(frame: pd.DataFrame, name: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-user values of a flow (numerator, None), or numerator and denominator of a ratio."""
    metric = METRICS[name]
    if metric.kind == "ratio":
        return (METRICS[metric.numerator].daily(frame).to_numpy(dtype=float),  # type: ignore
                METRICS[metric.denominator].daily(frame).to_numpy(dtype=float))  # type: ignore
    return metric.daily(frame).to_numpy(dtype=float), None


def dense_labels(unit: np.ndarray) -> np.ndarray:
    """Each unit id's rank among the distinct ids: `np.unique(unit, return_inverse=True)[1]`,
    for the non-negative integer ids of users and communities by a presence table (O(n), a
    tenth of unique's sort on 100k users) rather than a sort."""
    if not len(unit) or unit.dtype.kind not in "iu" or unit.min() < 0 \
            or (top := int(unit.max())) > 4 * len(unit) + 1024:
        return np.unique(unit, return_inverse=True)[1]
    present = np.zeros(top + 1, dtype=bool)
    present[unit] = True
    rank = np.cumsum(present) - 1
    return rank[unit]


def _unit_sums(unit: np.ndarray, *values: np.ndarray) -> list[np.ndarray]:
    inverse = dense_labels(unit)
    return [np.bincount(inverse, weights=v) for v in values]


def compare(x: np.ndarray, y: np.ndarray | None, arm: np.ndarray, unit: np.ndarray | None,
            alpha: float) -> TestResult | None:
    """Treatment (arm 1) minus control (arm 0) per eligible user. `unit` None: users are the
    units (Welch t, or the delta method for a ratio); else the delta method on unit totals."""
    try:
        if unit is None:
            c, t = arm == 0, arm == 1
            if y is None:
                return welch_ttest(SampleMeanStatistic.from_values(x[c]),
                                   SampleMeanStatistic.from_values(x[t]), alpha)
            return ratio_ztest(RatioStatistic.from_values(x[c], y[c]),
                               RatioStatistic.from_values(x[t], y[t]), alpha)
        denominator = np.ones_like(x) if y is None else y
        sx, sy, sa, sn = _unit_sums(unit, x, denominator, arm.astype(float), np.ones_like(x))
        unit_arm = np.rint(sa / sn)
        keep = sy > 0
        c, t = keep & (unit_arm == 0), keep & (unit_arm == 1)
        return ratio_ztest(RatioStatistic.from_values(sx[c], sy[c]),
                           RatioStatistic.from_values(sx[t], sy[t]), alpha)
    except (ZeroDivisionError, ValueError, FloatingPointError):
        return None


def icc_anova(values: np.ndarray, unit: np.ndarray) -> tuple[float, float, float]:
    """One-way ANOVA intra-cluster correlation (unequal sizes), mean and CV of cluster sizes."""
    n_i, s_i, q_i = _unit_sums(unit, np.ones_like(values), values, values * values)
    k, n = len(n_i), float(n_i.sum())
    if k < 2 or n <= k:
        return 0.0, float(n / max(k, 1)), 0.0
    grand = s_i.sum() / n
    msb = float(((s_i / n_i - grand) ** 2 * n_i).sum() / (k - 1))
    msw = float((q_i - s_i**2 / n_i).sum() / (n - k))
    n0 = (n - (n_i**2).sum() / n) / (k - 1)
    denominator = msb + (n0 - 1) * msw
    icc = (msb - msw) / denominator if denominator > 0 else 0.0
    return float(min(max(icc, 0.0), 1.0)), float(n_i.mean()), float(n_i.std() / n_i.mean())


def pooled_mean(x: np.ndarray, y: np.ndarray | None) -> float:
    if y is None:
        return float(x.mean()) if len(x) else math.nan
    return float(x.sum() / y.sum()) if y.sum() else math.nan


def moments(control: tuple[np.ndarray, np.ndarray | None],
            treatment: tuple[np.ndarray, np.ndarray | None],
            unit: np.ndarray | None) -> dict[str, float]:
    """What the analytic power needs, measured in the all-control and a launch market."""
    x, y = control
    out = {"var_control": float(x.var(ddof=1)) if len(x) > 1 else math.nan,
           "var_treatment": float(treatment[0].var(ddof=1)) if len(treatment[0]) > 1
           else math.nan}
    if y is not None:
        cov = np.cov(x, y) if len(x) > 1 else np.full((2, 2), math.nan)
        out.update(num_mean=float(x.mean()), den_mean=float(y.mean()), num_var=float(cov[0, 0]),
                   den_var=float(cov[1, 1]), cov=float(cov[0, 1]))
    if unit is not None:
        icc, size, cv = icc_anova(x, unit)
        out.update(icc=icc, cluster_size=size, cluster_cv=cv)
    return out

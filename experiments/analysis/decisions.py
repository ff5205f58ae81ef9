"""Decisions over many tests and looks: multiple-testing adjustments (statsmodels), the
sample-ratio-mismatch check (scipy's chi-square) and group-sequential stopping."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from statsmodels.stats.multitest import multipletests

from experiments.analysis.statistics import as_array

AdjustmentMethod = Literal["bonferroni", "holm", "sidak", "bh"]
_STATSMODELS_METHOD = {"bonferroni": "bonferroni", "holm": "holm", "sidak": "sidak",
                       "bh": "fdr_bh"}


@dataclass(frozen=True)
class AdjustedPValues:
    method: str
    alpha: float
    p_values: tuple[float, ...]
    adjusted: tuple[float, ...]
    reject: tuple[bool, ...]


def adjust_p_values(
    p_values: Sequence[float], method: AdjustmentMethod = "holm", alpha: float = 0.05
) -> AdjustedPValues:
    """Bonferroni / Holm / Sidak (family-wise) or Benjamini-Hochberg (false discovery rate)."""
    if method not in _STATSMODELS_METHOD:
        raise ValueError(f"method must be one of {', '.join(_STATSMODELS_METHOD)}")
    reject, adjusted, _, _ = multipletests(
        list(p_values), alpha=alpha, method=_STATSMODELS_METHOD[method]
    )
    return AdjustedPValues(
        method=method,
        alpha=alpha,
        p_values=tuple(float(p) for p in p_values),
        adjusted=tuple(float(p) for p in adjusted),
        reject=tuple(bool(r) for r in reject),
    )


@dataclass(frozen=True)
class SrmResult:
    statistic: float
    p_value: float
    expected: tuple[float, ...]
    mismatch: bool
    threshold: float


def srm_check(
    observed_counts: Sequence[int], intended_shares: Sequence[float], threshold: float = 0.001
) -> SrmResult:
    """Sample-ratio mismatch: chi-square goodness of fit of arm counts to the intended split.

    The strict default threshold (0.001) is conventional because the check runs on every
    experiment and a real SRM usually gives tiny p-values.
    """
    from scipy import stats  # here: scipy.stats is half a second of import
    counts = as_array(observed_counts)
    shares = as_array(intended_shares)
    if counts.shape != shares.shape or counts.size < 2:
        raise ValueError("need one intended share per arm, at least two arms")
    if np.any(shares <= 0):
        raise ValueError("intended shares must be positive")
    expected = counts.sum() * shares / shares.sum()
    statistic, p_value = stats.chisquare(counts, expected)
    return SrmResult(
        statistic=float(statistic),
        p_value=float(p_value),
        expected=tuple(float(e) for e in expected),
        mismatch=bool(p_value < threshold),
        threshold=threshold,
    )


@dataclass(frozen=True)
class SequentialDecision:
    action: Literal["continue", "reject", "accept"]
    look: int
    statistic: float
    critical_value: float


def sequential_decision(
    z_statistics: Sequence[float], critical_values: Sequence[float], sides: int = 2
) -> SequentialDecision:
    """Apply group-sequential boundaries (experiments.planning.sequential) to the z values so far.

    Rejects at the first look whose |z| (or z, one-sided) reaches its boundary; accepts H0 at
    the final look otherwise; continues while looks remain.  ``look`` is 1-based.
    """
    if len(z_statistics) == 0:
        raise ValueError("need at least one look")
    if len(z_statistics) > len(critical_values):
        raise ValueError(
            f"{len(z_statistics)} looks but only {len(critical_values)} boundaries planned"
        )
    for k, (z, c) in enumerate(zip(z_statistics, critical_values, strict=False)):
        crossed = abs(z) >= c if sides == 2 else z >= c
        if crossed:
            return SequentialDecision("reject", k + 1, float(z), float(c))
    last = len(z_statistics)
    action: Literal["continue", "accept"] = "accept" if last == len(critical_values) else "continue"
    return SequentialDecision(
        action, last, float(z_statistics[-1]), float(critical_values[last - 1])
    )

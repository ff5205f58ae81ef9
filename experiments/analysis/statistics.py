"""Sufficient statistics of an experiment's arms: sums (n, sum, sum of squares, cross products)
with ``__add__``, so per-chunk, per-replicate or per-worker statistics combine exactly by
addition (the design of GrowthBook's gbstats). The tests in `comparisons` turn two of them
(control, treatment) into a result."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from experiments.analysis.delta_method import ratio_unit_variance


def as_array(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=float)


@dataclass(frozen=True)
class SampleMeanStatistic:
    """Per-unit metric values summarised by n, sum and sum of squares."""

    n: int = 0
    sum: float = 0.0
    sum_squares: float = 0.0

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> SampleMeanStatistic:
        x = as_array(values)
        return cls(n=int(x.size), sum=float(x.sum()), sum_squares=float((x * x).sum()))

    def __add__(self, other: SampleMeanStatistic) -> SampleMeanStatistic:
        return SampleMeanStatistic(
            self.n + other.n, self.sum + other.sum, self.sum_squares + other.sum_squares
        )

    @property
    def mean(self) -> float:
        return self.sum / self.n

    @property
    def variance(self) -> float:
        """Unbiased sample variance (n - 1 denominator), as scipy's Welch test uses."""
        return max((self.sum_squares - self.sum**2 / self.n) / (self.n - 1), 0.0)


@dataclass(frozen=True)
class ProportionStatistic:
    """Binary outcomes: n units, ``sum`` of them converted."""

    n: int = 0
    sum: float = 0.0

    @classmethod
    def from_values(cls, values: Sequence[float] | np.ndarray) -> ProportionStatistic:
        x = as_array(values)
        return cls(n=int(x.size), sum=float(x.sum()))

    def __add__(self, other: ProportionStatistic) -> ProportionStatistic:
        return ProportionStatistic(self.n + other.n, self.sum + other.sum)

    @property
    def mean(self) -> float:
        return self.sum / self.n

    @property
    def variance(self) -> float:
        p = self.mean
        return p * (1 - p)


@dataclass(frozen=True)
class _PairedSums:
    """Sums for two per-unit variables x and y and their cross products."""

    n: int = 0
    x_sum: float = 0.0
    x_sum_squares: float = 0.0
    y_sum: float = 0.0
    y_sum_squares: float = 0.0
    cross_sum: float = 0.0

    @property
    def x_mean(self) -> float:
        return self.x_sum / self.n

    @property
    def y_mean(self) -> float:
        return self.y_sum / self.n

    @property
    def x_variance(self) -> float:
        return (self.x_sum_squares - self.x_sum**2 / self.n) / (self.n - 1)

    @property
    def y_variance(self) -> float:
        return (self.y_sum_squares - self.y_sum**2 / self.n) / (self.n - 1)

    @property
    def covariance(self) -> float:
        return (self.cross_sum - self.x_sum * self.y_sum / self.n) / (self.n - 1)


def _paired_from_values(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    if x.shape != y.shape:
        raise ValueError("both variables need one value per unit")
    return {
        "n": int(x.size),
        "x_sum": float(x.sum()),
        "x_sum_squares": float((x * x).sum()),
        "y_sum": float(y.sum()),
        "y_sum_squares": float((y * y).sum()),
        "cross_sum": float((x * y).sum()),
    }


def _add_paired(a: _PairedSums, b: _PairedSums) -> dict[str, float]:
    return {
        "n": a.n + b.n,
        "x_sum": a.x_sum + b.x_sum,
        "x_sum_squares": a.x_sum_squares + b.x_sum_squares,
        "y_sum": a.y_sum + b.y_sum,
        "y_sum_squares": a.y_sum_squares + b.y_sum_squares,
        "cross_sum": a.cross_sum + b.cross_sum,
    }


@dataclass(frozen=True)
class RatioStatistic(_PairedSums):
    """Ratio metric sum(x) / sum(y) over units: x is the numerator (e.g. revenue), y the
    denominator (e.g. orders), both per randomisation unit."""

    @classmethod
    def from_values(
        cls, numerator: Sequence[float] | np.ndarray, denominator: Sequence[float] | np.ndarray
    ) -> RatioStatistic:
        return cls(**_paired_from_values(as_array(numerator), as_array(denominator)))

    def __add__(self, other: RatioStatistic) -> RatioStatistic:
        return RatioStatistic(**_add_paired(self, other))

    @property
    def ratio(self) -> float:
        return self.x_sum / self.y_sum

    @property
    def ratio_variance(self) -> float:
        """Var of the ratio estimate by the delta method (Deng, Knoblich & Lu 2018)."""
        unit = ratio_unit_variance(self.x_mean, self.y_mean, self.x_variance, self.y_variance,
                                   self.covariance)
        return unit / self.n


@dataclass(frozen=True)
class RegressionAdjustedStatistic(_PairedSums):
    """CUPED: x is the pre-period covariate, y the experiment-period metric, per unit."""

    @classmethod
    def from_values(
        cls, post: Sequence[float] | np.ndarray, pre: Sequence[float] | np.ndarray
    ) -> RegressionAdjustedStatistic:
        return cls(**_paired_from_values(as_array(pre), as_array(post)))

    def __add__(self, other: RegressionAdjustedStatistic) -> RegressionAdjustedStatistic:
        return RegressionAdjustedStatistic(**_add_paired(self, other))

    @property
    def theta(self) -> float:
        """OLS slope of post on pre: Cov(post, pre) / Var(pre)."""
        return self.covariance / self.x_variance

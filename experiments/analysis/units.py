"""What `simctl analyze` reads: a units file (one row per randomised user: arm, metric columns,
optional pre-period covariates and cluster id) or a file of sufficient statistics per arm, as a
warehouse query exports them. Both become the frozen statistics of `statistics.py`, one per arm
and metric, so every test downstream works on sums whatever the input was."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from experiments.analysis.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)
from experiments.analysis.table_file import located, numbers, read_table
from sim.errors import InputError, Problem
from sim.metrics import METRICS

Statistic = SampleMeanStatistic | ProportionStatistic | RatioStatistic | RegressionAdjustedStatistic
Kind = Literal["mean", "proportion", "ratio"]
STATS_COLUMNS = ("arm", "metric", "n", "sum", "sum_squares")
PAIRED_COLUMNS = ("den_sum", "den_sum_squares", "cross_sum")
EXPECTED = "arm,<metric>,... one row per user, or arm,metric,n,sum,sum_squares per arm"
USER_COLUMN = "user"  # optional in a units file; when there, each user appears once
_NAME = r"[^\W\d][\w.]*"  # a column name: letters (Chinese too), digits, _ and .


@dataclass(frozen=True)
class MetricSpec:
    """One metric to read: a column (mean or 0/1 proportion), or numerator/denominator (ratio),
    maybe with a pre-period covariate (CUPED); `lower_is_better` for costs and refunds."""

    column: str
    denominator: str | None = None
    covariate: str | None = None
    lower_is_better: bool = False

    @property
    def name(self) -> str:
        return self.column if self.denominator is None else f"{self.column}/{self.denominator}"


def parse_metric(text: str, option: str, covariates: dict[str, str]) -> MetricSpec:
    """`gmv`, `gmv/orders` (a ratio), with `:lower` when a decrease is the good direction
    (the default for a growthsim metric whose declared good direction is down). A guardrail
    on any other column must say its direction."""
    match = re.fullmatch(rf"\s*({_NAME})(?:\s*/\s*({_NAME}))?\s*(?::\s*(lower|higher))?\s*",
                         text)
    if match is None:
        raise InputError([Problem(option, None, "", f"{text!r} is not a metric; expected a "
                                  "column (gmv), a ratio (gmv/orders), maybe with :lower")])
    column, denominator, direction = match.groups()
    if direction is None:  # a growthsim metric knows its good direction (costs: down)
        name = column if denominator is None else f"{column}/{denominator}"
        known = METRICS.get(name)
        if known is None and option == "--guardrail":
            # a guardrail exists to catch what gets worse: guessing "higher is better" for a
            # refund or complaint column would read its rise as good and let the arm ship
            raise InputError([Problem(option, None, "", f"{name!r} is not a growthsim metric, "
                                      "so which way is worse is not known; write "
                                      f"{name}:lower (a rise is worse) or {name}:higher (a "
                                      "fall is worse)")])
        direction = "lower" if known is not None and known.good == "down" else "higher"
    return MetricSpec(column, denominator, covariates.get(column), direction == "lower")


def parse_covariates(pairs: list[str]) -> dict[str, str]:
    """`--cuped gmv=pre_gmv`: the metric column and its pre-period covariate column."""
    out: dict[str, str] = {}
    for pair in pairs:
        match = re.fullmatch(rf"\s*({_NAME})\s*=\s*({_NAME})\s*", pair)
        if match is None:
            raise InputError([Problem("--cuped", None, "", f"{pair!r}: expected "
                                      "METRIC=COVARIATE, e.g. gmv=pre_gmv")])
        out[match.group(1)] = match.group(2)
    return out


@dataclass
class ArmData:
    """Statistics per arm and metric name, the unit counts per arm, and how they were made."""

    source: str
    arms: list[str]
    units: dict[str, int]
    statistics: dict[str, dict[str, Statistic]]
    kinds: dict[str, str]  # metric name -> method words for the report
    values: dict[str, dict[str, np.ndarray]]  # per-unit values (for Dunnett), user level only


def load_arms(path: Path, metrics: list[MetricSpec], arm_column: str = "arm",
              cluster_column: str | None = None) -> ArmData:
    """Read either kind of file (told apart by its columns) into statistics per arm."""
    frame, first = read_table(path, EXPECTED)
    if set(STATS_COLUMNS) <= set(frame.columns):
        return _from_statistics(frame, first, str(path), metrics)
    return _from_units(frame, first, str(path), metrics, arm_column, cluster_column)


# How alike a column's name must be to the asked-for one to be offered as its spelling:
# 'clustr' or 'cluster_id' for 'cluster' (0.92, 0.82), not 'user' (0.73, another column).
TYPO_CUTOFF = 0.8


def _missing(source: str, column: str, columns: list[str], what: str) -> InputError:
    close = difflib.get_close_matches(column, columns, n=1, cutoff=TYPO_CUTOFF)
    hint = f" (did you mean {close[0]!r}?)" if close else f"; columns are {', '.join(columns)}"
    return InputError([Problem(source, 1, column, f"missing column for {what}{hint}")])


def _labels(frame: pd.DataFrame, column: str, source: str, first: int,
            what: str = "arm") -> np.ndarray:
    if column not in frame.columns:
        role = ("the arm of each row (--arm-column)" if what == "arm" else "the randomisation "
                "cluster of each row (--cluster; a plan randomised by cluster or ego needs it)")
        raise _missing(source, column, list(frame.columns), role)
    labels = frame[column].astype(str).str.strip()
    blank = labels.isin(["", "nan", "None", "<NA>"]).to_numpy()
    if blank.any():
        raise InputError(located(source, column, blank, first,
                                 lambda i: f"empty {what}; every row needs its {what}"))
    return labels.to_numpy()


def _from_units(frame: pd.DataFrame, first: int, source: str, metrics: list[MetricSpec],
                arm_column: str, cluster_column: str | None) -> ArmData:
    arm = _labels(frame, arm_column, source, first)
    arms = list(dict.fromkeys(sorted(arm)))
    if USER_COLUMN in frame.columns:
        _check_one_row_per_user(frame[USER_COLUMN], source, first)
    cluster = None if cluster_column is None else _labels(frame, cluster_column, source, first,
                                                          "cluster")
    if cluster is not None:
        _check_clusters_in_one_arm(arm, cluster, source, first, cluster_column or "")
    columns: dict[str, np.ndarray] = {}
    for spec in metrics:
        for column, role in ((spec.column, "a metric"), (spec.denominator, "a denominator"),
                             (spec.covariate, "a CUPED covariate")):
            if column is None or column in columns:
                continue
            if column not in frame.columns:
                raise _missing(source, column, list(frame.columns), role)
            columns[column] = numbers(frame, column, source, first, allow_blank=False,
                                      nonnegative=role == "a denominator", booleans=True,
                                      percent=role != "a denominator",
                                      negative_hint="a ratio's denominator counts something "
                                      "(orders, visits) and cannot be negative").to_numpy()
    data = ArmData(source, arms, {a: int((arm == a).sum()) for a in arms}, {}, {}, {})
    for spec in metrics:
        for label in arms:
            mask = arm == label
            stat, method = _unit_statistic(spec, columns, mask, cluster)
            data.statistics.setdefault(spec.name, {})[label] = stat
            data.kinds[spec.name] = method
            if cluster is None and spec.denominator is None and spec.covariate is None:
                data.values.setdefault(spec.name, {})[label] = columns[spec.column][mask]
    if cluster is not None:
        data.units = {a: len(set(cluster[arm == a])) for a in arms}
    return data


def _check_one_row_per_user(users: pd.Series, source: str, first: int) -> None:
    """A user twice (a warehouse join that repeats rows, or one user in two arms) counts twice
    and narrows every interval: refused, with the row of the first sighting."""
    labels = users.astype(str).str.strip()
    again = labels.duplicated(keep="first").to_numpy()
    if again.any():
        first_row = pd.Series(np.arange(len(labels)), index=labels.to_numpy()).groupby(
            level=0).min()
        raise InputError(located(source, USER_COLUMN, again, first, lambda i: (
            f"user {labels.iloc[i]!r} again (first at row "
            f"{int(first_row[labels.iloc[i]]) + first}); one row per user: a repeated row "
            "counts the user twice")))


def _check_clusters_in_one_arm(arm: np.ndarray, cluster: np.ndarray, source: str, first: int,
                               column: str) -> None:
    pairs = pd.DataFrame({"arm": arm, "cluster": cluster})
    first_arm = pairs.groupby("cluster")["arm"].transform("first").to_numpy()
    mixed = first_arm != arm
    if mixed.any():
        raise InputError(located(source, column, mixed, first, lambda i: (
            f"cluster {cluster[i]!r} is in arm {arm[i]!r} here and {first_arm[i]!r} earlier; "
            "a cluster is randomised whole, into one arm")))


def _unit_statistic(spec: MetricSpec, columns: dict[str, np.ndarray], mask: np.ndarray,
                    cluster: np.ndarray | None) -> tuple[Statistic, str]:
    x = columns[spec.column][mask]
    if cluster is not None:  # cluster-robust: the delta method over cluster totals
        if spec.covariate is not None:
            raise InputError([Problem("--cuped", None, "", "CUPED with --cluster is not "
                                      "supported; read clustered tests without --cuped")])
        y = np.ones_like(x) if spec.denominator is None else columns[spec.denominator][mask]
        _, inverse = np.unique(cluster[mask], return_inverse=True)
        return (RatioStatistic.from_values(np.bincount(inverse, x), np.bincount(inverse, y)),
                "cluster-robust (delta method over cluster totals)")
    if spec.denominator is not None:
        return (RatioStatistic.from_values(x, columns[spec.denominator][mask]),
                "ratio (delta method)")
    if spec.covariate is not None:
        return (RegressionAdjustedStatistic.from_values(x, columns[spec.covariate][mask]),
                f"CUPED on {spec.covariate}")
    if np.isin(columns[spec.column], (0.0, 1.0)).all():
        return ProportionStatistic.from_values(x), "proportion"
    return SampleMeanStatistic.from_values(x), "mean (Welch)"


def _from_statistics(frame: pd.DataFrame, first: int, source: str,
                     metrics: list[MetricSpec]) -> ArmData:
    """One row per arm and metric: n, sum, sum_squares (den_sum, den_sum_squares, cross_sum
    for a ratio, whose metric is written `numerator/denominator`)."""
    labels = _labels(frame, "arm", source, first)
    names = frame["metric"].astype(str).str.strip().to_numpy()
    paired = set(PAIRED_COLUMNS) <= set(frame.columns)
    cols = {c: numbers(frame, c, source, first, allow_blank=c in PAIRED_COLUMNS,
                       nonnegative=c in ("n", "sum_squares", "den_sum_squares")).to_numpy()
            for c in (*STATS_COLUMNS[2:], *(PAIRED_COLUMNS if paired else ()))}
    arms = list(dict.fromkeys(sorted(labels)))
    data = ArmData(source, arms, {}, {}, {}, {})
    for spec in metrics:
        for label in arms:
            at = np.flatnonzero((labels == label) & (names == spec.name))
            if at.size != 1:
                raise InputError([Problem(source, None, "metric", f"{at.size} rows for metric "
                                          f"{spec.name!r} in arm {label!r}; expected one")])
            i = int(at[0])
            data.statistics.setdefault(spec.name, {})[label] = _row_statistic(
                spec, cols, i, source, first)
            data.units[label] = int(cols["n"][i])
        data.kinds[spec.name] = "ratio (delta method)" if spec.denominator else "mean (Welch)"
    return data


def _row_statistic(spec: MetricSpec, cols: dict[str, np.ndarray], i: int, source: str,
                   first: int) -> Statistic:
    n = cols["n"][i]
    if n != int(n) or n < 2:
        raise InputError([Problem(source, i + first, "n", f"{n:g} units; expected a whole "
                                  "number of at least 2")])
    _check_spread(cols, i, source, first, ("sum", "sum_squares"))
    if spec.denominator is None:
        return SampleMeanStatistic(int(n), float(cols["sum"][i]), float(cols["sum_squares"][i]))
    if "den_sum" not in cols or np.isnan(cols["den_sum"][i]):
        raise InputError([Problem(source, i + first, "den_sum", f"ratio {spec.name!r} needs "
                                  f"den_sum, den_sum_squares and cross_sum")])
    _check_spread(cols, i, source, first, ("den_sum", "den_sum_squares"))
    return RatioStatistic(int(n), float(cols["sum"][i]), float(cols["sum_squares"][i]),
                          float(cols["den_sum"][i]), float(cols["den_sum_squares"][i]),
                          float(cols["cross_sum"][i]))


def _check_spread(cols: dict[str, np.ndarray], i: int, source: str, first: int,
                  names: tuple[str, str]) -> None:
    """A sum of squares below sum^2 / n means a negative variance: a wrong export (a sum of
    squared deviations, or of another column), refused before it reads as a tiny interval."""
    n, total, squares = cols["n"][i], cols[names[0]][i], cols[names[1]][i]
    floor = total * total / n
    if squares < floor * (1 - 1e-9) - 1e-9:
        def shown(x: float) -> str:
            return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.6g}"
        raise InputError([Problem(source, i + first, names[1], f"{shown(squares)} is below "
                                  f"{names[0]}^2 / n = {shown(floor)}, a negative variance; "
                                  f"{names[1]} is the sum of each unit's value squared")])

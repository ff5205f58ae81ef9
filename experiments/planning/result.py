"""The solved design as the calculator reports it: whole units and clusters, the duration,
the power over guardrails, and the notes and warnings that say how each number was made."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

from experiments.planning.design import cuped_variance_factor, design_effect, overall_power
from experiments.planning.duration import Traffic, days_needed, rounded_days, users_after
from experiments.planning.fixed import FixedDesign
from experiments.planning.metrics import (
    MeanMetric,
    ProportionMetric,
    metric_baseline,
    metric_kind,
    unit_variances,
    uses_t,
    variance_formula,
)
from experiments.planning.sequential import SequentialDesign, naive_peeking_false_positive_rate
from experiments.report.language import t


@dataclass(frozen=True)
class PowerResult:
    """All quantities of the solved design; ``solved_for`` names the one that was computed."""

    solved_for: Literal["n", "power", "mde"]
    metric: str
    variance_formula: str
    test: str
    alpha: float
    sides: int
    arms: int
    correction: str
    alpha_per_comparison: float
    critical_value: float
    power: float
    power_per_test: float
    guardrails: int
    guardrail_power: str
    lift_test: bool
    lift_se: float | None  # standard error of the relative lift at the solved size
    mde_absolute: float
    mde_relative: float | None
    mde_input_scale: Literal["absolute", "relative"]
    baseline: float | None
    treatment_value: float | None
    non_inferiority_margin: float | None
    treatment_ratio: float
    n_control: float
    n_treatment: float
    n_control_units: int
    n_treatment_units: int
    n_total_units: int
    n_fixed_control: float
    cuped_variance_factor: float
    design_effect: float
    clusters_control: int | None
    clusters_treatment: int | None
    days: float | None
    days_rounded: int | None
    power_at_rounded_days: float | None
    sequential: SequentialDesign | None
    naive_peeking_false_positive_rate: float | None
    notes: tuple[str, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass
class Sizing:
    """The solved design before guardrails and duration are added."""

    delta: float
    n_control: float
    n_fixed: float
    per_test_power: float
    sequential: SequentialDesign | None = None
    notes: list[str] = field(default_factory=list)


def _duration(problem: FixedDesign, sizing: Sizing, traffic: Traffic | None,
              days: float | None, total_units: int, solved_for: str,
              ) -> tuple[float | None, int | None, float | None]:
    """Exact and planned days, and the power at the planned (rounded) days of a fixed design."""
    if traffic is None:
        return None, None, None
    d = problem.design
    exact = float(days) if days is not None else days_needed(total_units, traffic)
    planned = rounded_days(days if days is not None else exact, traffic.round_weeks)
    power_rounded = None
    if solved_for == "n" and d.sequential == "none":
        ratio = problem.ratio(sizing.delta)
        n_at_rounded = users_after(planned, traffic) / (1 + d.comparisons * ratio)
        power_rounded = overall_power(problem.power(n_at_rounded, sizing.delta), d)
    return exact, planned, power_rounded


def _notes(problem: FixedDesign, sizing: Sizing, overall: float) -> list[str]:
    d = problem.design
    notes = list(sizing.notes)
    if d.correction == "holm" and d.comparisons > 1:
        notes.append(t("holm sized at its first step (alpha/m, as Bonferroni): conservative",
                       "holm 按其第一步（alpha/m，与 Bonferroni 相同）估算样本量：偏保守"))
    if d.guardrails:
        multiplicative = d.guardrail_power == "multiplicative"
        notes.append(t(
            f"guardrails: each of 1 + {d.guardrails} tests sized for power "
            f"{sizing.per_test_power:.4f} so that "
            + ("the product (all pass, independent tests) is " if multiplicative
               else "by Spotify's rule 1 - beta/(G+1) all pass with at least ")
            + f"{overall:.4f}",
            f"护栏指标：1 + {d.guardrails} 个检验各按功效 {sizing.per_test_power:.4f} 估算，"
            + ("全部通过的概率（独立检验之积）为 " if multiplicative
               else "按 Spotify 规则 1 - beta/(G+1) 全部通过的概率至少为 ")
            + f"{overall:.4f}"))
    if d.sequential != "none" and uses_t(problem.metric):
        notes.append(t("group-sequential boundaries use the normal approximation",
                       "成组序贯检验边界使用正态近似"))
    if d.treatment_ratio == "optimal":
        notes.append(t(
            "optimal ratio: Neyman allocation n_t/n_c = (sd_t/sd_c)/sqrt(m), minimising the "
            "total n for the variance of each treatment-vs-control difference",
            "最优比例：Neyman 分配 n_t/n_c = (sd_t/sd_c)/sqrt(m)，在每个实验组与对照组之差的"
            "方差给定时使总样本量最小"))
    return notes


def _peeking(problem: FixedDesign, ratio: float) -> tuple[float | None, list[str]]:
    """The false-positive rate of unadjusted looks, and the warning that says so."""
    d = problem.design
    if d.looks <= 1:
        return None, []
    alpha = problem.alpha_per_comparison(ratio)
    rate = naive_peeking_false_positive_rate(d.looks, alpha, d.sides)
    advice = d.sequential == "none"
    return rate, [t(
        f"peeking at {d.looks} equally spaced looks with an unadjusted test at "
        f"alpha {alpha:.3g} gives a false-positive rate of {rate:.3f} (Armitage et al. 1969)"
        + ("; use --sequential" if advice else ""),
        f"在 {d.looks} 次等间隔查看时用未校正的检验（α = {alpha:.3g}）偷看结果，假阳性率为 "
        f"{rate:.3f}（Armitage 等，1969）" + ("；请用 --sequential 序贯检验" if advice else ""))]


def _absolute_mde_warning(metric: ProportionMetric, delta: float) -> list[str]:
    """--mde 0.5 on a 0.05 rate is a +1000% lift: the user most likely forgot --relative."""
    p = metric.baseline
    if abs(delta) < p:
        return []
    points, lift, meant = f"{delta * 100:g}", f"{delta / p:+.0%}", f"{p * (1 + delta):g}"
    return [t(f"MDE {delta:g} reads as an absolute difference of {points} percentage points "
              f"({p:g} -> {p + delta:g}, a {lift} lift); if you meant a {points}% relative "
              f"lift ({p:g} -> {meant}), add --relative",
              f"MDE {delta:g} 按绝对差读取，即 {points} 个百分点（{p:g} -> {p + delta:g}，相对提升 "
              f"{lift}）；若本意是相对提升 {points}%（{p:g} -> {meant}），请加 --relative")]


def _rate_warning(metric: ProportionMetric, delta: float, n_control: int,
                  n_treatment: int) -> list[str]:
    """The sizes come from the normal approximation, which wants n*p and n*(1-p) of at least
    10 in every arm; the warning names the smallest of the four."""
    cells = [(en, zh, n, label, q)
             for en, zh, n, rate in (("control", "对照组", n_control, metric.baseline),
                                     ("treatment", "实验组", n_treatment, metric.baseline + delta))
             for label, q in (("n*p", rate), ("n*(1-p)", 1 - rate))]
    en, zh, n, label, q = min(cells, key=lambda cell: cell[2] * cell[4])
    if n * q >= 10:
        return []
    return [t(f"in the {en} arm {label} = {n:,} x {q:g} = {n * q:.3g}, under 10 (n*p and "
              "n*(1-p) of each arm should be at least 10): the normal approximation behind "
              "this answer is not trustworthy; plan an exact test (Fisher's) or a larger design",
              f"{zh}的 {label} = {n:,} x {q:g} = {n * q:.3g}，低于 10（每组的 n*p 与 n*(1-p) "
              "都应至少为 10）：此结果所依据的正态近似不可靠；请改用精确检验（Fisher 精确检验）"
              "或更大的样本设计")]


def _mean_warning(n_control: int, n_treatment: int) -> list[str]:
    """Under some 30 units per arm the central limit theorem cannot be leant on."""
    en, zh, n = min((("control", "对照组", n_control), ("treatment", "实验组", n_treatment)),
                    key=lambda arm: arm[2])
    if n >= 30:
        return []
    return [t(f"only {n:,} units in the {en} arm, under 30: the normal approximation behind "
              "this answer is not trustworthy unless the metric itself is normal; plan an exact "
              "(permutation) test or a larger design",
              f"{zh}只有 {n:,} 个样本，低于 30：除非指标本身服从正态分布，此结果所依据的正态近似"
              "不可靠；请改用精确检验（置换检验）或更大的样本设计")]


def _warnings(problem: FixedDesign, solved_for: str, relative: bool, delta: float,
              n_control: int, n_treatment: int) -> list[str]:
    """What makes the answer doubtful though its numbers are right: an MDE that reads as a
    typo, and sizes too small for the approximation the calculator uses."""
    metric = problem.metric
    if isinstance(metric, MeanMetric):
        return _mean_warning(n_control, n_treatment)
    if not isinstance(metric, ProportionMetric):
        return []
    typo = _absolute_mde_warning(metric, delta) if solved_for != "mde" and not relative else []
    return typo + _rate_warning(metric, delta, n_control, n_treatment)


def _units(n: float) -> int:
    return math.ceil(n - 1e-9)


def _lift_se(problem: FixedDesign, n_control: float, n_treatment: float,
             delta: float) -> float:
    """SE of the relative lift by the delta method at the solved size (its variance is the
    output teams ask for when they plan in percent)."""
    ratio = problem.ratio(delta)
    _, _, v1c, v1t = unit_variances(problem.metric, delta, ratio, problem.non_inferiority)
    baseline = metric_baseline(problem.metric)
    assert baseline
    variance = problem.variance_factor * (v1t / n_treatment
                                          + problem.lift_factor(delta) * v1c / n_control)
    return math.sqrt(variance) / abs(baseline)


def _nearest(n: float) -> int:
    """Evan Miller's calculator rounds n to the nearest unit rather than up."""
    return max(1, math.floor(n + 0.5))


def build_result(problem: FixedDesign, solved_for: str, sizing: Sizing, traffic: Traffic | None,
            days: float | None, relative: bool) -> PowerResult:
    """Round to whole units and clusters, add duration, guardrails, notes and warnings."""
    d, metric, delta = problem.design, problem.metric, sizing.delta
    ratio = problem.ratio(delta)
    n_treatment = sizing.n_control * ratio
    units = _nearest if getattr(metric, "variance", None) == "baseline" else _units
    n_control_units, n_treatment_units = units(sizing.n_control), units(n_treatment)
    n_total_units = n_control_units + d.comparisons * n_treatment_units
    overall = overall_power(sizing.per_test_power, d)
    clusters_control = clusters_treatment = None
    if d.cluster_size is not None:
        clusters_control = _units(sizing.n_control / d.cluster_size)
        clusters_treatment = _units(n_treatment / d.cluster_size)
    days_exact, days_round, power_rounded = _duration(problem, sizing, traffic, days,
                                                      n_total_units, solved_for)
    naive_fpr, warnings = _peeking(problem, ratio)
    baseline = metric_baseline(metric)
    return PowerResult(
        solved_for=solved_for,  # type: ignore[arg-type]
        metric=metric_kind(metric),
        variance_formula=variance_formula(metric),
        test="t" if uses_t(metric) else "z",
        alpha=d.alpha,
        sides=d.sides,
        arms=d.arms,
        correction=d.correction,
        alpha_per_comparison=problem.alpha_per_comparison(ratio),
        critical_value=problem.critical_value(ratio, None),
        power=overall,
        power_per_test=sizing.per_test_power,
        guardrails=d.guardrails,
        guardrail_power=d.guardrail_power,
        lift_test=d.lift_test,
        lift_se=_lift_se(problem, sizing.n_control, n_treatment, delta) if d.lift_test else None,
        mde_absolute=delta,
        mde_relative=delta / abs(baseline) if baseline not in (None, 0) else None,
        mde_input_scale="relative" if relative else "absolute",
        baseline=baseline,
        treatment_value=baseline + delta if baseline is not None else None,
        non_inferiority_margin=d.non_inferiority_margin,
        treatment_ratio=ratio,
        n_control=sizing.n_control,
        n_treatment=n_treatment,
        n_control_units=n_control_units,
        n_treatment_units=n_treatment_units,
        n_total_units=n_total_units,
        n_fixed_control=sizing.n_fixed,
        cuped_variance_factor=cuped_variance_factor(d.cuped_r),
        design_effect=design_effect(d.icc, d.cluster_size, d.cluster_cv),
        clusters_control=clusters_control,
        clusters_treatment=clusters_treatment,
        days=days_exact,
        days_rounded=days_round,
        power_at_rounded_days=power_rounded,
        sequential=sizing.sequential,
        naive_peeking_false_positive_rate=naive_fpr,
        notes=tuple(_notes(problem, sizing, overall)),
        warnings=(*warnings, *_warnings(problem, solved_for, relative, delta,
                                        n_control_units, n_treatment_units)),
    )

"""A/B power calculator: sample size, power, MDE or duration for one planned experiment.

Everything is a normal (or noncentral-t) approximation to a two-group comparison of a
treatment arm against a control arm, scaled by the design choices:

* metric variance (`metrics`): proportions (pooled / unpooled / arcsine), means (z or t), ratio
  metrics (delta method) and counts (Poisson / negative binomial);
* multiplicity (`multiplicity`): Bonferroni, Holm (first step), Sidak or Dunnett critical values;
* variance reduction and inflation (`design`): CUPED factor ``1 - r^2``, cluster design effect;
* guardrails: power split multiplicatively over the primary and ``k`` guardrail tests;
* group-sequential designs (`sequential`): maximum n = fixed-design n x inflation factor;
* duration (`duration`): users enrolled per day, new or saturating.

scipy supplies the distributions (normal, t, noncentral t, chi^2) and root finding. Baselines,
variances and traffic are plain arguments so that another module can fill them in from a
simulation run (`run_inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from experiments.planning.design import (
    Design,
    per_test_power,
    validate_design,
)
from experiments.planning.duration import (
    Traffic,
    users_after,
    validate_traffic,
)
from experiments.planning.errors import PowerInputError
from experiments.planning.fixed import FixedDesign
from experiments.planning.metrics import (
    Metric,
    ProportionMetric,
    delta_range,
    metric_baseline,
    validate_metric,
)
from experiments.planning.multiplicity import marginal_critical
from experiments.planning.result import PowerResult, Sizing, build_result
from experiments.planning.sequential import (
    SequentialDesign,
    equally_spaced,
    group_sequential_boundaries,
    group_sequential_design,
    sequential_power,
)
from experiments.report.language import t


def _check_probability(name: str, value: float) -> None:
    if not 0 < value < 1:
        raise PowerInputError(name, f"must be in (0, 1), got {value:g}")


def _to_absolute(value: float, relative: bool, baseline: float | None, field_name: str) -> float:
    if not relative:
        return value
    if baseline is None or baseline == 0:
        raise PowerInputError(
            "baseline", f"a relative {field_name} needs a non-zero --baseline to scale by"
        )
    return value * abs(baseline)


def solve(
    metric: Metric,
    design: Design | None = None,
    *,
    n: float | None = None,
    power: float | None = None,
    mde: float | None = None,
    relative: bool = False,
    traffic: Traffic | None = None,
    days: float | None = None,
) -> PowerResult:
    """Solve for whichever of sample size (n or days), power and MDE is missing.

    ``n`` is the control-arm size (every arm when treatment_ratio is 1).  ``days`` with
    ``traffic`` fixes the total enrolled users instead.  ``mde`` is the treatment-minus-control
    difference (relative to the baseline when ``relative``); under non-inferiority it is the
    assumed true difference and the margin is tested.
    """
    design = design or Design()
    solved_for = _solved_for(metric, design, traffic, n, power, mde, days)
    problem = FixedDesign(metric, _with_absolute_margin(metric, design, relative))
    delta = _absolute_mde(problem, mde, relative) if mde is not None else None
    per_test_target = per_test_power(power, design) if power is not None else None
    size_of = _size_function(problem, n, days, traffic)
    if solved_for == "n":
        assert delta is not None and per_test_target is not None
        sizing = _size_for_power(problem, delta, per_test_target)
    elif solved_for == "mde":
        assert per_test_target is not None and size_of is not None
        sizing = _mde_for_power(problem, size_of, per_test_target)
    else:
        assert delta is not None and size_of is not None
        sizing = _power_for_size(problem, size_of, delta)
    return build_result(problem, solved_for, sizing, traffic, days, relative)


def _check_lift_test(metric: Metric, design: Design) -> None:
    """The relative-lift test divides by the control mean and works on the natural scale."""
    if not design.lift_test:
        return
    baseline = metric_baseline(metric)
    if not baseline:
        raise PowerInputError("lift-test", "needs a non-zero --baseline (the lift divides by it)")
    if design.non_inferiority_margin is not None:
        raise PowerInputError("lift-test", "not with --non-inferiority-margin; give the margin "
                              "--relative instead")
    if getattr(metric, "variance", None) == "arcsine":
        raise PowerInputError("lift-test", "not with --variance arcsine (Cohen's h is not a lift)")


def _solved_for(metric: Metric, design: Design, traffic: Traffic | None, n: float | None,
                power: float | None, mde: float | None, days: float | None) -> str:
    """Check every input; the one quantity left out (n, power or mde) is solved for."""
    validate_metric(metric)
    validate_design(design)
    _check_lift_test(metric, design)
    if traffic is not None:
        validate_traffic(traffic)
    if n is not None and days is not None:
        raise PowerInputError("days", "give either --n or --days, not both")
    if days is not None and traffic is None:
        raise PowerInputError("daily-traffic", "--days needs --daily-traffic to convert to users")
    given = (("n", n is not None or days is not None), ("power", power is not None),
             ("mde", mde is not None))
    missing = [name for name, is_given in given if not is_given]
    if len(missing) != 1:
        raise PowerInputError(
            "solve-for",
            "leave out exactly one of sample size (--n or --days), --power and --mde; "
            f"missing now: {', '.join(missing) or 'none'}",
        )
    if power is not None:
        _check_probability("power", power)
    if n is not None and not n > 0:
        raise PowerInputError("n", f"must be > 0, got {n:g}")
    if days is not None and not days > 0:
        raise PowerInputError("days", f"must be > 0, got {days:g}")
    return missing[0]


def _with_absolute_margin(metric: Metric, design: Design, relative: bool) -> Design:
    """The design with its non-inferiority margin in the metric's units."""
    margin = design.non_inferiority_margin
    if margin is not None and relative:
        margin = _to_absolute(margin, True, metric_baseline(metric), "non-inferiority margin")
        design = replace(design, non_inferiority_margin=margin)
    if (
        isinstance(metric, ProportionMetric)
        and margin is not None
        and (metric.variance != "unpooled")
    ):
        raise PowerInputError(
            "variance",
            "under a non-zero null margin only the unpooled (Wald) variance is defined; "
            "use --variance unpooled",
        )
    return design


def _absolute_mde(problem: FixedDesign, mde: float, relative: bool) -> float:
    """The MDE in the metric's units, checked against the metric's range and the margin."""
    baseline = metric_baseline(problem.metric)
    margin = problem.design.non_inferiority_margin
    delta = _to_absolute(mde, relative, baseline, "MDE")
    low, high = delta_range(problem.metric)
    if not low < delta < high:
        assert baseline is not None  # only bounded metrics have a finite range
        raise PowerInputError(
            "mde",
            f"baseline {baseline:g} + MDE {delta:g} = {baseline + delta:g} is outside "
            f"({baseline + low:g}, {baseline + high:g}); choose a smaller MDE",
        )
    if margin is None and delta == 0:
        raise PowerInputError("mde", "must be non-zero (the effect to detect)")
    if margin is not None and delta <= -margin:
        raise PowerInputError(
            "mde", f"the assumed true difference {delta:g} is not above -margin {-margin:g}"
        )
    return delta


def _size_function(problem: FixedDesign, n: float | None, days: float | None,
                   traffic: Traffic | None) -> Callable[[float], float] | None:
    """Control-arm n as a function of the effect (the allocation may depend on it): the given
    n, or the users `days` of traffic enrol, shared over the arms; None when n is solved."""
    if n is not None:
        n_given = float(n)
        return lambda _: n_given
    if days is None:
        return None
    assert traffic is not None
    total = users_after(days, traffic)
    comparisons = problem.design.comparisons
    return lambda delta: total / (1 + comparisons * problem.ratio(delta))


def _sequential(problem: FixedDesign, ratio: float, power: float) -> SequentialDesign | None:
    d = problem.design
    if d.sequential == "none":
        return None
    alpha = problem.alpha_per_comparison(ratio)
    return group_sequential_design(d.sequential, d.looks, alpha, d.sides, power)


def _size_for_power(problem: FixedDesign, delta: float, target: float) -> Sizing:
    """n for the target power per test: the fixed-design n times the sequential inflation."""
    n_fixed = problem.solve_n(delta, target)
    seq = _sequential(problem, problem.ratio(delta), target)
    n_control = n_fixed * (seq.inflation_factor if seq is not None else 1.0)
    if n_control > problem.design.max_n:
        raise PowerInputError(
            "mde", f"needs {n_control:,.0f} per arm, above --max-n {problem.design.max_n:g}"
        )
    return Sizing(delta, n_control, n_fixed, target, seq)


def _mde_for_power(problem: FixedDesign, size_of: Callable[[float], float],
                   target: float) -> Sizing:
    """The smallest effect the given size detects with the target power per test."""
    seq = _sequential(problem, problem.ratio(0.0), target)
    inflation = seq.inflation_factor if seq is not None else 1.0
    delta = problem.solve_delta(lambda d: size_of(d) / inflation, target)
    n_control = size_of(delta)
    return Sizing(delta, n_control, n_control / inflation, target, seq)


def _power_for_size(problem: FixedDesign, size_of: Callable[[float], float],
                    delta: float) -> Sizing:
    """Power per test of the given size; a sequential design integrates over its boundaries."""
    from scipy import stats  # here: scipy.stats is half a second of import
    n_control = size_of(delta)
    if n_control < problem.minimum_n(delta):
        raise PowerInputError("n", f"too small for a t test ({n_control:g} per arm)")
    fixed_power = problem.power(n_control, delta)
    d = problem.design
    if d.sequential == "none":
        return Sizing(delta, n_control, n_control, fixed_power)
    alpha_c = problem.alpha_per_comparison(problem.ratio(delta))
    drift = marginal_critical(alpha_c, d.sides, None) + stats.norm.ppf(fixed_power)
    fractions = equally_spaced(d.looks)
    upper = group_sequential_boundaries(d.sequential, d.looks, alpha_c, d.sides, fractions)
    per_test_power = sequential_power(upper, fractions, drift, d.sides, d.strict)
    seq = group_sequential_design(d.sequential, d.looks, alpha_c, d.sides, per_test_power)
    note = t("sequential power: fixed-design power at n_max converted to the drift "
             "z_(1-alpha) + z_power, then integrated over the boundaries",
             "序贯检验功效：n_max 处的固定样本功效换算为漂移 z_(1-alpha) + z_power，"
             "再在各次查看的边界上积分")
    return Sizing(delta, n_control, n_control / seq.inflation_factor, per_test_power, seq,
                   [note])



"""Reading a finished experiment, decision first: the sample-ratio check before any effect, each
treatment against the control on every primary metric (corrected for the family of primary
comparisons, and saying exactly how), guardrails that can veto, and one decision per arm."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from experiments.analysis.comparisons import (
    TestResult,
    cuped_ztest,
    ratio_ztest,
    two_proportion_ztest,
    welch_ttest,
)
from experiments.analysis.confidence_sequences import always_valid
from experiments.analysis.decisions import SrmResult, adjust_p_values, srm_check
from experiments.analysis.plan import Plan
from experiments.analysis.statistics import (
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
)
from experiments.analysis.units import ArmData, MetricSpec, Statistic
from experiments.report.language import t
from experiments.runs.outputs import json_safe
from sim.errors import InputError, Problem

DUNNETT_SEED = 20231  # scipy.stats.dunnett's integration points: a fixed seed, not a tuned one


@dataclass(frozen=True)
class Comparison:
    arm: str
    metric: str
    role: str  # primary or guardrail
    method: str
    test: TestResult
    p_adjusted: float
    verdict: str  # better, worse or no difference (in the metric's good direction)


@dataclass
class Readout:
    source: str
    control: str
    arms: list[str]
    units: dict[str, int]
    srm: SrmResult
    plan: Plan
    corrections: list[str]
    comparisons: list[Comparison]
    decisions: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return json_safe(asdict(self))


def choose_control(arms: list[str], plan: Plan, source: str) -> str:
    if plan.control is not None:
        if plan.control not in arms:
            raise InputError([Problem(source, None, "arm", f"the control {plan.control!r} is not "
                                      f"an arm of the file; its arms are {', '.join(arms)}")])
        return plan.control
    if "control" in arms:
        return "control"
    raise InputError([Problem(source, None, "arm", f"which arm is the control? arms are "
                              f"{', '.join(arms)}; name it with --control")])


def check_srm(data: ArmData, control: str, plan: Plan) -> SrmResult:
    """Chi-square of the arm counts against the planned shares (equal shares by default)."""
    shares = plan.shares or {a: 1.0 for a in data.arms}
    if set(shares) != set(data.arms):
        named = [a for a in shares if a != "control" and not a.startswith("treatment ")]
        if named or len(shares) != len(data.arms):
            raise InputError([Problem(data.source, None, "arm", f"arms {', '.join(data.arms)} "
                                      f"do not match the plan's {', '.join(shares)}; fix the "
                                      "labels or give --shares")])
        treatments = [a for a in data.arms if a != control]  # a power plan names no arms
        plan_shares = list(shares.values())
        shares = {control: plan_shares[0], **dict(zip(treatments, plan_shares[1:], strict=True))}
    return srm_check([data.units[a] for a in data.arms], [shares[a] for a in data.arms])


def run_test(stat_c: Statistic, stat_t: Statistic, alpha: float, sides: int) -> TestResult:
    if isinstance(stat_c, RatioStatistic):
        return ratio_ztest(stat_c, stat_t, alpha, sides)  # type: ignore[arg-type]
    if isinstance(stat_c, RegressionAdjustedStatistic):
        return cuped_ztest(stat_c, stat_t, alpha, sides)  # type: ignore[arg-type]
    if isinstance(stat_c, ProportionStatistic):
        return two_proportion_ztest(stat_c, stat_t, alpha, sides)  # type: ignore[arg-type]
    return welch_ttest(stat_c, stat_t, alpha, sides)  # type: ignore[arg-type]


def _verdict(test: TestResult, significant: bool, spec: MetricSpec) -> str:
    if not significant:
        return "no difference"
    up = test.absolute_effect > 0
    return "worse" if up == spec.lower_is_better else "better"


def _tested(data: ArmData, spec: MetricSpec, control: str, arm: str, alpha: float,
            sides: int, plan: Plan) -> TestResult:
    """The test at level `alpha`, made always valid when the plan peeks at will."""
    stat_c, stat_t = data.statistics[spec.name][control], data.statistics[spec.name][arm]
    try:
        test = run_test(stat_c, stat_t, alpha, sides)
    except ZeroDivisionError:
        test = None
    if test is None or not math.isfinite(test.se) or test.se == 0:
        raise InputError([Problem(data.source, None, spec.name, f"cannot compare {arm!r} with "
                                  f"{control!r}: the metric has no variance or no units in an "
                                  "arm (every value the same, or a denominator summing to 0)")])
    if plan.always_valid:
        n = data.units[control] + data.units[arm]
        test = always_valid(test, n, plan.planned_n or n, alpha)
    return test


def _significant(test: TestResult, p_adjusted: float, plan: Plan) -> bool:
    """Past the look's boundary when reading a planned look; else the adjusted p below α."""
    boundary = plan.boundary()
    if boundary is None:
        return p_adjusted < plan.alpha
    return abs(test.statistic) >= boundary if plan.sides == 2 else test.statistic >= boundary


def _peeking_words(plan: Plan) -> list[str]:
    """The line that says how looking early was paid for: always-valid intervals (随时有效)
    or the boundary of this group-sequential look (序贯检验)."""
    if plan.always_valid:
        planned = f"{plan.planned_n:,.0f}" if plan.planned_n else None
        return [t("always valid: intervals and p-values hold at every look at once (confidence "
                  "sequences, Waudby-Smith et al. 2023), tuned to "
                  + (f"{planned} planned units" if planned else "the units read now"),
                  "随时有效：区间与 p 值在每次查看时同时成立（置信序列，Waudby-Smith 等，"
                  "2023），按" + (f"计划的 {planned} 个单位" if planned else "当前读取的单位数")
                  + "调校")]
    if plan.look is not None:
        looks = len(plan.critical_values)
        return [t(f"group-sequential ({plan.sequential}): look {plan.look} of {looks}, "
                  f"boundary |z| >= {plan.boundary():.3f}",
                  f"成组序贯检验（{plan.sequential}）：第 {plan.look} 次查看（共 {looks} 次），"
                  f"边界 |z| >= {plan.boundary():.3f}")]
    return []


def read_experiment(data: ArmData, primary: list[MetricSpec], guardrails: list[MetricSpec],
                    plan: Plan) -> Readout:
    """SRM, the primary family (corrected), guardrails (each at α: a veto should be easy), and
    a decision per treatment arm."""
    if len(data.arms) < 2:
        raise InputError([Problem(data.source, None, "arm", f"only one arm ({data.arms[0]!r}); "
                                  "an experiment needs a control and at least one treatment")])
    control = choose_control(data.arms, plan, data.source)
    treatments = [a for a in data.arms if a != control]
    family = [(arm, spec) for spec in primary for arm in treatments]
    correction = plan.correction if len(family) > 1 else "none"
    if plan.look is not None and len(family) > 1:
        raise InputError([Problem("--look", None, "", "a group-sequential look reads one "
                                  "primary comparison (one treatment, one --metric)")])
    tested = {(arm, spec.name): _tested(data, spec, control, arm, plan.alpha, plan.sides, plan)
              for arm, spec in family}
    adjusted, corrections = _correct(data, tested, family, correction, plan, control)
    corrections += _peeking_words(plan)
    comparisons = [Comparison(arm, spec.name, "primary", data.kinds[spec.name],
                              tested[arm, spec.name], p,
                              _verdict(tested[arm, spec.name],
                                       _significant(tested[arm, spec.name], p, plan), spec))
                   for (arm, spec), p in zip(family, adjusted, strict=True)]
    for spec in guardrails:
        for arm in treatments:
            test = _tested(data, spec, control, arm, plan.alpha, 2, plan)
            comparisons.append(Comparison(arm, spec.name, "guardrail", data.kinds[spec.name],
                                          test, test.p_value,
                                          _verdict(test, test.p_value < plan.alpha, spec)))
    if guardrails:
        corrections.append(t(f"guardrails: each two-sided at alpha {plan.alpha:g}, not "
                             "corrected (a guardrail vetoes when it is significantly worse)",
                             f"护栏指标：各自双侧 α = {plan.alpha:g}，不校正（显著变差即否决）"))
    readout = Readout(data.source, control, data.arms, data.units,
                      check_srm(data, control, plan), plan, corrections, comparisons)
    readout.decisions = {arm: decide(readout, arm) for arm in treatments}
    return readout


def _correct(data: ArmData, tested: dict[tuple[str, str], TestResult],
             family: list[tuple[str, MetricSpec]], correction: str, plan: Plan,
             control: str) -> tuple[list[float], list[str]]:
    """Adjusted p-values of the primary family, the intervals at the matching level (in
    `tested`, replaced in place), and the words that say what was done."""
    m, alpha = len(family), plan.alpha
    raw = [tested[arm, spec.name].p_value for arm, spec in family]
    if correction == "none":
        return raw, [t(f"none: {m} primary comparison(s), each at alpha {alpha:g}",
                       f"无校正：{m} 个主要比较，各自在 α = {alpha:g}")]
    if correction == "dunnett":
        if plan.always_valid:
            raise InputError([Problem("--correction", None, "", "dunnett has no always-valid "
                                      "form here; use holm with --always-valid")])
        return _dunnett(data, tested, family, alpha, control)
    adjusted = list(adjust_p_values(raw, correction, alpha).adjusted)  # type: ignore[arg-type]
    level = {"bonferroni": alpha / m, "holm": alpha / m,
             "sidak": 1 - (1 - alpha) ** (1 / m)}.get(correction, alpha)
    for arm, spec in family:
        tested[arm, spec.name] = _tested(data, spec, control, arm, level, plan.sides, plan)
    ci_words = (t("intervals not adjusted (BH controls the false discovery rate, not the "
                  "intervals)", "区间未调整（BH 控制错误发现率，不控制区间）")
                if correction == "bh" else t(f"intervals at level {1 - level:.4g}",
                                             f"区间置信水平 {1 - level:.4g}"))
    return adjusted, [t(f"{correction}: p-values of {m} primary comparisons adjusted "
                        f"(statsmodels multipletests); {ci_words}",
                        f"{correction}：{m} 个主要比较的 p 值已校正（statsmodels "
                        f"multipletests）；{ci_words}")]


def _dunnett(data: ArmData, tested: dict[tuple[str, str], TestResult],
             family: list[tuple[str, MetricSpec]], alpha: float,
             control: str) -> tuple[list[float], list[str]]:
    """Dunnett's many-to-one test (scipy.stats.dunnett, pooled variance) per primary metric;
    needs per-user values of a mean or proportion metric. Its p-values and intervals are
    quasi-Monte Carlo integrals: seeded, so one file reads the same in any process."""
    from scipy import stats  # here: scipy.stats is half a second of import
    adjusted: dict[tuple[str, str], float] = {}
    for spec in dict.fromkeys(spec for _, spec in family):
        values = data.values.get(spec.name)
        if values is None:
            raise InputError([Problem("--correction", None, "", f"dunnett needs one value per "
                                      f"user of {spec.name!r} (not a ratio, CUPED, clusters or "
                                      "a statistics file); use holm")])
        arms = [arm for arm, s in family if s == spec]
        result = stats.dunnett(*(values[a] for a in arms), control=values[control],
                               rng=np.random.default_rng(DUNNETT_SEED))
        ci = result.confidence_interval(confidence_level=1 - alpha)
        for i, arm in enumerate(arms):
            test = tested[arm, spec.name]
            scale = (ci.high[i] - ci.low[i]) / 2 / test.se / stats.norm.ppf(1 - alpha / 2)
            rel_half = (test.relative_ci_upper - test.relative_ci_lower) / 2 * scale
            tested[arm, spec.name] = _with_interval(test, ci.low[i], ci.high[i], rel_half)
            adjusted[arm, spec.name] = float(result.pvalue[i])
    return ([adjusted[arm, spec.name] for arm, spec in family],
            [t(f"dunnett: {len(family)} primary comparisons against {control!r}, p-values "
               "and intervals from scipy.stats.dunnett (pooled variance)",
               f"dunnett：{len(family)} 个主要比较对照 {control!r}，p 值与区间来自 "
               "scipy.stats.dunnett（合并方差）")])


def _with_interval(test: TestResult, low: float, high: float, rel_half: float) -> TestResult:
    return replace(test, ci_lower=float(low), ci_upper=float(high),
                   relative_ci_lower=test.relative_effect - rel_half,
                   relative_ci_upper=test.relative_effect + rel_half)


def decide(readout: Readout, arm: str) -> str:
    """One sentence per treatment arm, in the order a team asks: can we trust the split, did
    anything get worse, did the primary metric get better."""
    if readout.srm.mismatch:
        return t(f"do not read: sample ratio mismatch (chi-square p = "
                 f"{readout.srm.p_value:.2g}); find why the arms' sizes differ from the plan "
                 "before trusting any effect",
                 f"不要解读：样本比例不匹配（卡方 p = {readout.srm.p_value:.2g}）；先查明各组人数"
                 "为何偏离计划，再看任何效果")
    mine = [c for c in readout.comparisons if c.arm == arm]
    vetoes = [c.metric for c in mine if c.role == "guardrail" and c.verdict == "worse"]
    if vetoes:
        return t(f"do not ship {arm}: guardrail {', '.join(vetoes)} got worse",
                 f"不上线 {arm}：护栏指标 {'、'.join(vetoes)} 变差")
    worse = [c.metric for c in mine if c.role == "primary" and c.verdict == "worse"]
    if worse:
        return t(f"do not ship {arm}: {', '.join(worse)} got worse",
                 f"不上线 {arm}：{'、'.join(worse)} 变差")
    better = [c for c in mine if c.role == "primary" and c.verdict == "better"]
    plan = readout.plan
    if plan.look is not None and not better and plan.look < len(plan.critical_values):
        return t(f"continue to look {plan.look + 1}: {arm} has not crossed the boundary "
                 f"(|z| >= {plan.boundary():.3f} at look {plan.look})",
                 f"继续到第 {plan.look + 1} 次查看：{arm} 未越过边界（第 {plan.look} 次查看需 "
                 f"|z| >= {plan.boundary():.3f}）")
    if better:
        lifts = ", ".join(f"{c.metric} {c.test.lift()}" for c in better)
        family = sum(c.role == "primary" for c in readout.comparisons)
        corrected = family > 1 and readout.plan.correction != "none"
        return t(f"ship {arm}: {lifts} (significant{' after correction' if corrected else ''}"
                 "), no guardrail worse",
                 f"上线 {arm}：{lifts}（{'校正后' if corrected else ''}显著），护栏指标无变差")
    return t(f"no detectable difference for {arm}: keep {readout.control}, or run longer if "
             "the interval still holds an effect worth having",
             f"{arm} 无可检测差异：保留 {readout.control}，若区间仍含值得争取的效果可延长实验")

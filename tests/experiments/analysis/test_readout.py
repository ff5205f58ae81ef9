"""Reading an experiment (`simctl analyze`): against statsmodels on the shared cases, coverage
of its intervals over simulated experiments whose effect theory knows, and the sample-ratio
check raised when the allocation was broken on purpose."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportions_ztest
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from experiments.analysis.plan import Plan
from experiments.analysis.readout import read_experiment
from experiments.analysis.simulated_units import simulated_units
from experiments.analysis.units import MetricSpec, load_arms
from sim.theory import purchase_moments
from tests.conftest import reference_dict, scenario_from
from tests.sim.test_arms import with_arms

Z = 4.0  # Monte Carlo tolerance in standard errors, as in the validation suite


def _read(tmp_path: Path, frame: pd.DataFrame, metrics: list[MetricSpec],
          plan: Plan | None = None, guardrails: list[MetricSpec] | None = None,
          cluster: str | None = None, name: str = "units.parquet"):
    path = tmp_path / name
    frame.to_parquet(path) if name.endswith(".parquet") else frame.to_csv(path, index=False)
    data = load_arms(path, metrics + (guardrails or []), cluster_column=cluster)
    return read_experiment(data, metrics, guardrails or [], plan or Plan())


def _frame(seed: int = 1, n: int = 4000, lift: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = rng.choice(["control", "treatment"], n)
    pre = rng.gamma(2.0, 10.0, n)
    gmv = 0.8 * pre + rng.gamma(2.0, 5.0, n) + lift * (arm == "treatment") * 10
    return pd.DataFrame({"arm": arm, "gmv": gmv, "pre_gmv": pre,
                         "converted": rng.random(n) < np.where(arm == "treatment", 0.12, 0.1),
                         "orders": rng.poisson(2.0, n) + 1,
                         "cluster": rng.integers(0, 300, n)}).astype({"converted": int})


def test_welch_and_proportions_match_statsmodels(tmp_path: Path) -> None:
    frame = _frame()
    reading = _read(tmp_path, frame, [MetricSpec("gmv"), MetricSpec("converted")],
                    Plan(correction="none"))
    welch, prop = reading.comparisons
    c, t = (frame[frame.arm == a] for a in ("control", "treatment"))
    means = CompareMeans(DescrStatsW(t.gmv), DescrStatsW(c.gmv))
    _, p, _ = means.ttest_ind(usevar="unequal")
    low, high = means.tconfint_diff(usevar="unequal")
    assert welch.test.p_value == pytest.approx(p, rel=1e-9)
    assert (welch.test.ci_lower, welch.test.ci_upper) == pytest.approx((low, high), rel=1e-9)
    z, p = proportions_ztest([t.converted.sum(), c.converted.sum()], [len(t), len(c)])
    assert (prop.test.statistic, prop.test.p_value) == pytest.approx((z, p), rel=1e-9)
    assert prop.method == "proportion"


def test_cuped_matches_regression_adjustment_and_saves_variance(tmp_path: Path) -> None:
    """CUPED with one pooled theta is the OLS effect of y ~ treated + pre up to the difference
    between a pooled and a within-arm slope (small next to the effect's standard error)."""
    frame = _frame()
    plain, = _read(tmp_path, frame, [MetricSpec("gmv")]).comparisons
    adjusted, = _read(tmp_path, frame, [MetricSpec("gmv", covariate="pre_gmv")]).comparisons
    treated = (frame.arm == "treatment").astype(float)
    ols = sm.OLS(frame.gmv, sm.add_constant(np.column_stack([treated, frame.pre_gmv]))).fit()
    assert abs(adjusted.test.absolute_effect - ols.params.iloc[1]) < 0.01 * ols.bse.iloc[1]
    assert adjusted.test.se == pytest.approx(ols.bse.iloc[1], rel=0.005)
    assert adjusted.test.se < 0.6 * plain.test.se and adjusted.method == "CUPED on pre_gmv"


def test_cluster_errors_match_statsmodels_cluster_robust(tmp_path: Path) -> None:
    """Arms assigned by cluster: the delta method over cluster totals is the sandwich (CR0)
    standard error of OLS with clustered errors, except that each arm's variance divides by
    G - 1 clusters where CR0 divides by G: exactly CR0 x sqrt(G / (G - 1)) with equal arms."""
    frame = _frame(n=6000)
    frame["arm"] = np.where(frame.cluster % 2 == 0, "control", "treatment")
    shock = np.random.default_rng(5).normal(0, 8, 300)[frame.cluster]
    frame["gmv"] = frame.gmv + shock
    reading, = _read(tmp_path, frame, [MetricSpec("gmv")], cluster="cluster").comparisons
    treated = (frame.arm == "treatment").astype(float)
    ols = sm.OLS(frame.gmv, sm.add_constant(treated)).fit(
        cov_type="cluster", cov_kwds={"groups": frame.cluster, "use_correction": False})
    assert reading.test.absolute_effect == pytest.approx(ols.params.iloc[1], rel=1e-9)
    per_arm = frame.groupby("arm")["cluster"].nunique()
    assert per_arm.nunique() == 1  # equal arms: one factor for both
    g = int(per_arm.iloc[0])
    assert reading.test.se == pytest.approx(ols.bse.iloc[1] * math.sqrt(g / (g - 1)), rel=1e-9)
    plain, = _read(tmp_path, frame, [MetricSpec("gmv")]).comparisons
    assert reading.test.se > 1.5 * plain.test.se  # ignoring the clusters would be overconfident


def test_three_arms_holm_and_dunnett(tmp_path: Path) -> None:
    frame = _frame(n=6000)
    frame["arm"] = np.random.default_rng(2).choice(["control", "a", "b"], len(frame))
    raw = _read(tmp_path, frame, [MetricSpec("gmv")], Plan(correction="none")).comparisons
    holm = _read(tmp_path, frame, [MetricSpec("gmv")], Plan(correction="holm"))
    expected = multipletests([c.test.p_value for c in raw], method="holm")[1]
    assert [c.p_adjusted for c in holm.comparisons] == pytest.approx(list(expected))
    assert holm.corrections[0].startswith("holm: p-values of 2 primary comparisons")
    widths = [c.test.ci_upper - c.test.ci_lower for c in holm.comparisons]
    assert all(w > r.test.ci_upper - r.test.ci_lower for w, r in zip(widths, raw, strict=True))
    dunnett = _read(tmp_path, frame, [MetricSpec("gmv")], Plan(correction="dunnett"))
    assert all(d.p_adjusted >= r.test.p_value for d, r in zip(dunnett.comparisons, raw,
                                                                strict=True))


def _known_effect_market(n: int, days: int, r_treatment: float):
    data = reference_dict(days=days, market={"size": n})
    data["mechanics"]["acquisition"].update(p=1.0, q=0.0)  # everyone joins on day 0
    return scenario_from(with_arms(data, {"mechanics.purchase.purchase_rate.r": r_treatment}))


@pytest.mark.parametrize("r_treatment", [1.0, 0.5])  # an effect, and an A/A test
def test_intervals_cover_the_known_effect_of_simulated_experiments(tmp_path: Path,
                                                                    r_treatment: float) -> None:
    """300 simulated experiments (3,000 users, 30 days): purchases per user have the closed
    form of `sim.theory.purchase_moments`, so the true effect is known. The 95% intervals of
    the absolute and relative effect must cover it 95% of the time within binomial error."""
    runs, n, days = 300, 3000, 30
    scenario = _known_effect_market(n, days, r_treatment)
    mean = {r: purchase_moments(r, 10.0, 1.0, 4.0, days).mean_purchases[-1]
            for r in (0.5, r_treatment)}
    truth, relative = mean[r_treatment] - mean[0.5], mean[r_treatment] / mean[0.5] - 1
    covered = relative_covered = 0
    for replicate in range(runs):
        units = simulated_units(scenario, replicate, ["purchases"])
        name = "units.csv" if replicate % 50 == 0 else "units.parquet"  # both readers
        test = _read(tmp_path, units, [MetricSpec("purchases")], name=name).comparisons[0].test
        covered += test.ci_lower <= truth <= test.ci_upper
        relative_covered += test.relative_ci_lower <= relative <= test.relative_ci_upper
    tolerance = Z * math.sqrt(0.95 * 0.05 / runs)
    print(f"coverage {covered / runs:.3f} relative {relative_covered / runs:.3f}")
    assert abs(covered / runs - 0.95) <= tolerance, covered
    assert abs(relative_covered / runs - 0.95) <= tolerance, relative_covered


def test_a_broken_allocation_raises_the_sample_ratio_mismatch(tmp_path: Path) -> None:
    """Lose 4% of the treatment's users (a crashing page, a bot filter on one arm): the SRM
    check fires and the decision says not to read the effects."""
    units = simulated_units(_known_effect_market(40_000, 10, 1.0), 0, ["purchases"])
    fine = _read(tmp_path, units, [MetricSpec("purchases")])
    assert not fine.srm.mismatch and fine.decisions["treatment"].startswith("ship")
    treated = np.flatnonzero(units.arm.to_numpy() == "treatment")
    lost = units.drop(index=treated[: len(treated) // 25])
    broken = _read(tmp_path, lost, [MetricSpec("purchases")])
    assert broken.srm.mismatch and broken.srm.p_value < 1e-3
    assert broken.decisions["treatment"].startswith("do not read: sample ratio mismatch")


def test_a_guardrail_vetoes_and_costs_read_lower_as_better(tmp_path: Path) -> None:
    frame = _frame()
    frame["refund_cost"] = np.where(frame.arm == "treatment", 2.0, 1.0) + \
        np.random.default_rng(3).normal(0, 0.5, len(frame))
    reading = _read(tmp_path, frame, [MetricSpec("gmv")], Plan(),
                    [MetricSpec("refund_cost", lower_is_better=True)])
    assert reading.comparisons[1].verdict == "worse"
    assert reading.decisions["treatment"] == "do not ship treatment: guardrail refund_cost " \
        "got worse"

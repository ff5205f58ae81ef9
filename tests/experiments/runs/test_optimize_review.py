"""What a review of `optimize` over choices and cohort metrics found: a value listed twice or a
fraction for a whole-number field, a mean over the replicates that happened to have a value,
and answers that gave the wrong reason for a metric with none."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from experiments.cli.answers import optimize_answer
from experiments.runs import point
from experiments.runs.design import build_design
from experiments.runs.executors import make_executor
from experiments.runs.produced import why_undefined
from sim.errors import InputError
from sim.scenario import load_scenario
from tests.conftest import ROOT
from tests.experiments.runs.test_sweep import REFERENCE, invoke

GROWTH = ROOT / "scenarios" / "growth.yaml"


@pytest.mark.parametrize("param, message", [
    ("mechanics.acquisition.p=0.01,0.01,0.02", "0.01 is given twice; list each value once"),
    ("mechanics.group_buy.group_size=2.4,3", "2.4 is not a whole number, and "
     "mechanics.group_buy.group_size takes whole numbers"),
])
def test_a_value_twice_or_a_fraction_of_a_whole_field_is_refused(param: str, message: str
                                                                  ) -> None:
    base = load_scenario(GROWTH, ["market.size=2000"])
    with pytest.raises(InputError) as caught:
        build_design(base, [param])
    assert str(caught.value.problems[0]) == f"--param {param}: {message}"
    build_design(base, ["mechanics.group_buy.group_size=2.0,3"])  # 2.0 is a whole number


def test_a_replicate_without_a_value_leaves_the_point_without_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Payback never reached in one replicate of three: the mean is not that of the two
    others (which would look better than the point is); a failed replicate is left out."""
    def fake(scenario: object, replicate: int) -> dict[str, float]:
        if replicate == 2:
            raise RuntimeError("a lost worker")
        return {"payback_days": float("nan") if replicate == 1 else 10.0, "gmv": 5.0 + replicate}

    monkeypatch.setattr(point, "horizon_metrics", fake)
    base = load_scenario(REFERENCE, ["market.size=2000"])
    values, errors = point.mean_metrics(make_executor("serial"), [base], 3,
                                        ["payback_days", "gmv"])
    assert np.isnan(values[0, 0]) and values[0, 1] == 5.5 and len(errors) == 1


def test_the_answers_give_each_metric_its_own_reason() -> None:
    assert "never reached CAC" in why_undefined("payback_days")[0]
    assert "CAC 0" in why_undefined("ltv_cac_30d")[0]
    assert "old enough" in why_undefined("conversion_7d")[0]
    assert "ROI without spend" in why_undefined("roi")[0]


def test_a_constraint_without_a_value_in_any_trial_is_said(tmp_path: Path) -> None:
    """Reference has no spend, so LTV/CAC has no value: not 'no trial met every constraint'."""
    done = invoke("optimize", REFERENCE, "market.size=2000", "days=40", "--maximize", "gmv",
                  "-p", "mechanics.acquisition.p=0.01..0.03", "--constraint",
                  "ltv_cac_30d>=1", "--trials", "2", "--batch", "2", "--out", str(tmp_path),
                  "--json")
    doc = json.loads(done.stdout)
    assert doc["undefined"] == {"ltv_cac_30d": 2} and doc["best_params"] is None
    assert "optimize: ltv_cac_30d has no value in any of the 2 trials (no acquisition spend " \
           "(CAC 0)" in done.stderr


def test_choices_are_shown_as_typed_and_bounds_to_four_digits() -> None:
    doc = {"best_params": {"a.p": 0.012345, "a.q": 0.296653, "a.on": True},
           "choices": ["a.p", "a.on"], "direction": "maximize", "objective": "gmv",
           "best_value": 10.0}
    table, _ = optimize_answer(doc, 1000)
    cells = [cell for column in table.columns for cell in column._cells]
    assert cells[-3:] == ["0.012345", "0.2967", "true"]  # the best column's last rows


def test_a_listed_number_in_e_notation_is_a_number() -> None:
    """Bounds and ranges took 1e-2; a list read it as the word '1e-2' (YAML 1.1 wants 1.0e-2)."""
    base = load_scenario(REFERENCE, ["market.size=2000"])
    design, _ = build_design(base, ["mechanics.acquisition.p=1e-2,0.02,5E-3"])
    assert design.params[0].values == (0.01, 0.02, 0.005)


def test_days_needed_is_the_first_horizon_with_a_mature_cohort_week() -> None:
    """The refusal before any trial and the tables' own rule cannot disagree."""
    from sim.metrics import COHORT_METRICS
    from sim.metrics.cohorts import _mature_weeks, cohort_window, days_needed

    windowed = [m for m in COHORT_METRICS if cohort_window(m) is not None]
    assert len(windowed) == 13  # conversion x2, LTV x6, LTV/CAC x3, K-factor x2
    for metric in windowed:
        days, k = days_needed(metric), cohort_window(metric)
        assert len(_mature_weeks(days, k)) == 1 and len(_mature_weeks(days - 1, k)) == 0


def _censored_below(threshold: float):
    """A stand-in for a run: payback never reached (NaN) where acquisition.p < threshold, else
    a payback that falls with p; gmv grows with p."""
    def fake(scenario, replicate: int) -> dict[str, float]:
        p = scenario.mechanics["acquisition"].p
        payback = float("nan") if p < threshold else 50.0 - 1000.0 * p
        return {"payback_days": payback, "gmv": 1000.0 * p}
    return fake


def test_a_payback_never_reached_is_told_as_the_horizon_not_failed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TPE skips FAILed trials, so minimising payback never learnt that 'never pays back' is
    the worst outcome: such a trial is now told the horizon (a lower bound above every value a
    run can give), while the table keeps NaN and it is never the best."""
    import optuna

    monkeypatch.setattr(point, "horizon_metrics", _censored_below(0.02))
    done = invoke("optimize", REFERENCE, "market.size=2000", "days=40", "--minimize",
                  "payback_days", "-p", "mechanics.acquisition.p=0.01..0.03", "--trials", "8",
                  "--batch", "4", "--out", str(tmp_path), "--json")
    doc = json.loads(done.stdout)
    run_dir = Path(doc["run_dir"])
    study = optuna.load_study(study_name=doc["scenario"],
                              storage=f"sqlite:///{run_dir / 'study.db'}")
    table = __import__("pandas").read_parquet(run_dir / "trials.parquet")
    censored = table["payback_days"].isna()
    assert censored.any() and (~censored).any()
    for trial in study.trials:
        assert trial.state == optuna.trial.TrialState.COMPLETE
        p = trial.params["mechanics.acquisition.p"]
        assert trial.value == (40.0 if p < 0.02 else pytest.approx(50.0 - 1000.0 * p))
    assert doc["best_params"]["mechanics.acquisition.p"] >= 0.02
    assert not table.loc[censored, "feasible"].any()


def test_a_censored_replicate_counts_as_the_horizon_in_what_the_sampler_is_told() -> None:
    from experiments.runs.optimize import _slack, _told, check_optimize

    base = load_scenario(REFERENCE, ["market.size=2000", "days=40"])
    request = check_optimize(base, ["mechanics.acquisition.p=0.01..0.03"], "gmv", True,
                             ["payback_days<=30"], 2, 2)
    values = np.array([[[5.0, 10.0], [7.0, np.nan], [9.0, np.nan]]])  # (point, replicate, metric)
    ran = np.array([[[True], [True], [False]]])  # the third replicate failed: left out
    assert _told(values, ran, request, [base]).tolist() == [[6.0, 25.0]]
    assert _slack(25.0, "<=", 30.0, censored=True) == 1.0  # a lower bound never meets <=
    assert _slack(25.0, "<=", 20.0, censored=True) == 5.0
    assert _slack(25.0, ">=", 20.0, censored=True) == -5.0  # above the horizon: above 20 too
    assert _slack(25.0, "<=", 30.0, censored=False) == -5.0


def test_the_optimize_and_sensitivity_headlines_follow_the_language(tmp_path: Path) -> None:
    done = invoke("--lang", "zh", "optimize", REFERENCE, "market.size=2000", "days=40",
                  "--maximize", "gmv", "-p", "mechanics.acquisition.p=0.01..0.03", "--trials",
                  "2", "--batch", "2", "--out", str(tmp_path))
    assert "2 次试验中最佳" in done.stderr and "best gmv" not in done.stderr
    done = invoke("--lang", "zh", "optimize", REFERENCE, "market.size=2000", "days=40",
                  "--maximize", "gmv", "-p", "mechanics.acquisition.p=0.01..0.03",
                  "--constraint", "ltv_cac_30d>=1", "--trials", "2", "--batch", "2", "--out",
                  str(tmp_path))
    assert "在全部 2 次试验中都没有值（没有获客花费" in done.stderr


def test_the_best_trial_shows_every_long_parameter_path_whole() -> None:
    """A column per parameter cut six long paths to 'mechanics.p…' even at 200 columns; a row
    per parameter keeps each whole at 80."""
    from rich.console import Console

    paths = [f"mechanics.purchase.order_value.setting_{i}" for i in range(7)]
    doc = {"best_params": {p: 0.5 for p in paths}, "choices": [], "direction": "maximize",
           "objective": "gmv", "best_value": 10.0}
    console = Console(width=80, record=True)
    console.print(optimize_answer(doc, 1000)[0])
    text = console.export_text()
    assert all(p in text for p in paths) and "…" not in text

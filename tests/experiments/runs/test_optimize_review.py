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
    assert cells[-3:] == ["0.012345", "0.2967", "true"]


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

"""The dashboard of several runs (issue 19): one short label per run, every headline metric's
difference from run #1 with a Welch interval equal to scipy's, and the report leaving out
charts that would be empty or flat, with a line saying which."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import sim
from experiments.report.dashboard import RunFolder, dashboard_html, label_runs, load_runs
from experiments.report.differences import (
    COMPARED,
    difference,
    paired_difference,
    run_differences,
)
from experiments.report.report import daily_section, drawn_metrics
from experiments.runs.outputs import write_run
from sim.metrics import HEADLINE
from tests.conftest import ROOT


def test_the_difference_and_its_interval_equal_scipys_welch_test() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(100, 5, 6), rng.normal(104, 9, 4)
    d = difference("gmv", pd.Series(a), pd.Series(b))
    ci = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.95)
    assert d.absolute == pytest.approx(b.mean() - a.mean(), rel=1e-12)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    assert d.relative == pytest.approx(b.mean() / a.mean() - 1, rel=1e-12)


def test_runs_that_share_their_seed_are_compared_replicate_by_replicate() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(100, 10, 5)
    b = a + rng.normal(3, 1, 5)  # common random numbers: the noise is shared
    d = paired_difference("gmv", pd.Series(a), pd.Series(b))
    ci = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
    welch = difference("gmv", pd.Series(a), pd.Series(b))
    assert d.high - d.low < 0.2 * (welch.high - welch.low)
    same = paired_difference("new_users", pd.Series(a), pd.Series(a))
    assert (same.absolute, same.low, same.high) == (0, 0, 0)


def test_one_replicate_gives_no_interval_and_no_verdict() -> None:
    d = difference("gmv", pd.Series([100.0]), pd.Series([120.0]))
    assert d.absolute == 20 and math.isnan(d.low) and d.verdict == ""


def test_the_verdict_follows_the_metrics_good_direction() -> None:
    up = difference("gmv", pd.Series([100.0, 101, 99]), pd.Series([200.0, 201, 199]))
    churn = difference("churned_users", pd.Series([100.0, 101, 99]), pd.Series([200.0, 201, 199]))
    assert up.verdict == "better" and churn.verdict == "worse"


def _folder(scenario: dict, values: dict[str, list[float]]) -> RunFolder:
    return RunFolder(Path(scenario["name"]), {}, scenario, pd.DataFrame(),
                     pd.DataFrame(values))


def test_labels_name_what_differs_in_one_short_line() -> None:
    base = {"name": "growth", "seed": 1, "market": {"size": 1000},
            "mechanics": {"gift": {"value": 10, "budget": 5}, "ads": {"budget": 5},
                          "referral": {"reward": 3, "share": 0.1}}}
    other = {"name": "growth", "seed": 2, "market": {"size": 2000},
             "mechanics": {"gift": {"value": 20, "budget": 6}, "ads": {"budget": 7},
                           "referral": {"reward": 4, "share": 0.1}}}
    runs = [_folder(base, {}), _folder(other, {})]
    label_runs(runs)
    assert runs[0].label == "#1 market.size=1000, seed=1, ads.budget=5 (+3)"
    assert runs[1].label == "#2 market.size=2000, seed=2, ads.budget=7 (+3)"


def test_every_headline_metric_is_compared() -> None:
    rng = np.random.default_rng(1)
    values = {m: rng.normal(10, 1, 3) for m in COMPARED}
    runs = [_folder({"name": "a", "seed": s}, values) for s in (1, 2, 3)]
    label_runs(runs)
    table = run_differences(runs)
    assert list(table) == ["#2 seed=2", "#3 seed=3"]
    assert [d.metric for d in table["#2 seed=2"]] == list(COMPARED)
    assert set(HEADLINE) <= set(COMPARED)


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[RunFolder]:
    root = tmp_path_factory.mktemp("diff")
    folders = []
    for gift in (10, 30):
        scenario = sim.load_scenario(ROOT / "scenarios" / "cold_start.yaml", [
            "market.size=2000", "days=60", "replicates=3", f"mechanics.gift.value={gift}",
            "mechanics.gift.first_order_lift=0"])  # no lift at any value: a pure cost
        folders.append(write_run(sim.run(scenario), root, 0.0))
    return load_runs(folders)


def test_the_dashboard_shows_the_differences_of_real_runs(two_runs: list[RunFolder]) -> None:
    page = dashboard_html(two_runs, lang="en")
    assert two_runs[1].label == "#2 gift.value=30"
    section = page[page.index('id="differences"'):page.index('id="health"')]
    shown = {m for m in COMPARED if f"data-metric='{m}'" in section}
    assert shown == set(COMPARED) & set(two_runs[0].horizon.columns)
    assert "data-metric='gmv'" in section
    (diffs,) = run_differences(two_runs).values()  # the same seed: paired, so a gift without
    users = next(d for d in diffs if d.metric == "new_users")  # lift leaves users exactly
    assert (users.absolute, users.low, users.high) == (0, 0, 0)  # as they were
    contribution = next(d for d in diffs if d.metric == "contribution")
    assert contribution.high < 0 and contribution.verdict == "worse"  # a costlier gift


def test_flat_and_empty_daily_series_are_named_not_drawn() -> None:
    frame = pd.DataFrame({"gmv": [1.0, 2.0, 3.0], "fill_rate": [math.nan] * 3,
                          "alive_users": [5.0, 5.0, 5.0]})
    drawn, left_out = drawn_metrics(frame, ["gmv", "fill_rate", "alive_users"])
    assert drawn == ["gmv"] and left_out == ["fill_rate", "alive_users"]


def test_the_daily_section_says_what_it_left_out() -> None:
    result = sim.run(sim.load_scenario(ROOT / "scenarios" / "cold_start.yaml",
                                       ["market.size=500", "days=20"]))
    text = daily_section(result)
    assert "Not drawn, the same every day (or never recorded)" in text


def test_a_metric_a_run_never_measured_has_no_difference_and_no_verdict() -> None:
    """A ratio with no denominator in any replicate (no buyer: no AOV) is NaN throughout; the
    comparison says nothing rather than failing (the dashboard of such runs crashed)."""
    never = pd.Series([math.nan, math.nan])
    for compare in (difference, paired_difference):
        d = compare("aov", never, pd.Series([40.0, 41.0]))
        assert d.metric == "aov" and d.verdict == ""
        assert all(math.isnan(getattr(d, f)) for f in ("baseline", "value", "absolute", "low",
                                                        "high", "relative", "relative_low",
                                                        "relative_high"))


def test_the_dashboard_of_tiny_runs_with_empty_ratios_renders(tmp_path: Path) -> None:
    """Two 30-day runs of 2,000 users, one and two replicates: AOV, CAC and the quick ratios
    are NaN in some; the page still shows every metric both runs have."""
    folders = [write_run(sim.run(sim.load_scenario(ROOT / "scenarios" / "cold_start.yaml", [
        "market.size=2000", "days=30", f"replicates={n}"])), tmp_path, 0.0) for n in (1, 2)]
    runs = load_runs(folders)
    assert runs[0].horizon["aov"].isna().all()  # the case this test is about
    page = dashboard_html(runs, lang="en")
    section = page[page.index('id="differences"'):page.index('id="health"')]
    assert "data-metric='aov'" in section and "data-metric='gmv'" in section

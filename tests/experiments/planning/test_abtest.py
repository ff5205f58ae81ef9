"""In-market A/B simulation: A/A tests reject at alpha, simulated power matches the analytic
power without interference, user-level randomisation of a referral reward is biased and cluster
randomisation reduces the bias; units, start day and eligibility do what they say.

Tolerances are Monte Carlo standard errors: a rate p over R replicates has SE sqrt(p(1-p)/R)
and we allow Z = 4 of them (a false alarm about once in 16,000 runs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.planning.ab_summary import recommend, summarise
from experiments.planning.abtest import check_ab, simulate_ab
from experiments.runs.executors import make_executor
from sim.arms import assign_arms, draw_labels, ego_clusters
from sim.engine import run
from sim.errors import InputError
from sim.graph_cache import build_graph
from sim.rng import stream
from sim.scenario import load_scenario
from tests.conftest import ROOT, reference_dict, scenario_from

Z = 4.0
ALPHA = 0.05


def no_interference(size: int, days: int, treatment: dict[str, float]) -> dict:
    """Users join independently (q = 0) and buy on their own: no user affects another."""
    data = reference_dict(days=days, market={"size": size}, seed=5)
    data["mechanics"]["acquisition"].update(p=0.05, q=0.0)
    data["experiment"] = {"primary_metric": "purchases", "arms": [
        {"name": "control", "share": 0.5},
        {"name": "treatment", "share": 0.5, "set": treatment}]}
    return data


def referral(**overrides: object) -> object:
    extra = [f"{k}={v}" for k, v in overrides.items()]
    return load_scenario(ROOT / "scenarios" / "ab_referral.yaml", extra)


@pytest.mark.slow
def test_referral_reward_user_level_bias_reduced_by_clusters() -> None:
    """Referral reward 10 vs 20, primary metric new users per potential user: shares of treated
    users convert control users, so the user-level comparison under-estimates the
    all-treatment vs all-control effect; randomising whole circles keeps most shares in one
    arm. Bias SEs are over replicates of (estimate - true); the reduction must exceed 3
    combined SEs (one-sided, a false alarm 1 in 740)."""
    scenario = referral(**{"market.size": 50000, "mechanics.seed.count": 1500})
    with make_executor("processes:2") as executor:
        rows = simulate_ab(scenario, executor, units=["user", "cluster"], replicates=24)
    table = summarise(rows).query("metric == 'new_users'").set_index("unit")
    user, cluster = table.loc["user"], table.loc["cluster"]
    assert user["true_effect"] > 0
    assert user["bias"] < -Z * user["bias_se"]  # a measured (negative) bias
    gap = abs(user["bias"]) - abs(cluster["bias"])
    assert gap > 3 * math.hypot(user["bias_se"], cluster["bias_se"]), table[["bias", "bias_se"]]


def test_cluster_assignment_puts_whole_communities_in_one_arm() -> None:
    scenario = referral(**{"market.size": 20000, "experiment.unit": "cluster"})
    graph = build_graph(scenario, 3)
    arm, unit = assign_arms(scenario, 3, graph)
    assert np.array_equal(unit, graph.community)
    per_community = np.bincount(graph.community, weights=arm) / np.bincount(graph.community)
    assert set(np.unique(per_community)) <= {0.0, 1.0}
    communities = per_community.size
    treated = per_community.sum()  # communities drawn Bernoulli(1/2)
    assert abs(treated - communities / 2) < Z * math.sqrt(communities / 4)


def test_ego_clusters_are_egos_with_all_friends_and_do_not_overlap() -> None:
    scenario = referral(**{"market.size": 20000, "experiment.unit": "ego"})
    graph = build_graph(scenario, 0)
    cluster = ego_clusters(graph, 0.05, stream(scenario.seed, 0, "ego"))
    egos = np.unique(cluster[cluster >= 0])
    assert len(egos) > 50
    for ego in egos[:200]:
        members = np.flatnonzero(cluster == ego)
        friends = graph.indices[graph.indptr[ego]:graph.indptr[ego + 1]]
        assert set(members) == {ego, *friends.tolist()}  # exactly the ego and all its friends
    arm, unit = assign_arms(scenario, 0, graph)
    inside = cluster >= 0
    per = np.bincount(cluster[inside], weights=arm[inside], minlength=20000)
    size = np.bincount(cluster[inside], minlength=20000)
    assert set(np.unique(per[size > 0] / size[size > 0])) <= {0.0, 1.0}
    assert len(np.unique(unit)) == len(egos) + int((~inside).sum())


def test_user_unit_assignment_is_unchanged() -> None:
    scenario = referral(**{"market.size": 5000})
    arm, unit = assign_arms(scenario, 2, build_graph(scenario, 2))
    assert unit is None
    assert np.array_equal(arm, draw_labels("arms", [0.5, 0.5], 5000, scenario.seed, 2))


def test_arms_apply_from_the_start_day() -> None:
    """Control never acquires (p = 0), the treatment acquires everyone (p = 1) from day 5:
    before the start day the treatment runs with the control's values."""
    data = reference_dict(days=8, market={"size": 2000})
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": 0.0, "q": 0.0}}
    data["experiment"] = {"start_day": 5, "arms": [
        {"name": "control", "share": 0.5},
        {"name": "treatment", "share": 0.5, "set": {"mechanics.acquisition.p": 1.0}}]}
    frame = run(scenario_from(data)).arm_metrics
    treated = frame.query("arm == 'treatment'")["new_users"].to_numpy()
    assert treated[:5].sum() == 0 and treated[5] > 0
    assert frame.query("arm == 'control'")["new_users"].sum() == 0


def test_partial_enrolment_leaves_out_whole_units_and_a_launch_reaches_them() -> None:
    """enrolment 0.3: 70% of the communities (cluster) or users are `not_sampled`, with the
    control's values in the test; control never acquires (p = 0) and the treatment acquires
    everyone (p = 1) from day 2, so users left out join only in the treatment's launch."""
    data = reference_dict(days=4, market={"size": 6000})
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": 0.0, "q": 0.0}}
    data["experiment"] = {"start_day": 2, "enrolment": 0.3, "arms": [
        {"name": "control", "share": 0.5},
        {"name": "treatment", "share": 0.5, "set": {"mechanics.acquisition.p": 1.0}}]}
    scenario = scenario_from(data)
    arm, _ = assign_arms(scenario, 0, None)
    outside = float((arm == 2).mean())
    assert abs(outside - 0.7) < Z * math.sqrt(0.21 / 6000)
    assert abs(float((arm == 1).mean()) - 0.15) < Z * math.sqrt(0.15 * 0.85 / 6000)
    mixed = run(scenario).arm_metrics.groupby("arm")["new_users"].sum()
    assert mixed["not_sampled"] == 0 and mixed["control"] == 0 and mixed["treatment"] > 0
    data["experiment"]["launch"] = "treatment"
    launched = run(scenario_from(data)).arm_metrics.groupby("arm")["new_users"].sum()
    assert launched["not_sampled"] == int((arm == 2).sum())  # everyone left out joins
    clusters = referral(**{"market.size": 20000, "experiment.unit": "cluster",
                           "experiment.enrolment": 0.3})
    graph = build_graph(clusters, 1)
    arm, _ = assign_arms(clusters, 1, graph)
    per_community = np.bincount(graph.community, weights=arm == 2) / np.bincount(
        graph.community)
    assert set(np.unique(per_community)) <= {0.0, 1.0}  # whole circles in or out


def test_new_users_eligibility_moves_earlier_users_out_of_the_test() -> None:
    """Everyone joins on day 0; with eligibility new_users and a start on day 3 nobody is
    eligible: from day 3 every user counts (and runs) under not_enrolled, with the control's
    values, and both arms are empty."""
    data = reference_dict(days=6, market={"size": 2000})
    data["mechanics"]["acquisition"].update(p=1.0, q=0.0)
    data["experiment"] = {"start_day": 3, "eligibility": "new_users", "arms": [
        {"name": "control", "share": 0.5},
        {"name": "treatment", "share": 0.5,
         "set": {"mechanics.purchase.order_value.scale": 500.0}}]}
    frame = run(scenario_from(data)).arm_metrics.set_index(["arm", "day"])
    assert frame.loc[("treatment", 2), "alive_users"] > 0
    assert frame.loc[("control", 2), "alive_users"] > 0
    for arm in ("control", "treatment"):
        assert frame.loc[(arm, 3), "alive_users"] == 0
        assert frame.loc[(arm, 3), "gmv"] == 0
    moved = frame.loc[("not_enrolled", 3), ["alive_users", "churned_users"]].sum()
    assert moved == frame.loc[("treatment", 2), "alive_users"] + frame.loc[("control", 2),
                                                                            "alive_users"]
    after = frame.xs("not_enrolled", level="arm").loc[3:]
    aov = after["gmv"].sum() / after["purchases"].sum()
    assert aov < 200  # the control's order values (Gamma(2, scale 50): mean 100), not 1,000


def test_bad_experiment_input_is_located() -> None:
    with pytest.raises(InputError) as caught:
        referral(**{"experiment.primary_metric": "purchase"})
    (problem,) = caught.value.problems
    assert problem.path == "experiment.primary_metric" and problem.line is None
    assert "unknown metric 'purchase'" in problem.message
    with pytest.raises(InputError) as caught:
        referral(**{"experiment.start_day": 60})
    assert str(caught.value.problems[0]).endswith(
        "experiment.start_day: day 60 is outside the horizon 0..59 "
        "(from override 'experiment.start_day=60')")
    with pytest.raises(InputError) as caught:
        referral(**{"experiment.duration_days": 57})
    assert caught.value.problems[0].path == "experiment.duration_days"
    with pytest.raises(InputError) as caught:  # a stock has no per-user total
        check_ab(referral(**{"experiment.primary_metric": "alive_users"}))
    assert "stock" in caught.value.problems[0].message
    text = (ROOT / "scenarios" / "ab_referral.yaml").read_text().replace(
        "guardrail_metrics: [purchases, referral_cost]", "guardrail_metrics: [gmvv]")
    from sim.scenario import parse_scenario

    with pytest.raises(InputError) as caught:
        parse_scenario(text, "ab.yaml")
    (problem,) = caught.value.problems
    assert str(problem).startswith("ab.yaml:")
    assert "experiment.guardrail_metrics.0: unknown metric 'gmvv'" in str(problem)


def test_recommendation_picks_the_cheapest_unbiased_powered_design() -> None:
    import pandas as pd

    common = {"size": 1000, "metric": "m", "users": 1000, "arm": "treatment",
              "replicates": 30, "bias": -0.05, "bias_se": 0.005}  # a bias 10 SE from 0
    table = pd.DataFrame([
        {**common, "design": 0, "unit": "user", "duration": 14, "power": 0.95,
         "relative_bias": -0.5, "mean_se": 1.0, "users_needed": 600.0},
        {**common, "design": 1, "unit": "cluster", "duration": 28, "power": 0.85,
         "relative_bias": -0.05, "mean_se": 1.5, "users_needed": 900.0},
        {**common, "design": 1, "unit": "cluster", "duration": 14, "power": 0.6,
         "relative_bias": -0.05, "mean_se": 2.0, "users_needed": 2000.0},
    ])
    best = recommend(table, "m", 0.8, 0.1)
    assert best["found"] and (best["unit"], best["duration"]) == ("cluster", 28)
    user, cluster = best["reasons"]
    assert user.startswith("user: bias -50%: it understates") and "interference" in user
    assert cluster.startswith("cluster: bias -5% (within ±10%); variance 2.2x user")
    assert "about 900 for 80%" in cluster
    none = recommend(table, "m", 0.99, 0.1)
    assert not none["found"] and "no design qualifies" in none["text"]
    from experiments.report.language import use

    zh = recommend(table, "m", 0.8, 0.1, lang="zh")  # in the words of a Chinese growth team
    assert zh["text"].startswith("按 cluster 随机分组，28 天，1,000 名用户")
    assert "低估了上线效应" in zh["reasons"][0] and "干扰" in zh["reasons"][0]
    assert "没有设计达标" in recommend(table, "m", 0.99, 0.1, lang="zh")["text"]
    with use("zh"):  # the advice is data (summary.json, --json): English under --lang zh
        assert recommend(table, "m", 0.8, 0.1) == best


def test_a_design_without_a_true_effect_is_not_said_to_have_a_nan_bias() -> None:
    """A true effect of 0 (no reward) leaves the relative bias undefined: the advice says so
    instead of 'bias +nan%'."""
    import pandas as pd

    table = pd.DataFrame([{"size": 1000, "metric": "m", "users": 1000, "arm": "treatment",
                           "design": 0, "unit": "user", "duration": 14, "power": 0.05,
                           "relative_bias": float("nan"), "mean_se": 1.0,
                           "users_needed": float("inf")}])
    none = recommend(table, "m", 0.8, 0.1)
    assert not none["found"] and "nan" not in none["text"]
    assert "no true effect to measure bias against" in none["text"]


def test_with_several_treatments_the_weakest_comparison_decides() -> None:
    import pandas as pd

    base = {"design": 0, "unit": "user", "size": 1000, "duration": 14, "metric": "m",
            "users": 1500, "mean_se": 1.0}
    table = pd.DataFrame([
        {**base, "arm": "a", "power": 0.95, "relative_bias": 0.02, "users_needed": 500.0},
        {**base, "arm": "b", "power": 0.7, "relative_bias": -0.04, "users_needed": 2500.0},
    ])
    advice = recommend(table, "m", 0.8, 0.1)
    assert not advice["found"] and "power 0.70 < 0.8" in advice["text"]
    assert "about 2,500 enrolled users would reach the power" in advice["text"]
    assert recommend(table, "m", 0.7, 0.1)["found"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 3000), max_size=400), st.sampled_from([np.int32, np.int64]))
def test_dense_unit_labels_are_uniques_inverse(ids: list[int], dtype: type) -> None:
    """Unit totals are summed by each unit's rank among the distinct ids: the presence table
    gives np.unique's inverse exactly (also on the fallback: negative or sparse ids)."""
    from experiments.planning.ab_reading import dense_labels

    for unit in (np.array(ids, dtype=dtype), np.array(ids, dtype=dtype) - 5,
                 np.array(ids, dtype=np.int64) * 10**6):
        assert np.array_equal(dense_labels(unit), np.unique(unit, return_inverse=True)[1])

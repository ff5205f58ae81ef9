"""The friendship graph (generated and loaded) and the referral reward paths."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.engine import simulate
from sim.errors import InputError
from sim.events import event_table
from sim.graph import CommunityGraphParams, community_graph
from sim.graph_cache import build_graph
from sim.scenario import parse_scenario, validate_scenario

Z = 4.0


def test_community_graph_is_symmetric_heavy_tailed_and_clustered() -> None:
    n = 50_000
    g = community_graph(n, CommunityGraphParams(mean_degree=12, mixing=0.1),
                        np.random.default_rng(3))
    rows = np.repeat(np.arange(n), g.degree)
    pairs = set(zip(rows.tolist(), g.indices.tolist(), strict=True))
    assert all((b, a) in pairs for a, b in list(pairs)[:5000])  # every tie both ways
    assert not (rows == g.indices).any()  # no self-ties
    inside = (g.community[rows] == g.community[g.indices]).mean()
    assert 0.85 < inside < 0.95  # mixing 0.1: about 90% of ties stay in the circle
    assert g.degree.max() > 10 * g.degree.mean()  # a heavy tail (Pareto weights)
    assert 8 < g.degree.mean() < 12  # repeated ties merge, so a little under the 12 drawn


def graph_scenario(tmp_path: Path, edges: str, communities: str | None = None) -> str:
    (tmp_path / "edges.csv").write_text(edges)
    extra = ""
    if communities is not None:
        (tmp_path / "communities.csv").write_text(communities)
        extra = "\n    communities_path: communities.csv"
    return f"""\
name: g
days: 5
market:
  size: 4
  graph:
    model: edge_list
    path: edges.csv{extra}
mechanics:
  seed:
    type: seed_users
    count: 1
  referral:
    type: referral
    share_on_join: 1.0
"""


def load(tmp_path: Path, text: str):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    return parse_scenario(text, str(path))


def test_edge_list_is_loaded_with_components_as_communities(tmp_path: Path) -> None:
    scenario = load(tmp_path, graph_scenario(tmp_path, "source,target\n0,1\n1,2\n"))
    g = build_graph(scenario, 0)
    assert g.degree.tolist() == [1, 2, 1, 0]
    assert g.community[0] == g.community[1] == g.community[2] != g.community[3]


def test_edge_list_with_given_communities(tmp_path: Path) -> None:
    text = graph_scenario(tmp_path, "source,target\n0,1\n2,3\n",
                          "user,community\n0,7\n1,7\n2,9\n3,9\n")
    g = build_graph(load(tmp_path, text), 0)
    assert g.community.tolist() == [7, 7, 9, 9]


@pytest.mark.parametrize(("edges", "fragment"), [
    ("source,target\n0,1\n1,9\n", "edges.csv:3: source/target: row numbers must be in 0..3"),
    ("src,dst\n0,1\n", "edges.csv:1: source, target: missing column(s)"),
    ("source,target\n0,x\n", "edges.csv:2: target: expected a whole number"),
])
def test_bad_edge_lists_are_reported_by_row(tmp_path: Path, edges: str, fragment: str) -> None:
    """Validation reads the edge list, so the scenario line that names it comes first."""
    with pytest.raises(InputError) as caught:
        load(tmp_path, graph_scenario(tmp_path, edges))
    assert str(caught.value).startswith(f"{tmp_path / 's.yaml'}:7: market.graph.path: ")
    assert fragment in str(caught.value)


def test_referral_rewards_are_two_sided_paid_on_first_orders_and_capped() -> None:
    """Referees get reward_referee off their first order; the referrer is credited
    reward_referrer per referee's first order, at most reward_cap times; only used coupons
    reach the ledger."""
    data = {
        "name": "rewards", "days": 40, "seed": 9,
        "market": {"size": 20_000, "graph": {"model": "communities", "mean_degree": 20}},
        "mechanics": {
            "seed": {"type": "seed_users", "count": 2000},
            "purchase": {"type": "purchase_dropout",
                         "purchase_rate": {"r": 4.0, "alpha": 20.0},
                         "dropout": {"a": 1.0, "b": 1000.0},
                         "order_value": {"model": "gamma", "shape": 20.0, "scale": 5.0}},
            "referral": {"type": "referral", "reward_referrer": 7.0, "reward_referee": 4.0,
                         "share_after_order": 0.5, "invite_conversion": 0.5, "reward_cap": 2,
                         "redemption": 1.0},
        },
    }
    scenario = validate_scenario(data)
    from sim.planning import layout_of

    counters = simulate(scenario, log_events=True)
    events = event_table(counters, layout_of(scenario))
    granted = events[events.event == "reward_granted"]
    assert (granted.amount == 7.0).all()
    assert granted.groupby("user").size().max() <= 2  # the cap
    referred = events[(events.event == "acquired") & (events.channel == "referral")]
    first = events[events.event == "first_order"]
    paid = events[events.event == "referral_reward"]
    # every coupon credited (4 per referee who ordered, 7 per grant) is eventually spent or
    # still held; spent <= credited, and on a 100-yuan order nothing caps the coupon
    credited = 4.0 * referred.user.isin(first.user).sum() + granted.amount.sum()
    assert paid.amount.sum() <= 4.0 * len(referred) + granted.amount.sum() + 1e-6
    assert paid.amount.sum() >= 0.9 * credited
    assert (paid.amount > 0).all()
    referee_first = first[first.user.isin(referred.user)]
    assert len(granted) <= len(referee_first)  # one grant per referee's first order at most
    assert math.isclose(paid.amount.sum(), counters.amounts["referral_reward"].sum())
    pd.testing.assert_series_equal(
        events[events.event == "order"].groupby("day").amount.sum().reset_index(drop=True),
        pd.Series(counters.amounts["order"].sum(axis=1)[
            np.sort(events[events.event == "order"].day.unique())], name="amount"),
        check_exact=False, rtol=1e-12)


def test_the_graph_cache_shares_one_graph_per_key_and_keeps_its_bound() -> None:
    """Markets of one replicate (the A/B's three) share the graph; another replicate or size
    builds its own, and the cache never holds more than its capacity."""
    from sim.graph_cache import GraphCache

    scenario = parse_scenario("name: g\ndays: 5\nmarket:\n  size: 3000\nmechanics:\n"
                              "  seed:\n    type: seed_users\n    count: 30\n"
                              "  referral:\n    type: referral\n", "<test>")
    cache = GraphCache(capacity=1)
    first = cache.graph(scenario, 0)
    assert cache.graph(scenario, 0) is first and cache.built == 1
    other = cache.graph(scenario, 1)
    assert other is not first and cache.built == 2 and len(cache) == 1
    assert np.array_equal(cache.graph(scenario, 0).indices, first.indices)  # rebuilt alike
    with pytest.raises(ValueError):
        GraphCache(capacity=0)
    # a byte budget: earlier graphs stay while they fit it (a sweep worker keeps each
    # replicate's graph across points), and leave before a new one is built when they do not
    roomy = GraphCache(capacity=8, max_bytes=10 * first.indices.nbytes)
    kept = [roomy.graph(scenario, r) for r in range(3)]
    assert all(roomy.graph(scenario, r) is g for r, g in enumerate(kept)) and roomy.built == 3
    tight = GraphCache(capacity=8, max_bytes=first.indices.nbytes)
    for r in range(3):
        tight.graph(scenario, r)
    assert len(tight) == 1 and tight.built == 3

"""scenarios/scale.yaml does what its header promises, at a small size: the private-label line
sells only from its launch day, stock is conserved per SKU group, every order is attributed or
not (each model's credits sum to the same total), and the loop content -> live -> order ->
WeCom service carries users all the way round."""

from __future__ import annotations

import numpy as np
import pytest

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.scenario import Scenario, load_scenario
from tests.conftest import ROOT

USERS = 8000


@pytest.fixture(scope="module")
def scale() -> Scenario:
    s = USERS / 1_000_000
    return load_scenario(ROOT / "scenarios" / "scale.yaml", [
        f"market.size={USERS}", "days=200", f"mechanics.existing.count={int(0.4 * USERS)}",
        f"mechanics.ads.daily_budget={5000 * s:g}",
        f"mechanics.omni.touch_points.1.reach={5000 * s:g}",
        f"mechanics.omni.touch_points.3.reach={20000 * s:g}",
        *[f"mechanics.stock.initial_stock_by_group.{g}={round(n * s)}"
          for g, n in (("hero_rice", 6500), ("snacks", 5500), ("household", 6000),
                       ("own_brand", 2500))]])


def test_the_scenario_has_every_piece_the_stage_needs(scale: Scenario) -> None:
    m = scale.mechanics
    assert {p.type for p in m.values()} >= {
        "referral", "catalogue", "inventory", "touchpoints", "segments", "automations",
        "membership_tiers", "points", "paid_membership", "community", "recommendations"}
    roles = {g.name: (g.role, g.private_label) for g in m["shop"].sku_groups}
    assert {r for r, _ in roles.values()} == {"hero", "traffic", "regular"}
    assert roles["own_brand"][1] and m["shop"].expansions[0].shares == {"own_brand": 0.2}
    assert m["stock"].lead_time.distribution != "fixed" and m["stock"].stockout == "backorder"
    assert m["omni"].attribution == ["first_touch", "last_touch", "position_based"]
    audiences = {t.name: t.audience for t in m["omni"].touch_points}
    assert audiences["xiaohongshu"] == "potential" and audiences["wecom_service"] == "members"


def test_private_label_launch_stock_and_the_loop(scale: Scenario) -> None:
    counters = simulate(scale)
    x, d = counters.extras, daily_table(counters)
    launch = scale.mechanics["shop"].expansions[0].day
    own = [g.name for g in scale.mechanics["shop"].sku_groups].index("own_brand")
    demand = x["stock.demand"]
    assert demand[:launch, own].sum() == 0 and demand[launch:, own].sum() > 0
    # the launch stock waits on the shelf until day 120 (nothing sold, nothing reordered)
    assert (x["stock.on_hand"][:launch, own] == x["stock.on_hand"][0, own]).all()
    on_hand = x["stock.on_hand"]
    start = np.array([x["stock.on_hand"][0] + x["stock.shipped"][0] - x["stock.received"][0]])
    change = np.diff(np.vstack([start, on_hand]), axis=0)
    assert np.array_equal(change, x["stock.received"] - x["stock.shipped"])
    # every order is attributed or not, and each model shares out the same attributed total
    orders = x["omni.attributed_orders"]
    assert np.allclose(orders.sum(axis=1), orders.sum(axis=1)[0])
    assert np.isclose(orders[0].sum() + x["omni.unattributed"][0], d["order"].sum())
    # the loop: articles send readers to the live, live buyers reach WeCom service
    names = list(x["omni.touchpoint_names"])
    touched = x["omni.touchpoint_touched"].sum(axis=1)
    assert all(touched[names.index(n)] > 0 for n in names)
    last_touch = orders[1]
    assert last_touch[names.index("channels_live")] > 0
    assert last_touch[names.index("wecom_service")] > 0

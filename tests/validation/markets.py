"""Markets the validation suite simulates: every mechanic of the playbook at once."""

from __future__ import annotations

from typing import Any

import yaml

from sim.scenario import Scenario, validate_scenario
from tests.conftest import ROOT


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8"))


def everything_on(size: int = 6000, days: int = 70, seed: int = 3,
                  experiment: bool = True, funnel: bool = True) -> Scenario:
    """scale.yaml (stages 10 -> 100) plus the weekly live stream with live-only group buys
    (retention.yaml), group buys, bargains, distributors, KOL posts and the new-user gift
    (growth.yaml), and 新品内测 early access for community members, top tiers and repeat
    buyers, at a small size; with `experiment`, a referral-reward test of two arms
    from day 10, so every number can be read by arm too. Without `funnel`, visitors register
    at once, in the stage that brought them (referees in the virality stage)."""
    data = _load("scale")
    retention, growth = _load("retention"), _load("growth")
    m = data["mechanics"]
    m["live"], m["live_groups"] = retention["mechanics"]["live"], \
        retention["mechanics"]["live_groups"]
    for name in ("kol", "gift", "group_buy", "bargain", "distributors"):
        m[name] = growth["mechanics"][name]
    m["kol"]["posts"] = [{**post, "day": post["day"] % days} for post in m["kol"]["posts"]]
    m["existing"]["count"] = int(0.4 * size)
    m["referral"].update(share_after_order=0.3, share_on_join=0.2, invite_conversion=0.3)
    m["ads"]["daily_budget"] = 60
    m["early_access"] = {"type": "early_access", "first_drop_day": 5, "drop_every_days": 20,
                         "slots": size // 20, "min_orders": 2}
    m["shop"]["expansions"][0]["day"] = days // 3  # the private-label launch inside the horizon
    if not funnel:
        del m["funnel"]
    data.update(seed=seed, days=days, replicates=1)
    data["market"]["size"] = size
    if experiment:
        data["experiment"] = {"start_day": 10, "arms": [
            {"name": "control", "share": 0.5},
            {"name": "reward_20", "share": 0.5,
             "set": {"mechanics.referral.reward_referrer": 20,
                     "mechanics.referral.reward_referee": 20}}]}
    return validate_scenario(data, "<everything on>")

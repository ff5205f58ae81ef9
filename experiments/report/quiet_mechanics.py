"""Why a mechanic the scenario advertises stayed small: one sentence per mechanic whose headline
count is tiny, from its own settings, so that "0 distributors" or "0.2% of bargains completed"
reads as a consequence of the rules chosen rather than as a broken feature (issue 19).

Each rule names the metric that shows the mechanic working, the level below which it counts as
small, and the settings that decide it; the bargain rule also gives the chance the settings
imply: a starter with d friends, each helping with probability h, completes when at least m help,
P(Binomial(d, h) >= m).
"""

from __future__ import annotations

import html
import math
from typing import Any

from scipy import stats

from sim.scenario import Scenario

SMALL_SHARE = 0.01  # below 1% (of starts, of acquired users, of GMV) a mechanic reads as inert


def _share(x: float) -> str:
    """A small share readably: 0.22%, 0.004%, or about 1 in 290,000."""
    if x >= 0.001:
        return f"{x:.2%}"
    if x >= 1e-5:
        return f"{x:.3%}"
    return f"about 1 in {1 / x:,.0f}" if x > 0 else "0"


def _mechanic(scenario: Scenario, kind: str) -> Any:
    return next((m for m in scenario.mechanics.values() if m.type == kind), None)


def _mean(metrics: dict[str, Any], name: str) -> float:
    value = metrics.get(name, {}).get("mean")
    return float(value) if value is not None and math.isfinite(float(value)) else math.nan


def _bargain(scenario: Scenario, metrics: dict[str, Any]) -> str | None:
    spec = _mechanic(scenario, "bargain")
    rate = _mean(metrics, "bargain_completion_rate")
    if spec is None or not rate < SMALL_SHARE:
        return None
    mean_degree = getattr(scenario.market.graph, "mean_degree", None)
    chance = ""
    if mean_degree:
        degree = round(mean_degree)
        p = stats.binom.sf(spec.helpers_required - 1, degree, spec.help_prob)
        chance = (f"; a starter with the mean {degree} friends, each helping with probability "
                  f"{spec.help_prob:g}, reaches {spec.helpers_required} helpers with probability "
                  f"{_share(p)}")
    return (f"砍价 bargains: {_share(rate)} of {_mean(metrics, 'bargain_starts'):,.0f} started "
            f"were completed. Each needs {spec.helpers_required} helpers within "
            f"{spec.window_hours:g} h{chance}. Fewer helpers_required or a higher help_prob "
            "make it visible (the playbook has no sourced figure for either: "
            "domain-facts §2.3).")


def _distributors(scenario: Scenario, metrics: dict[str, Any]) -> str | None:
    spec = _mechanic(scenario, "distributors")
    sales, gmv = _mean(metrics, "distributor_sales"), _mean(metrics, "gmv")
    if spec is None or not (gmv > 0 and sales / gmv < SMALL_SHARE):
        return None
    both = "and" if spec.rule == "all" else "or"
    return (f"分销 distributors: {_mean(metrics, 'distributors'):,.0f} user(s) qualified and "
            f"their referees' sales are {_share(sales / gmv)} of GMV. Qualifying needs "
            f"{spec.min_spend:g} yuan of own orders {both} {spec.min_referrals} referrals, "
            "which few users reach when referral is rare; lower thresholds (or more "
            "referral) make it visible.")


def _referral(scenario: Scenario, metrics: dict[str, Any]) -> str | None:
    spec = _mechanic(scenario, "referral")
    share = _mean(metrics, "referral_share")
    if spec is None or not share < SMALL_SHARE:
        return None
    return (f"老带新 referral: {_share(share)} of acquired users came by a friend's invitation. A "
            f"buyer shares after {spec.share_after_order:.0%} of orders and a friend converts "
            f"with probability {spec.invite_conversion:g}; with the graph's friends that keeps "
            "the K-factor far below 1.")


RULES = (_referral, _bargain, _distributors)


def quiet_mechanics(scenario: Scenario, metrics: dict[str, Any]) -> list[str]:
    """One sentence for each advertised mechanic whose headline count stayed small."""
    return [line for rule in RULES if (line := rule(scenario, metrics))]


def quiet_section(scenario: Scenario, metrics: dict[str, Any]) -> str:
    lines = quiet_mechanics(scenario, metrics)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return ('<h2 id="quiet">Mechanics that stayed small (为什么没有起量)</h2>\n<p>The scenario '
            "runs these mechanics, but their settings keep them small in this market:</p>"
            f"<ul>{items}</ul>")

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

from experiments.report.language import t
from sim.scenario import Scenario
from sim.variants import variant_scenarios

SMALL_SHARE = 0.01  # below 1% (of starts, of acquired users, of GMV) a mechanic reads as inert


def _share(x: float) -> str:
    """A small share readably: 0.22%, 0.004%, or about 1 in 290,000."""
    if x >= 0.001:
        return f"{x:.2%}"
    if x >= 1e-5:
        return f"{x:.3%}"
    return t(f"about 1 in {1 / x:,.0f}", f"约 {1 / x:,.0f} 分之一") if x > 0 else "0"


def _mechanic(scenario: Scenario, kind: str) -> Any:
    return next((m for m in scenario.mechanics.values() if m.type == kind), None)


def _over_personas(scenario: Scenario, kind: str, field: str) -> float:
    """A mechanic's setting as the market has it: the personas' values weighted by their
    shares (growth.yaml sets share_after_order per persona: 9.6% on average, not the base
    7.7% the line used to quote)."""
    name = next(n for n, m in scenario.mechanics.items() if m.type == kind)
    shares = [q.share for q in scenario.market.personas] or [1.0]
    values = [float(getattr(v.mechanics[name], field))  # each persona's own scenario
              for v in variant_scenarios(scenario, with_arms=False)]
    return sum(q * v for q, v in zip(shares, values, strict=True)) / sum(shares)


def _mean(metrics: dict[str, Any], name: str) -> float:
    value = metrics.get(name, {}).get("mean")
    return float(value) if value is not None and math.isfinite(float(value)) else math.nan


def binomial_tail(n: int, p: float, m: int) -> float:
    """P(Binomial(n, p) >= m), summed term by term: n is a mean friend count (tens; at most
    500, the graph's limit, well inside floats), and the sum costs nothing where
    scipy.stats.binom.sf cost 0.65 s of import in every report with a quiet bargain. Tails
    below ~1e-190 may read 0 (the report then says 0)."""
    return math.fsum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(max(m, 0), n + 1))


def _bargain(scenario: Scenario, metrics: dict[str, Any]) -> str | None:
    spec = _mechanic(scenario, "bargain")
    rate = _mean(metrics, "bargain_completion_rate")
    if spec is None or not rate < SMALL_SHARE:
        return None
    mean_degree = getattr(scenario.market.graph, "mean_degree", None)
    chance = ""
    if mean_degree:
        degree = round(mean_degree)
        p = binomial_tail(degree, spec.help_prob, spec.helpers_required)
        chance = t(f"; a starter with the mean {degree} friends, each helping with probability "
                   f"{spec.help_prob:g}, reaches {spec.helpers_required} helpers with "
                   f"probability {_share(p)}",
                   f"；发起人有平均 {degree} 位好友，每人以 {spec.help_prob:g} 的概率帮砍，凑齐 "
                   f"{spec.helpers_required} 人的概率为 {_share(p)}")
        if rate > 2 * p:  # "1 in 220,942" beside 0.54% completed read as a contradiction
            chance += t(" (more were completed: the few starters with many more friends than "
                        "the mean carry them)",
                        "（实际砍成的更多：少数好友远多于平均的发起人撑起了它们）")
    started = _mean(metrics, 'bargain_starts')
    return t(f"砍价 bargains: {_share(rate)} of {started:,.0f} started were completed. Each "
             f"needs {spec.helpers_required} helpers within {spec.window_hours:g} h{chance}. "
             "Fewer helpers_required or a higher help_prob make it visible (the playbook has no "
             "sourced figure for either: domain-facts §2.3).",
             f"砍价：发起的 {started:,.0f} 次中 {_share(rate)} 砍成。每次需在 "
             f"{spec.window_hours:g} 小时内凑齐 {spec.helpers_required} 位帮砍好友{chance}。"
             "减少 helpers_required 或提高 help_prob 可让它起量（运营手册对两者都没有出处的"
             "数字：domain-facts §2.3）。")


def _distributors(scenario: Scenario, metrics: dict[str, Any]) -> str | None:
    spec = _mechanic(scenario, "distributors")
    sales, gmv = _mean(metrics, "distributor_sales"), _mean(metrics, "gmv")
    if spec is None or not (gmv > 0 and sales / gmv < SMALL_SHARE):
        return None
    both = t("and", "且") if spec.rule == "all" else t("or", "或")
    count, share = _mean(metrics, "distributors"), _share(sales / gmv)
    return t(f"分销 distributors: {count:,.0f} user(s) qualified and their referees' sales are "
             f"{share} of GMV. Qualifying needs {spec.min_spend:g} yuan of own orders {both} "
             f"{spec.min_referrals} referrals, which few users reach when referral is rare; "
             "lower thresholds (or more referral) make it visible.",
             f"分销：{count:,.0f} 位用户成为分销员，其下线销售额占 GMV 的 {share}。成为分销员需"
             f"自购 {spec.min_spend:g} 元{both}邀请 {spec.min_referrals} 人，老带新稀少时很少有人"
             "达到；降低门槛（或增加老带新）可让它起量。")


def _referral(scenario: Scenario, metrics: dict[str, Any]) -> str | None:
    spec = _mechanic(scenario, "referral")
    share = _mean(metrics, "referral_share")
    if spec is None or not share < SMALL_SHARE:
        return None
    shares = _over_personas(scenario, "referral", "share_after_order")
    converts = _over_personas(scenario, "referral", "invite_conversion")
    return t(f"老带新 referral: {_share(share)} of acquired users came by a friend's invitation. "
             f"A buyer shares after {shares:.1%} of orders and a friend converts with "
             f"probability {converts:.3g} (averaged over the personas); with the graph's "
             "friends that keeps the K-factor far below 1.",
             f"老带新：新用户中 {_share(share)} 来自好友邀请。买家在 {shares:.1%} 的订单后分享，"
             f"好友以 {converts:.3g} 的概率转化（按用户画像加权平均）；按社交图的好友数，"
             "裂变系数（K 值）远小于 1。")


RULES = (_referral, _bargain, _distributors)


def quiet_mechanics(scenario: Scenario, metrics: dict[str, Any]) -> list[str]:
    """One sentence for each advertised mechanic whose headline count stayed small."""
    return [line for rule in RULES if (line := rule(scenario, metrics))]


def quiet_section(scenario: Scenario, metrics: dict[str, Any]) -> str:
    lines = quiet_mechanics(scenario, metrics)
    if not lines:
        return ""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
    return (f'<h2 id="quiet">{t("Mechanics that stayed small", "为什么没有起量")}</h2>\n<p>'
            + t("The scenario runs these mechanics, but their settings keep them small in this "
                "market:", "场景运行了这些机制，但其设置让它们在这个市场中规模很小：")
            + f"</p><ul>{items}</ul>")

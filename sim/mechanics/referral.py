"""Referral (老带新): users share with friends; friends who join earn both sides a coupon.

Who shares: users who just ordered (with `share_after_order`), new users once on joining
(`share_on_join`) and any alive user on a given day (`share_daily`), each times the pull of
the reward: 1 + sensitivity * R / (R + half) for the referrer reward R, times `delayed_factor`
when the reward is paid late (instant beats delayed), times `step_retention`^(share_steps - 1)
for the taps a share takes.
Reach: a share goes to Zipf(reach_exponent) friends (capped at `max_reach` and at the user's
friends; Zipf(2) gives 61% one friend, 33% 2-10, 6% more: Amplifinity's split), drawn along the
friendship graph, so shares reach friends only.
Conversion: a friend who is not yet a user visits with `invite_conversion` times the pull of
the referee reward and `step_retention`^(landing_steps - 1); visits register through the funnel
when there is one. Referred users remember their referrer and their depth in the referral tree.
Rewards follow WeChat's rule: paid for a friend's real action, never for the share itself. The
referee gets `reward_referee` off the first order; the referrer gets `reward_referrer` as a coupon
when the friend's first order is placed (at most `reward_cap` times; with `redemption` it will
be used, otherwise it breaks); coupons are redeemed on the next orders and booked as
`referral_reward` when used.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.compliance import finding, settings
from sim.errors import Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import ORDER, LedgerLine, Metric, col
from sim.population import Stage, add_count
from sim.sharing import share


class ReferralParams(MechanicParams):
    type: Literal["referral"] = "referral"
    fixed_fields = frozenset({  # one value for the whole market
        "delayed_factor", "reward_per_share", "share_steps", "step_retention"})
    reward_referrer: float = Field(10.0, ge=0.0, description="Yuan coupon for the referrer per "
                                   "friend's first order (ASSUMPTION 5-30).")
    reward_referee: float = Field(10.0, ge=0.0, description="Yuan off the friend's first order "
                                  "(two-sided, certain: Li et al. 2024).")
    reward_timing: Literal["instant", "delayed"] = Field(
        "instant", description="When the referrer's coupon is credited (instant beats delayed).")
    delayed_factor: float = Field(0.6, ge=0.0, le=1.0,
                                  description="Pull of a delayed reward relative to an instant "
                                  "one (ASSUMPTION).")
    reward_sensitivity: float = Field(1.0, ge=0.0, description="How much a reward can multiply "
                                      "the share propensity at most (1 = up to double).")
    reward_half: float = Field(10.0, gt=0.0, description="Reward (yuan) at half of that pull.")
    share_after_order: float = Field(0.077, ge=0.0, le=1.0,
                                     description="Share probability right after an order "
                                     "before reward pull (Extole retail share rate 7.7%).")
    share_on_join: float = Field(0.0, ge=0.0, le=1.0,
                                 description="Probability a new user shares once on joining.")
    share_daily: float = Field(0.0, ge=0.0, le=1.0,
                               description="Daily share probability of any alive user.")
    share_steps: int = Field(2, ge=1, le=10, description="Taps a share takes.")
    landing_steps: int = Field(1, ge=1, le=10, description="Taps from the card to the landing.")
    step_retention: float = Field(0.8, ge=0.0, le=1.0,
                                  description="Share of users who complete each extra step.")
    reach_exponent: float = Field(2.0, gt=1.0, description="Zipf exponent of friends per share.")
    max_reach: int = Field(50, ge=1, description="Most friends one share reaches.")
    invite_conversion: float = Field(0.162, ge=0.0, le=1.0,
                                     description="Share of invited non-users who visit before "
                                     "reward pull (Extole retail sign-up 16.2%).")
    referee_sensitivity: float = Field(1.0, ge=0.0,
                                       description="Most the referee reward multiplies it by.")
    reward_cap: int = Field(20, ge=0, description="Most rewarded referrals per referrer.")
    redemption: float = Field(0.9, ge=0.0, le=1.0,
                              description="Probability a held coupon is used on an order.")
    reward_per_share: float = Field(
        0.0, ge=0.0, description="Yuan for the act of sharing itself. WeChat bans it (诱导分享, "
        "WX-SHARE); kept so the compliance check can flag a plan that pays it.")
    channel: str = Field("referral", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel referred users are credited to.")


METRICS: tuple[Metric, ...] = (
    Metric("share_rewards", "yuan", "flow",
           "Rewards paid for the act of sharing (banned by WeChat; zero unless a plan pays them).",
           ORDER, compute=lambda c: col(c, "share_reward_amount"),
           zh="分享奖励（违规）", good="down",
           ledger=LedgerLine("relative", 190), acquisition=True),
    Metric("shares", "shares", "flow",
           "Shares of a referral card.",
           ("share",), compute=lambda c: c["share"], zh="分享次数"),
    Metric("invites", "invites", "flow",
           "Friends reached by shares.",
           ("invite",), compute=lambda c: c["invite"], zh="邀请触达"),
    Metric("referred_users", "users", "flow",
           "New users who joined through a referral.",
           ("referred_join",), compute=lambda c: c["referred_join"],
           zh="裂变新增用户", headline=True),
    Metric("referral_share", "share", "ratio",
           "Share of new users who came through a referral.",
           ("referred_join", "acquired"), numerator="referred_users", denominator="new_users",
           zh="裂变新增占比"),
    Metric("invite_conversion", "share", "ratio",
           "Referred users per invite.",
           ("referred_join", "invite"), numerator="referred_users", denominator="invites",
           zh="邀请转化率"),
)


# --- platform rules and law it must keep (sim/compliance.py runs them) ---------------------


def _share_reward(scenario: Any, name: str, params: Any) -> list[Problem]:
    """A reward for the act of sharing, not for a friend's real action, is induced sharing."""
    out = []
    for where, v, _ in settings(scenario, name, ("reward_per_share",)):
        if v["reward_per_share"] > 0:
            out.append(finding(
                scenario, where("reward_per_share"), "WX-SHARE",
                f"a reward of {v['reward_per_share']:g} yuan for sharing itself is induced "
                "sharing (诱导分享, operations spec §5.1); reward the friend's registration "
                "or first order instead",
                zh=f"为分享这一行为本身奖励 {v['reward_per_share']:g} 元属于诱导分享（《微信小程序"
                "平台运营规范》§5.1）；请改为在好友注册或下首单后再发奖励"))
    return out


class Referral(Mechanic[ReferralParams]):
    stage = StageOrder.VIRALITY
    metrics = METRICS
    compliance = (_share_reward,)
    emits = ("shared",)
    reads_if_any = ("ordered", "first_ordered")  # shares after orders, rewards on first ones
    needs_graph = True
    events = ("share", "invite", "referred_join", "referral_child", "reward_granted",
              "share_reward")

    @classmethod
    def channels(cls, params: ReferralParams) -> list[str]:
        return [params.channel]

    @classmethod
    def columns(cls, params: ReferralParams) -> dict[str, np.dtype]:
        return {"referrer": np.dtype(np.int32), "referral_depth": np.dtype(np.int16),
                "rewarded_referrals": np.dtype(np.int16), "coupon_balance": np.dtype(np.float32)}

    def setup(self) -> None:
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.pop["referrer"].fill(-1)

    def _pull(self, rows: np.ndarray, reward: str, sensitivity: str) -> np.ndarray:
        get = self.params.for_rows
        group = self.pop.group[rows]
        r = get(reward, group)
        return 1.0 + get(sensitivity, group) * r / (r + get("reward_half", group))

    def step(self, day: int) -> None:
        pop, rec, base = self.pop, self.ctx.recorder, self.params.base
        joined = pop.new_users(self.name)  # since yesterday's step: they share on joining
        self._welcome(day)
        sharers = self._sharers(joined, day)
        rec.event("share", day, sharers)
        self.publish("shared", sharers)  # e.g. points for sharing
        if base.reward_per_share > 0:
            rec.event("share_reward", day, sharers,
                      self.params.for_rows("reward_per_share", pop.group[sharers]))
        sharer, friend = share(self, sharers)
        rec.event("invite", day, sharer)
        potential = pop.stage[friend] == Stage.POTENTIAL
        sharer, friend = sharer[potential], friend[potential]
        landing = self.params.for_rows("step_retention", pop.group[friend]) ** (
            self.params.for_rows("landing_steps", pop.group[friend]) - 1)
        convert = self.params.for_rows("invite_conversion", pop.group[friend]) * landing \
            * self._pull(friend, "reward_referee", "referee_sensitivity")
        won = self.rng.random(len(friend)) < np.minimum(convert, 1.0)
        sharer, friend = sharer[won], friend[won]
        _, first = np.unique(friend, return_index=True)  # invited twice, visits once:
        first.sort()  # the first inviter is the referrer
        sharer, friend = sharer[first], friend[first]
        pop["referrer"][friend] = sharer
        pop["referral_depth"][friend] = self._depth(sharer) + 1
        self.bring(friend, day, self.channel)
        self._welcome(day)  # today's referees, on the day they join (not tomorrow)
        self._reward_referrers(day)

    def _welcome(self, day: int) -> None:
        """Referred users who joined since the last welcome (those brought this step, without a
        funnel; those the funnel registered today, with one): credit the referee coupon and
        count the referrer's child on the referee's join day (for K-factor and cycle time, by
        the referrer's cohort and age)."""
        pop, rec = self.pop, self.ctx.recorder
        joined = pop.new_users(f"{self.name}:welcome")
        referred = joined[(pop.channel[joined] == self.channel) & (pop["referrer"][joined] >= 0)]
        if not len(referred):
            return
        pop["coupon_balance"][referred] += self.params.for_rows("reward_referee",
                                                                pop.group[referred])
        rec.event("referred_join", day, referred)
        rec.event("referral_child", day, pop["referrer"][referred])

    def _sharers(self, joined: np.ndarray, day: int) -> np.ndarray:
        pop, base = self.pop, self.params.base
        timing = base.delayed_factor if base.reward_timing == "delayed" else 1.0
        friction = base.step_retention ** (base.share_steps - 1)
        candidates = [self.today("ordered")]
        chances = [self.params.for_rows("share_after_order", pop.group[candidates[0]])]
        if base.share_on_join > 0 or self.params.varies("share_on_join"):
            candidates.append(joined)
            chances.append(self.params.for_rows("share_on_join", pop.group[joined]))
        if base.share_daily > 0 or self.params.varies("share_daily"):
            daily = float(np.max(self.params.get("share_daily")))
            alive = int(pop.count(Stage.ALIVE).sum())
            picked = pop.draw_alive(int(self.rng.binomial(alive, daily)), self.rng)
            candidates.append(picked)
            chances.append(self.params.for_rows("share_daily", pop.group[picked]) / daily)
        rows = np.concatenate(candidates)
        chance = np.concatenate([np.broadcast_to(c, (len(r),)) for c, r in
                                 zip(chances, candidates, strict=True)])
        chance = chance * timing * friction * self._pull(rows, "reward_referrer",
                                                         "reward_sensitivity")
        if pop.supply is not None:  # stock-outs of what the sharer's persona wants dampen it
            chance = chance * pop.supply.share_factor(rows)
        rows = rows[(pop.stage[rows] == Stage.ALIVE)
                    & (self.rng.random(len(rows)) < np.minimum(chance, 1.0))]
        return pop.distinct(rows)

    def _reward_referrers(self, day: int) -> None:
        """A referred user's first order earns the referrer a coupon (up to the cap)."""
        pop, rec = self.pop, self.ctx.recorder
        first = self.today("first_ordered")
        parents = pop["referrer"][first]
        parents = parents[(parents >= 0) & (pop.channel[first] == self.channel)]
        if not len(parents):
            return
        # a referrer may earn several grants today: count them in order against the cap
        parents = np.sort(parents, kind="stable")
        starts = np.flatnonzero(np.r_[True, parents[1:] != parents[:-1]])
        rank = np.arange(len(parents)) - np.repeat(starts, np.diff(np.r_[starts, len(parents)]))
        cap = self.params.for_rows("reward_cap", pop.group[parents])
        parents = parents[pop["rewarded_referrals"][parents] + rank < cap]
        value = np.broadcast_to(self.params.for_rows("reward_referrer", pop.group[parents]),
                                parents.shape)
        add_count(pop["rewarded_referrals"], parents)
        rec.event("reward_granted", day, parents, value)
        used = self.rng.random(len(parents)) < self.params.for_rows("redemption",
                                                                    pop.group[parents])
        np.add.at(pop["coupon_balance"], parents[used], value[used].astype(np.float32))

    def _depth(self, rows: np.ndarray) -> np.ndarray:
        """Depth in the referral tree: 0 unless the user joined through a referral (an invited
        visitor who joined through another channel later is a root)."""
        referred = self.pop.channel[rows] == self.channel
        return np.where(referred, self.pop["referral_depth"][rows], 0).astype(np.int16)

    def finish(self) -> dict[str, np.ndarray]:
        """Referral-tree depth of every acquired user (0 = not referred)."""
        users = np.flatnonzero(self.pop.stage != Stage.POTENTIAL)
        return {"depth_histogram": np.bincount(self._depth(users)).astype(float)}

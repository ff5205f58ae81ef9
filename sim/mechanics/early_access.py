"""New-product early access (新品内测): community members and top tiers try new products first.

The playbook gives high-value users "VIP perks / early access" and community groups "early
product trials". Every `drop_every_days` days from `first_drop_day` a new product drops. Its
trial is offered to up to `slots` users (内测名额) drawn at random from the alive users who are
eligible: members of a community group (`community: true`, the community mechanic's
`community_group`), members at tier `min_tier` or above (the membership-tier mechanic's
`tier`), and buyers with at least `min_orders` orders (`min_orders`, the purchase mechanic's
count). A sampling source whose mechanic the scenario does not run adds nobody.

An invited user accepts with `accept_prob` and receives the sample at `sample_cost` yuan to
the shop (the ledger line `early_access_cost`). A first-time tester's daily repeat-purchase
probability is multiplied by (1 + `repurchase_lift`) for good (`sim.buying.rescale_buying`
redraws the pending checkout, exact because gaps are memoryless); testing again adds no
further lift. Word of mouth: a tester posts a review (晒单) with `review_prob`; a review is a
share along the friendship graph (`sim.sharing.share`, Zipf reach) and is published as
`shared` (points for sharing, where points run); a friend who is still a potential user joins
with `review_conversion`, through the channel `channel` (default `early_access`), so the
users it brings have their own CAC, LTV and retention by channel.

It runs in the virality stage, after referral: the day's orders count towards `min_orders`,
memberships and tiers are as the loyalty stage left them the day before, and review referees
join before the loyalty stage reads the day's new users (the validation suite's event-log
rebuild found a lifecycle count off by the referees when it ran in the loyalty stage).

Expected counts on a drop day with E eligible alive users: invites min(E, slots), testers
Binomial(invites, accept_prob), reviews Binomial(testers, review_prob).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from sim.buying import BUYING_COLUMNS, rescale_buying
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.population import Stage
from sim.sharing import share

GROUP = "新品内测 Early access"
TESTED = "ea_tested"  # column: 1 once a user has tested a product (the lift is given once)

METRICS = (
    Metric("early_access_invites", "users", "flow", "Users offered a new product's trial.",
           ("ea_invite",), compute=lambda c: c["ea_invite"], zh="新品内测邀请", group=GROUP),
    Metric("early_access_testers", "users", "flow", "Users who accepted and received a sample.",
           ("ea_tester",), compute=lambda c: c["ea_tester"], zh="新品内测用户", group=GROUP),
    Metric("early_access_acceptance", "share", "ratio", "Testers per invite.",
           ("ea_invite", "ea_tester"),
           numerator="early_access_testers", denominator="early_access_invites",
           zh="内测接受率", group=GROUP),
    Metric("early_access_reviews", "reviews", "flow",
           "Testers who posted a review (晒单), shared with their friends.",
           ("ea_review",), compute=lambda c: c["ea_review"], zh="内测晒单", group=GROUP),
    Metric("early_access_referred_users", "users", "flow",
           "Potential users who joined after a tester's review.",
           ("ea_review_join",), compute=lambda c: c["ea_review_join"], zh="晒单拉新",
           group=GROUP),
    Metric("early_access_cost", "yuan", "flow", "Samples sent to testers, at cost.",
           ("ea_tester",), compute=lambda c: col(c, "ea_tester_amount"), zh="内测样品成本",
           good="down", group=GROUP, ledger=LedgerLine("relative", 265)),
)


class EarlyAccessParams(MechanicParams):
    type: Literal["early_access"] = "early_access"
    # the drop calendar and who may be invited are the market's, not an arm's
    fixed_fields = frozenset({"first_drop_day", "drop_every_days", "slots", "min_tier",
                              "min_orders"})
    first_drop_day: int = Field(7, ge=0, description="Day of the first new-product drop.")
    drop_every_days: int = Field(30, ge=1, description="Days between drops (a monthly new "
                                 "product by default, ASSUMPTION).")
    slots: int = Field(2000, ge=0, description="Trial places per drop (内测名额), ASSUMPTION.")
    community: bool = Field(True, description="Members of a community group are eligible.")
    min_tier: int | None = Field(3, ge=1, le=4, description="Members at this tier or above "
                                 "(1-4; 0 is the base tier) are eligible; null: tiers give "
                                 "no access.")
    min_orders: int | None = Field(None, ge=1, description="Buyers with at least this many "
                                   "orders are eligible; null: orders give no access.")
    accept_prob: float = Field(0.6, ge=0.0, le=1.0, description="Share of invited users who "
                               "take the trial (ASSUMPTION).")
    sample_cost: float = Field(15.0, ge=0.0, description="Yuan per sample sent (ASSUMPTION).")
    repurchase_lift: float = Field(0.2, ge=0.0, description="Relative lift of a first-time "
                                   "tester's daily repeat-purchase probability (ASSUMPTION).")
    review_prob: float = Field(0.3, ge=0.0, le=1.0, description="Share of testers who post a "
                               "review (晒单) that reaches friends (ASSUMPTION).")
    review_conversion: float = Field(0.02, ge=0.0, le=1.0, description="Chance a potential "
                                     "user reached by a review joins (ASSUMPTION).")
    reach_exponent: float = Field(2.0, gt=1.0, description="Zipf exponent of friends per review.")
    max_reach: int = Field(50, ge=1, description="Most friends one review reaches.")
    channel: str = Field("early_access", description="Acquisition channel of review referees.")


class EarlyAccess(Mechanic[EarlyAccessParams]):
    # virality: review referees join before the loyalty stage reads today's new users
    # (activity's lifecycle states); members are as the loyalty stage left them yesterday
    stage = StageOrder.VIRALITY
    substage = 1  # after referral
    metrics = METRICS
    report = ReportSection("operations")
    emits = ("shared",)
    uses_if_any = ("community_group", "tier", *BUYING_COLUMNS)
    events = ("ea_invite", "ea_tester", "ea_review", "ea_review_join")
    needs_graph = True

    @classmethod
    def channels(cls, params: EarlyAccessParams) -> list[str]:
        return [params.channel]

    @classmethod
    def columns(cls, params: EarlyAccessParams) -> dict[str, np.dtype]:
        return {TESTED: np.dtype(np.int8)}

    def setup(self) -> None:
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.pending: np.ndarray = np.empty(0, dtype=np.int32)  # reached, not yet joined

    def step(self, day: int) -> None:
        self._count_review_joins(day)
        base = self.params.base
        if day < base.first_drop_day or (day - base.first_drop_day) % base.drop_every_days:
            return
        testers = self._trial(day)
        self._review(testers, day)

    def _eligible(self) -> np.ndarray:
        """Alive users in any enabled source of access (community, tier, orders)."""
        pop, base = self.pop, self.params.base
        ok = np.zeros(pop.size, dtype=bool)
        if base.community and self.has("community_group"):
            ok |= pop["community_group"] >= 0
        if base.min_tier is not None and self.has("tier"):
            ok |= pop["tier"] >= base.min_tier
        if base.min_orders is not None and self.has("purchase_count"):
            ok |= pop["purchase_count"] >= base.min_orders
        ok &= pop.stage == Stage.ALIVE
        return np.flatnonzero(ok).astype(np.int32)

    def _trial(self, day: int) -> np.ndarray:
        """Invite up to `slots` eligible users at random; those who accept get a sample, and a
        first-time tester's repeat purchases are lifted."""
        pop, rec = self.pop, self.ctx.recorder
        eligible = self._eligible()
        slots = min(self.params.base.slots, len(eligible))
        invited = np.sort(self.rng.choice(eligible, size=slots, replace=False))
        rec.event("ea_invite", day, invited)
        group = pop.group[invited]
        testers = invited[self.rng.random(len(invited)) < self.params.for_rows("accept_prob",
                                                                                group)]
        rec.event("ea_tester", day, testers,
                  self.params.for_rows("sample_cost", pop.group[testers]))
        first = testers[pop[TESTED][testers] == 0]
        pop[TESTED][first] = 1
        lift = 1.0 + self.params.for_rows("repurchase_lift", pop.group[first])
        rescale_buying(pop, self.rng, first, lift, 1.0, day, self.ctx.days)
        return testers

    def _review(self, testers: np.ndarray, day: int) -> None:
        """Reviews reach friends; potential friends join through the early-access channel."""
        pop = self.pop
        posted = self.rng.random(len(testers)) < self.params.for_rows("review_prob",
                                                                     pop.group[testers])
        reviewers = testers[posted]
        self.ctx.recorder.event("ea_review", day, reviewers)
        self.publish("shared", reviewers)
        _, friend = share(self, reviewers)
        friend = pop.distinct(friend[pop.stage[friend] == Stage.POTENTIAL])
        won = self.rng.random(len(friend)) < self.params.for_rows("review_conversion",
                                                                 pop.group[friend])
        self.pending = np.concatenate([self.pending, friend[won]]).astype(np.int32)
        self.bring(friend[won], day, self.channel)
        self._count_review_joins(day)

    def _count_review_joins(self, day: int) -> None:
        """Review referees are counted on the day they register: at once without a funnel;
        with one, on the day the funnel registers them (its stage runs before this one, so
        that day's step sees them). A friend acquired through another channel is not ours."""
        if not len(self.pending):
            return
        pop = self.pending
        stage = self.pop.stage[pop]
        joined = pop[(stage != Stage.POTENTIAL) & (self.pop.channel[pop] == self.channel)
                     & (self.pop.acquired_day[pop] == day)]
        self.ctx.recorder.event("ea_review_join", day, joined)
        self.pending = pop[stage == Stage.POTENTIAL]

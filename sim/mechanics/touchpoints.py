"""Omnichannel touch points the company owns (official account, Channels video and live,
WeCom service, Douyin, Xiaohongshu, ...) and multi-touch attribution of the orders they lead to.

Each touch point holds sessions (a post, a live stream, a mass message; daily by default) on a
SimPy schedule (`first_day`, then every `every_days`). A session reaches part of its audience:
- `potential`: potential users of the targeted personas, reached with probability
  p = min(1, reach / audience + reach_share) where the audience counts every user of those
  personas (used-up audiences give fewer new people, as with paid ads); a reached person visits
  the mini-program with `visit_prob` and is brought in through the touch point's own
  acquisition channel (its name);
- `users`: alive users, each reached with p = min(1, reach / alive + reach_share);
- `members`: alive members only (users handed over to it, e.g. WeCom contacts), each reached with
  p = min(1, reach / members + reach_share).
A reached user (a visitor, for potential audiences) is *touched*: the touch is added to the
user's path. Touched users of `users` / `members` touch points open the mini-program today
with `open_prob` (the activity mechanic counts it) and check out tomorrow with `order_prob` (the
purchase mechanic books it, or sees the cart abandoned). A `next` hand-over passes each touched
user (after: touch) or each buyer whose last touch was this one (after: order) to another touch
point with `prob`: to its membership if it is a `members` touch point, otherwise into its next
session. So "content -> live -> order -> WeCom service" is three touch points and two hand-overs.

Costs: `cpm` per 1,000 reached, `cost_per_session`, and `seats` x `seat_cost_per_day` every
active day. Potential-audience costs are acquisition spend on the touch point's channel
(`touchpoint_spend`); the others are `touchpoint_engagement_cost` (no channel). Both are ledger
lines.

Paths: per user, the first and last touch point, the day of the last touch and a saturating
uint8 count per touch point (at most 16 touch points), i.e. the touches since the user's last
order. Each order (of any mechanic) ends the path; it is attributed if the last touch was at
most `lookback_days` before. Credits per order, over the touch points:
- first_touch: 1 to the first; last_touch: 1 to the last;
- position_based (U-shape): one touch 1; two touches 1/2 each; n >= 3 touches: 0.4 first,
  0.4 last, 0.2 spread over the n - 2 middle touches in proportion to their counts.
Every model's credits of an order sum to 1, so each model's table sums to the attributed total.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim.attribution import position_based_credit
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, col
from sim.population import Stage
from sim.touch_point import Handover, TouchPoint

MAX_TOUCHPOINTS = 16
MODELS = ("first_touch", "last_touch", "position_based")
AttributionModel = Literal["first_touch", "last_touch", "position_based"]
SATURATED = 255


class TouchpointsParams(MechanicParams):
    type: Literal["touchpoints"] = "touchpoints"
    # People reached per session and the fixed costs of running a touch point; seats stay as
    # written (a whole number), their daily cost stands for the staff time the market needs.
    scaled_fields = frozenset({"touch_points.*.reach", "touch_points.*.cost_per_session",
                               "touch_points.*.seat_cost_per_day"})
    touch_points: list[TouchPoint] = Field(min_length=1, max_length=MAX_TOUCHPOINTS,
                                          description="The touch points (at most 16).")
    attribution: list[AttributionModel] = Field(
        default_factory=lambda: list(MODELS), min_length=1,
        description="Attribution models reported side by side: first_touch, last_touch, "
        "position_based (40/20/40 U-shape).")
    lookback_days: int = Field(30, ge=1, le=365, description="An order is attributed if the "
                               "user's last touch was at most this many days before (ASSUMPTION "
                               "7-30, a common click-through window).")

    @model_validator(mode="after")
    def _unique(self) -> TouchpointsParams:
        names = [t.name for t in self.touch_points]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"touch point names must be unique; repeated: {', '.join(repeated)}")
        if "none" in names:
            raise ValueError("'none' is the channel of users no channel brought; rename it")
        return self

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        return touchpoint_problems(self, name, [p.type for p in scenario.mechanics.values()],
                                   scenario.days)


def touchpoint_problems(params: TouchpointsParams, name: str, types: list[str],
                        days: int) -> list[tuple[tuple, str]]:
    """What the touch points need from the scenario, located at their fields."""
    problems: list[tuple[tuple, str]] = []
    if types.count("touchpoints") > 1:
        problems.append((("mechanics", name, "type"), "only one touchpoints mechanic per "
                         "scenario (put every touch point in its list)"))
    names = [t.name for t in params.touch_points]
    for i, tp in enumerate(params.touch_points):
        where = ("mechanics", name, "touch_points", i)
        if tp.first_day >= days:
            problems.append(((*where, "first_day"), f"day {tp.first_day} is outside the "
                             f"horizon 0..{days - 1}"))
        if tp.open_prob and "activity" not in types:
            problems.append(((*where, "open_prob"), "opens need an activity mechanic"))
        if tp.order_prob and "purchase_dropout" not in types:
            problems.append(((*where, "order_prob"), "orders need a purchase_dropout mechanic"))
        for j, hand in enumerate(tp.next):
            if hand.to not in names:
                problems.append(((*where, "next", j, "to"), f"unknown touch point {hand.to!r}; "
                                 f"expected one of: {', '.join(names)}"))
    return problems


METRICS: tuple[Metric, ...] = (
    Metric("touchpoint_reach", "people", "flow",
           "People reached by touch-point sessions (articles read, live viewers, messages read, "
           "external views).",
           ("touchpoint_reach",), compute=lambda c: c["touchpoint_reach"], zh="触点覆盖人数"),
    Metric("touches", "touches", "flow",
           "Touches added to users' paths (reached users; visitors, for potential audiences).",
           ("touch",), compute=lambda c: c["touch"], zh="触点接触"),
    Metric("touchpoint_spend", "yuan", "flow",
           "Cost of touch points that reach potential users (acquisition spend on their own "
           "channels).",
           ("touchpoint_spend",), compute=lambda c: col(c, "touchpoint_spend"), zh="触点获客成本",
           good="down", ledger=LedgerLine("relative", 170), acquisition=True),
    Metric("touchpoint_engagement_cost", "yuan", "flow",
           "Cost of touch points that reach users and members (content, live, WeCom seats).",
           ("touchpoint_engagement_cost",), compute=lambda c: col(c, "touchpoint_engagement_cost"),
           zh="触点运营成本", good="down", ledger=LedgerLine("relative", 260)),
)


class Touchpoints(Mechanic[TouchpointsParams]):
    # Loyalty stage, before activity: today's orders (purchase and virality stages) are known,
    # and an open set for today is seen by the activity mechanic the same day.
    stage = StageOrder.LOYALTY
    substage = -1
    metrics = METRICS
    reads_if_any = ("ordered", "first_ordered")
    uses_if_any = ("next_open_day", "next_purchase_day")  # touches bring opens and checkouts
    events = ("touch",)
    channel_events = ("touchpoint_reach", "touchpoint_spend", "touchpoint_engagement_cost")

    @classmethod
    def columns(cls, params: TouchpointsParams) -> dict[str, np.dtype]:
        cols = {"touch_first": np.dtype(np.int8), "touch_last": np.dtype(np.int8),
                "touch_last_day": np.dtype(np.int16), "touch_member": np.dtype(np.uint16)}
        cols.update({f"touch_count_{i}": np.dtype(np.uint8)
                     for i in range(len(params.touch_points))})
        return cols

    @classmethod
    def channels(cls, params: TouchpointsParams) -> list[str]:
        return [t.name for t in params.touch_points if t.audience == "potential"]

    def setup(self) -> None:
        base, pop, layout = self.params.base, self.pop, self.ctx.layout
        self.tps = base.touch_points
        self.k = len(self.tps)
        self.index = {t.name: i for i, t in enumerate(self.tps)}
        pop["touch_first"].fill(-1)
        pop["touch_last"].fill(-1)
        pop["touch_last_day"].fill(-1)
        self.counts = [pop[f"touch_count_{i}"] for i in range(self.k)]
        self.channel = [layout.channel_id(t.name) if t.audience == "potential" else 0
                        for t in self.tps]
        group_sizes = np.bincount(pop.group, minlength=pop.n_groups)
        self.groups = [self.targeted_groups(t.personas) for t in self.tps]
        self.audience = [int(group_sizes[g].sum()) for g in self.groups]
        self.members: list[np.ndarray] = [np.empty(0, np.int32) for _ in self.tps]
        self.queued: list[list[np.ndarray]] = [[] for _ in self.tps]
        self.due: list[int] = []
        self.models = [MODELS.index(m) for m in base.attribution]
        shape = (len(self.models), self.k)
        self.credit = {k: np.zeros(shape) for k in ("orders", "first_orders", "gmv")}
        self.unattributed = np.zeros(2)  # orders, gmv
        days = self.ctx.days
        self.daily = {k: np.zeros((self.k, days)) for k in
                      ("reach", "touched", "visits", "opens", "order_intents", "cost")}
        self.order_handover = [[h for h in t.next if h.after == "order"] for t in self.tps]
        for i, tp in enumerate(self.tps):
            self.ctx.env.process(self._schedule(i, tp))

    def _schedule(self, index: int, tp: TouchPoint) -> Iterator:
        """Mark a session due on first_day and every every_days after (before that day's step)."""
        if tp.first_day > 0:
            yield self.ctx.env.timeout(tp.first_day)
        while True:
            self.due.append(index)
            yield self.ctx.env.timeout(tp.every_days)

    def idle(self, day: int) -> None:
        """Switched off: sessions due today do not happen; orders still end paths."""
        self.due.clear()
        self._attribute(day)

    def step(self, day: int) -> None:
        self._attribute(day)
        due, self.due = sorted(self.due), []
        for i, tp in enumerate(self.tps):
            if tp.seats and tp.seat_cost_per_day:
                self._book(i, day, tp.seats * tp.seat_cost_per_day)
        for i in due:
            self._session(i, day)

    # --- sessions ------------------------------------------------------------------------------
    def _session(self, i: int, day: int) -> None:
        tp, rec = self.tps[i], self.ctx.recorder
        queued = self._take_queue(i)
        if tp.audience == "potential":
            reached, touched = self._reach_potential(i, queued)
        else:
            touched = self._reach_users(i, queued)
            reached = len(touched)
        self.daily["reach"][i, day] += reached
        rec.channel_event("touchpoint_reach", day, self.channel[i], float(reached))
        cost = tp.cost_per_session + tp.cpm * reached / 1000.0
        if cost:
            self._book(i, day, cost)
        self._touch(i, touched, day)
        if tp.audience == "potential":
            self.daily["visits"][i, day] += len(touched)
            self.bring(touched, day, self.channel[i])
        else:
            self._convert(i, touched, day)
        for hand in tp.next:
            if hand.after == "touch":
                self._hand_over(touched, hand)

    def _take_queue(self, i: int) -> np.ndarray:
        parts, self.queued[i] = self.queued[i], []
        if not parts:
            return np.empty(0, np.int32)
        return self.pop.distinct(np.concatenate(parts).astype(np.int32))

    def _reach_potential(self, i: int, queued: np.ndarray) -> tuple[int, np.ndarray]:
        """Reached potential people (a count) and the visitors among them (rows)."""
        tp, pop = self.tps[i], self.pop
        queued = queued[pop.stage[queued] == Stage.POTENTIAL]
        reached = len(queued)
        visitors = [queued[self.rng.random(len(queued)) < tp.visit_prob]]
        if self.audience[i]:
            prob = min(1.0, tp.reach / self.audience[i] + tp.reach_share)
            for group in self.groups[i]:
                seen = int(self.rng.binomial(pop.potential_of_group(int(group)), prob))
                reached += seen
                visits = int(self.rng.binomial(seen, tp.visit_prob))
                if visits:
                    visitors.append(pop.draw_potential(int(group), visits, self.rng))
        visitors = [v for v in visitors if len(v)]
        if len(visitors) <= 1 and not len(queued):  # one group's draw is already distinct
            return reached, visitors[0] if visitors else np.empty(0, np.int32)
        return reached, pop.distinct(np.concatenate(visitors).astype(np.int32))

    def _reach_users(self, i: int, queued: np.ndarray) -> np.ndarray:
        """Alive users reached by a users or members session, plus those queued for it."""
        tp, pop = self.tps[i], self.pop
        if tp.audience == "members":
            members = self.members[i]
            members = self.members[i] = members[pop.stage[members] == Stage.ALIVE]
            base = len(members)
        else:
            base = int(pop.count(Stage.ALIVE).sum())
        organic = np.empty(0, np.int32)
        if base:
            prob = min(1.0, tp.reach / base + tp.reach_share)
            k = int(self.rng.binomial(base, prob))
            if tp.audience == "members":
                organic = members[self.rng.choice(base, size=k, replace=False)]
            else:
                organic = pop.draw_alive(k, self.rng)
        queued = queued[pop.stage[queued] == Stage.ALIVE]
        if not len(queued):  # draws without replacement are distinct already
            return organic
        return pop.distinct(np.concatenate([organic, queued]).astype(np.int32))

    def _convert(self, i: int, touched: np.ndarray, day: int) -> None:
        """Touched users open today and/or check out tomorrow."""
        tp, pop = self.tps[i], self.pop
        if tp.open_prob and self.has("next_open_day"):
            come = touched[self.rng.random(len(touched)) < tp.open_prob]
            pop["next_open_day"][come] = day  # the activity mechanic runs after this one
            self.daily["opens"][i, day] += len(come)
        if tp.order_prob and self.has("next_purchase_day"):
            buy = touched[self.rng.random(len(touched)) < tp.order_prob]
            pop["next_purchase_day"][buy] = np.minimum(pop["next_purchase_day"][buy], day + 1)
            self.daily["order_intents"][i, day] += len(buy)

    def _hand_over(self, rows: np.ndarray, hand: Handover) -> None:
        """Users move on to another touch point: its members, or its next session."""
        moving = rows[self.rng.random(len(rows)) < hand.prob]
        target = self.index[hand.to]
        if not len(moving):
            return
        if self.tps[target].audience == "members":
            bit = np.uint16(1 << target)
            flags = self.pop["touch_member"]
            new = moving[(flags[moving] & bit) == 0]
            flags[new] |= bit
            self.members[target] = np.concatenate([self.members[target], new])
        else:
            self.queued[target].append(moving)

    def _touch(self, i: int, rows: np.ndarray, day: int) -> None:
        """Add touch point i to the paths of these (distinct) users."""
        if not len(rows):
            return
        pop = self.pop
        count = self.counts[i]
        count[rows] = np.minimum(count[rows].astype(np.int16) + 1, SATURATED).astype(np.uint8)
        first = pop["touch_first"]
        fresh = rows[first[rows] < 0]
        first[fresh] = i
        pop["touch_last"][rows] = i
        pop["touch_last_day"][rows] = day
        channel = self.channel[i] if self.tps[i].audience == "potential" else None
        self.ctx.recorder.event("touch", day, rows, channel=channel)
        self.daily["touched"][i, day] += len(rows)

    def _book(self, i: int, day: int, cost: float) -> None:
        event = "touchpoint_spend" if self.tps[i].audience == "potential" \
            else "touchpoint_engagement_cost"
        self.ctx.recorder.channel_event(event, day, self.channel[i], cost)
        self.daily["cost"][i, day] += cost

    # --- attribution -------------------------------------------------------------------------
    def _attribute(self, day: int) -> None:
        """Credit today's orders to the paths that led to them, then end those paths."""
        pop = self.pop
        rows = self.today("ordered")
        if not len(rows):
            return
        values = self.today_values("ordered")
        first_rows = self.today("first_ordered")
        last = pop["touch_last"][rows].astype(np.int64)
        touched = last >= 0
        lookback = self.params.for_rows("lookback_days", pop.group[rows])  # arms may differ
        ok = touched & (day - pop["touch_last_day"][rows] <= lookback)
        self.unattributed += (np.count_nonzero(~ok), values[~ok].sum())
        if np.any(ok):
            orders, value, last = rows[ok], values[ok], last[ok]
            # a user's first order is the first of their orders today that is a first order
            is_first = np.zeros(len(orders), dtype=bool)
            if len(first_rows):
                is_first = pop.among(orders, first_rows) & pop.first_seen(orders)
            first = pop["touch_first"][orders].astype(np.int64)
            counts = np.stack([c[orders] for c in self.counts], axis=1)
            for m, model in enumerate(self.models):
                credit = self._credit(model, counts, first, last)
                self.credit["orders"][m] += credit.sum(axis=0)
                self.credit["first_orders"][m] += credit[is_first].sum(axis=0)
                self.credit["gmv"][m] += value @ credit
            for i, hands in enumerate(self.order_handover):
                if hands:
                    buyers = pop.distinct(orders[last == i])
                    for hand in hands:
                        self._hand_over(buyers, hand)
        ended = rows[touched]  # repeats are harmless: the same reset twice
        for count in self.counts:
            count[ended] = 0
        pop["touch_first"][ended] = -1
        pop["touch_last"][ended] = -1

    def _credit(self, model: int, counts: np.ndarray, first: np.ndarray,
                last: np.ndarray) -> np.ndarray:
        if MODELS[model] == "position_based":
            return position_based_credit(counts, first, last)
        credit = np.zeros(counts.shape)
        credit[np.arange(len(first)), first if MODELS[model] == "first_touch" else last] = 1.0
        return credit

    def finish(self) -> dict[str, np.ndarray]:
        """Attribution per model (rows, in `attribution_models` order) and touch point (columns):
        orders, first orders and GMV; per touch point and day: reach, touched users, visits,
        opens, checkouts set off and cost; orders with no path in the lookback window."""
        out: dict[str, np.ndarray] = {f"attributed_{k}": v for k, v in self.credit.items()}
        out.update({f"touchpoint_{k}": v for k, v in self.daily.items()})
        out["touchpoint_names"] = np.array([t.name for t in self.tps], dtype=object)
        out["attribution_models"] = np.array([MODELS[m] for m in self.models], dtype=object)
        out["unattributed"] = self.unattributed.copy()
        return out

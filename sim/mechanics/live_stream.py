"""Live streaming (直播带货): a weekly schedule, an audience that grows by habit and promotion,
viewers who buy, flash sales, returns, sharing during the stream and live-only group buys.

Schedule: `slots` of (weekday, hour), e.g. Wednesday 20:00; `day0_weekday` says which weekday
day 0 is (a parameter of this mechanic). Each slot is a SimPy process that marks its stream due
every 7 days; several slots may fall on one day and run in hour order (the model has no time of
day otherwise: the hour only orders and labels streams).

Audience of a stream: alive users who watch for any of these reasons (each drawn independently,
the union counted once):
- habit: a past viewer returns with `habit.return_prob` x `habit.decay`^(streams missed since
  their last view);
- home page: each of today's openers (scheduled opens of the activity mechanic, today's buyers
  and new users) watches with `home_page_prob` (a banner ahead of the stream);
- community groups: alive members of a group (the `community_group` column, written by the
  community mechanic when the scenario has one; otherwise this source is empty) watch with
  `community_prob`;
- official account: a push to followers (the automations mechanic's follower flags when it is
  present, else `official_account.follower_share` of alive users drawn that day), read with
  `reach`, each reader watching with `watch_prob`; each push costs `cost` (`live_promo`).
Viewers count as opens that day (their next open is moved to today for the activity mechanic)
and are published as `live_viewer` rows, so a `group_buy` with `live_only: true` opens groups
among them.

Sales: each viewer buys with `viewer_to_buyer` (one order per viewer per stream), value
~ Gamma(`order_value.shape`, `order_value.scale`); a `flash_sale_share` of live orders are flash
sales with `flash_discount` off the list value (`live_discount`, money off the order); a
`return_rate` share is returned and refunded in full (`refund`: what was paid, after the flash
discount and any member prices, which `book_orders` takes off within what the flash sale
leaves); cost of goods `cogs_ratio` x list value on orders kept. Orders are booked through
`book_orders`, so order counts, first orders, points, tiers and automations see them; returned
orders are published as `refunded` rows (no points, no tier spend), and a sale a stock-out
refuses books nothing (not even `live_order`).
Sharing: each viewer shares the stream with `share_prob`; a share reaches Zipf(`reach_exponent`)
friends (at most `max_reach`) along the friendship graph; a reached non-user visits with
`invite_conversion` and registers (through the funnel if there is one) on the `channel`.
Costs: `cost_per_stream` per stream (host, samples; channel event `live_production`) and the
official-account pushes. Per-stream audience by source, buyers and GMV are in `finish()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from sim import orders
from sim.mechanics.automations import OA_FOLLOWER
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.orders import ORDER_EVENTS, book_orders
from sim.params import StrictModel
from sim.population import Stage
from sim.sharing import share

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
SOURCES = ("habit", "home_page", "community", "official_account")


class Slot(StrictModel):
    weekday: Weekday = Field(description="Day of the week of the stream.")
    hour: int = Field(20, ge=0, le=23, description="Starting hour, 0-23 (20 = 20:00, the "
                      "evening prime time; orders streams within a day).")


class Habit(StrictModel):
    return_prob: float = Field(0.30, ge=0.0, le=1.0, description="Chance a viewer of the last "
                               "stream watches the next one (ASSUMPTION 0.1-0.5; attendance "
                               "figures not found, domain-facts §4.5).")
    decay: float = Field(0.7, ge=0.0, le=1.0, description="Factor per stream missed since the "
                         "viewer's last view (ASSUMPTION 0.5-0.9).")


class LiveOfficialAccount(StrictModel):
    follower_share: float = Field(0.3, ge=0.0, le=1.0, description="Share of alive users who "
                                  "follow the account when no automations mechanic keeps "
                                  "follower flags (ASSUMPTION, as automations).")
    reach: float = Field(0.05, ge=0.0, le=1.0, description="Share of pushes read (ASSUMPTION, "
                         "as automations' official account).")
    watch_prob: float = Field(0.2, ge=0.0, le=1.0, description="Chance a reader watches "
                              "(ASSUMPTION 0.05-0.5).")
    cost: float = Field(0.0, ge=0.0, description="Yuan per push (free for followers).")


class LiveOrderValue(StrictModel):
    shape: float = Field(2.0, gt=0.0, description="Gamma shape of a live order's value.")
    scale: float = Field(45.0, gt=0.0, description="Gamma scale, yuan: mean shape x scale = 90, "
                         "twice the store AOV of 45 (ASSUMPTION 60-300; Taobao Live orders are "
                         "mostly 200-1,000 [VENDOR §1.3], a mini-program sells cheaper).")


class LiveStreamParams(MechanicParams):
    type: Literal["live_stream"] = "live_stream"
    fixed_fields = frozenset({"cost_per_stream"})  # one value for the whole market
    scaled_fields = frozenset({"cost_per_stream"})
    day0_weekday: Weekday = Field("monday", description="Weekday of day 0 of the scenario.")
    slots: list[Slot] = Field(min_length=1, max_length=21,
                              description="Weekly streams, e.g. [{weekday: wednesday, hour: "
                              "20}]; each (weekday, hour) at most once.")
    habit: Habit = Field(default_factory=Habit)
    home_page_prob: float = Field(0.02, ge=0.0, le=1.0, description="Chance one of the day's "
                                  "openers watches after the home-page banner (ASSUMPTION "
                                  "0.005-0.1; attendance not found, domain-facts §4.5).")
    community_prob: float = Field(0.1, ge=0.0, le=1.0, description="Chance a community-group "
                                  "member watches after the group notice (ASSUMPTION 0.02-0.3; "
                                  "needs a `community` mechanic).")
    official_account: LiveOfficialAccount = Field(default_factory=LiveOfficialAccount)
    viewer_to_buyer: float = Field(0.10, ge=0.0, le=1.0, description="Chance a viewer orders "
                                   "(domain-facts live_viewer_to_buyer 0.10, range 0.02-0.30; "
                                   "McKinsey 'approaching 30%' is the top end [VENDOR §4.5]).")
    order_value: LiveOrderValue = Field(default_factory=LiveOrderValue)
    flash_sale_share: float = Field(0.3, ge=0.0, le=1.0, description="Share of live orders "
                                    "that are flash-sale items (ASSUMPTION 0-0.6).")
    flash_discount: float = Field(0.2, ge=0.0, lt=1.0, description="Share off a flash-sale "
                                  "item's list price (ASSUMPTION 0.1-0.5).")
    return_rate: float = Field(0.30, ge=0.0, le=1.0, description="Share of live orders "
                               "returned and refunded (domain-facts live_return_rate 0.30, "
                               "0.10-0.50; live commerce 30-50% [BLOG §4.5]).")
    cogs_ratio: float = Field(0.6, ge=0.0, le=1.0, description="Cost of goods as a share of the "
                              "list value, on orders kept (ASSUMPTION, as retention.yaml).")
    cost_per_stream: float = Field(500.0, ge=0.0, description="Yuan per stream: host, samples, "
                                   "set (ASSUMPTION 0-5,000 for an in-house host).")
    share_prob: float = Field(0.05, ge=0.0, le=1.0, description="Chance a viewer shares the "
                              "stream (ASSUMPTION; Extole retail share rate 7.7% [VENDOR §8]).")
    reach_exponent: float = Field(2.0, gt=1.0, description="Zipf exponent of friends a share "
                                  "reaches (Amplifinity split, as referral [VENDOR]).")
    max_reach: int = Field(50, ge=1, description="Most friends one share reaches.")
    invite_conversion: float = Field(0.1, ge=0.0, le=1.0, description="Chance a reached "
                                     "non-user visits (ASSUMPTION; Extole sign-up 16.2% is the "
                                     "referral figure [VENDOR]).")
    channel: str = Field("live_stream", pattern=r"^[a-z][a-z0-9_]*$",
                         description="Channel users who come through a shared stream are "
                         "credited to.")

    @field_validator("slots")
    @classmethod
    def _distinct_slots(cls, slots: list[Slot]) -> list[Slot]:
        seen = [(s.weekday, s.hour) for s in slots]
        repeated = sorted({f"{d} {h}:00" for d, h in seen if seen.count((d, h)) > 1})
        if repeated:
            raise ValueError(f"each (weekday, hour) may be scheduled once; repeated: "
                             f"{', '.join(repeated)}")
        return slots


def stream_days(params: LiveStreamParams, days: int) -> list[tuple[int, int]]:
    """(day, slot index) of every stream within the horizon, in time order."""
    start = WEEKDAYS.index(params.day0_weekday)
    out = [(day, i) for i, slot in enumerate(params.slots)
           for day in range((WEEKDAYS.index(slot.weekday) - start) % 7, days, 7)]
    return sorted(out, key=lambda s: (s[0], params.slots[s[1]].hour))


METRICS: tuple[Metric, ...] = (
    Metric("live_viewers", "viewers", "flow",
           "Viewers of live streams (each user once per stream; summed over streams).",
           ("live_view",), compute=lambda c: c["live_view"], zh="直播观看", group="Live streams"),
    Metric("live_buyers", "orders", "flow",
           "Live orders: one per viewer who bought during a stream.",
           ("live_order",), compute=lambda c: c["live_order"], zh="直播下单", group="Live streams"),
    Metric("live_gmv", "yuan", "flow",
           "List value of live orders (part of gmv).",
           ("live_order",), compute=lambda c: c["live_order_amount"], zh="直播成交额",
           group="Live streams"),
    Metric("live_viewer_to_buyer", "share", "ratio",
           "live_buyers / live_viewers.",
           ("live_view", "live_order"), numerator="live_buyers", denominator="live_viewers",
           zh="直播转化率", group="Live streams"),
    Metric("live_discounts", "yuan", "flow",
           "Flash-sale money off live orders.",
           ("live_discount",), compute=lambda c: col(c, "live_discount_amount"), zh="直播秒杀优惠",
           good="down", ledger=LedgerLine("relative", 100)),
    Metric("live_cost", "yuan", "flow",
           "Live-stream production (per stream) plus official-account pushes promoting the "
           "streams.",
           ("live_production",), compute=lambda c: col(c, "live_production") + col(c,
           "live_promo_amount"), zh="直播成本", good="down", ledger=LedgerLine("relative", 270)),
)


class LiveStream(Mechanic[LiveStreamParams]):
    stage = StageOrder.PURCHASE
    substage = 1  # after the purchase mechanic (today's buyers open), before group buys
    metrics = METRICS
    report = ReportSection("operations")
    needs_graph = True
    events = ("live_view", "live_order", "live_discount", "live_promo", "live_share",
              "live_invite", *ORDER_EVENTS, "refund", "cogs")
    channel_events = ("live_production",)
    sells = True
    emits = ("live_viewer",)
    uses_if_any = ("next_open_day", "community_group", "crm_flags")

    @classmethod
    def channels(cls, params: LiveStreamParams) -> list[str]:
        return [params.channel]

    @classmethod
    def columns(cls, params: LiveStreamParams) -> dict[str, np.dtype]:
        return {"live_last_stream": np.dtype(np.int16)}

    def setup(self) -> None:
        orders.prepare(self.pop)
        self.channel = self.ctx.layout.channel_id(self.params.base.channel)
        self.pop["live_last_stream"].fill(-1)
        self.fans = np.empty(0, dtype=np.int32)  # every past viewer, once
        self.due: list[tuple[int, int]] = []  # (day, slot) marked by the slot processes
        self.streams = 0
        self.table: dict[str, list[float]] = {k: [] for k in (
            "day", "slot", *SOURCES, "viewers", "buyers", "gmv")}
        start = WEEKDAYS.index(self.params.base.day0_weekday)
        for i, slot in enumerate(self.params.base.slots):
            self.ctx.env.process(self._weekly(i, (WEEKDAYS.index(slot.weekday) - start) % 7))

    def _weekly(self, slot: int, first: int) -> Iterator:
        """Mark the slot's stream due on its weekday, every week."""
        if first > 0:
            yield self.ctx.env.timeout(first)
        while True:
            self.due.append((int(self.ctx.env.now), slot))
            yield self.ctx.env.timeout(7)

    def idle(self, day: int) -> None:
        """Outside the mechanic's window the scheduled streams do not happen."""
        self.due = [d for d in self.due if d[0] > day]

    def step(self, day: int) -> None:
        today = sorted((s for d, s in self.due if d == day),
                       key=lambda s: self.params.base.slots[s].hour)
        self.due = [d for d in self.due if d[0] > day]
        for slot in today:
            self._stream(day, slot)

    # --- one stream ---------------------------------------------------------------------------
    def _stream(self, day: int, slot: int) -> None:
        pop, rec, base = self.pop, self.ctx.recorder, self.params.base
        rec.channel_event("live_production", day, self.channel, base.cost_per_stream)
        parts = {"habit": self._habit(), "home_page": self._home_page(day),
                 "community": self._community(), "official_account": self._pushed(day)}
        viewers = pop.distinct(np.concatenate(list(parts.values())).astype(np.int32))
        viewers = viewers[pop.stage[viewers] == Stage.ALIVE]
        rec.event("live_view", day, viewers)
        self.publish("live_viewer", viewers)
        if self.has("next_open_day"):  # watching is an open: activity counts it today
            pop["next_open_day"][viewers] = day
        newcomers = viewers[pop["live_last_stream"][viewers] < 0]
        self.fans = np.concatenate([self.fans, newcomers])
        pop["live_last_stream"][viewers] = self.streams
        self.streams += 1
        buyers, gmv = self._sell(viewers, day)
        self._share(viewers, day)
        for key, value in (("day", day), ("slot", slot), *((k, len(v)) for k, v in parts.items()),
                           ("viewers", len(viewers)), ("buyers", len(buyers)), ("gmv", gmv)):
            self.table[key].append(float(value))

    def _habit(self) -> np.ndarray:
        """Past viewers come back, less so the more streams they have missed."""
        pop = self.pop
        fans = self.fans[pop.stage[self.fans] == Stage.ALIVE]
        self.fans = self.fans[pop.stage[self.fans] != Stage.CHURNED]
        missed = self.streams - 1 - pop["live_last_stream"][fans].astype(np.int64)
        group = pop.group[fans]
        chance = self.params.for_rows("habit.return_prob", group) * np.power(
            self.params.for_rows("habit.decay", group), missed)
        return fans[self.rng.random(len(fans)) < chance]

    def _home_page(self, day: int) -> np.ndarray:
        """Today's openers see the banner: scheduled opens, buyers and new users."""
        pop = self.pop
        if float(np.max(self.params.get("home_page_prob"))) <= 0:
            return np.empty(0, dtype=np.int32)
        parts = [self.today("ordered"), self.today("acquired")]
        if self.has("next_open_day"):
            parts.append(np.flatnonzero(pop["next_open_day"] == day))
        openers = pop.distinct(np.concatenate(parts).astype(np.int32))
        chance = self.params.for_rows("home_page_prob", pop.group[openers])
        return openers[self.rng.random(len(openers)) < chance]

    def _community(self) -> np.ndarray:
        pop = self.pop
        if not self.has("community_group") or float(
                np.max(self.params.get("community_prob"))) <= 0:
            return np.empty(0, dtype=np.int32)
        members = np.flatnonzero(pop["community_group"] >= 0)
        members = members[pop.stage[members] == Stage.ALIVE]  # today's churners are still in
        chance = self.params.for_rows("community_prob", pop.group[members])
        return members[self.rng.random(len(members)) < chance]

    def _pushed(self, day: int) -> np.ndarray:
        """An official-account push to followers; readers may watch."""
        pop, rec, get = self.pop, self.ctx.recorder, self.params.for_rows
        oa = "official_account."
        if float(np.max(self.params.get(oa + "reach"))) <= 0:
            return np.empty(0, dtype=np.int32)
        if self.has("crm_flags"):
            followers = np.flatnonzero((pop["crm_flags"] & OA_FOLLOWER) != 0)
            followers = followers[pop.stage[followers] == Stage.ALIVE]
        else:
            share = float(np.max(self.params.get(oa + "follower_share")))
            alive = int(pop.count(Stage.ALIVE).sum())
            followers = pop.draw_alive(int(self.rng.binomial(alive, share)), self.rng)
            if self.params.varies(oa + "follower_share"):
                chance = get(oa + "follower_share", pop.group[followers]) / share
                followers = followers[self.rng.random(len(followers)) < chance]
        group = pop.group[followers]
        cost = get(oa + "cost", group)
        rec.event("live_promo", day, followers, cost if np.any(cost) else None)
        chance = get(oa + "reach", group) * get(oa + "watch_prob", group)
        return followers[self.rng.random(len(followers)) < chance]

    def _sell(self, viewers: np.ndarray, day: int) -> tuple[np.ndarray, float]:
        """Viewers buy; flash-sale money off, returns refunded, cost of goods on orders kept."""
        pop, rec, get = self.pop, self.ctx.recorder, self.params.for_rows
        buyers = viewers[self.rng.random(len(viewers)) < get("viewer_to_buyer",
                                                             pop.group[viewers])]
        group = pop.group[buyers]
        values = self.rng.gamma(get("order_value.shape", group), get("order_value.scale", group),
                                size=len(buyers))
        flash = self.rng.random(len(buyers)) < get("flash_sale_share", group)
        discount = np.where(flash, values * get("flash_discount", group), 0.0)
        returned = self.rng.random(len(buyers)) < get("return_rate", group)
        cogs = np.where(returned, 0.0, get("cogs_ratio", group))
        booked = book_orders(pop, self.ctx.recorder, buyers, day, values, cogs, taken=discount)
        sold = booked.sold  # a stock-out refuses a sale: no order, no discount, no return
        flash, returned = flash & sold, returned & sold
        rec.event("live_order", day, buyers[sold], values[sold])
        rec.event("live_discount", day, buyers[flash], discount[flash])
        rec.event("refund", day, buyers[returned], booked.paid[returned])  # what was paid
        self.publish("refunded", buyers[returned])  # no points or tier spend on returned goods
        return buyers[sold], float(values[sold].sum())

    def _share(self, viewers: np.ndarray, day: int) -> None:
        """Viewers share the stream; reached non-users may visit and register."""
        pop, rec, get = self.pop, self.ctx.recorder, self.params.for_rows
        sharers = viewers[self.rng.random(len(viewers)) < get("share_prob", pop.group[viewers])]
        rec.event("live_share", day, sharers)
        if not len(sharers):
            return
        sharer, friend = share(self, sharers)
        rec.event("live_invite", day, sharer)
        friend = friend[pop.stage[friend] == Stage.POTENTIAL]
        visit = self.rng.random(len(friend)) < get("invite_conversion", pop.group[friend])
        self.bring(pop.distinct(friend[visit].astype(np.int32)), day, self.channel)

    def finish(self) -> dict[str, np.ndarray]:
        """One entry per stream, in time order: day, slot index, viewers drawn by each source
        (before the union), viewers, buyers and the GMV of live orders."""
        return {f"stream_{k}": np.asarray(v, dtype=float) for k, v in self.table.items()}

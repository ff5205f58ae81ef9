"""Marketing automations: a rules engine of trigger -> audience -> action -> channel.

Each day, in rule order, a rule finds the users its trigger fired for:
- `registered`: users who joined since the rule last looked;
- `unpaid_order`: today's abandoned carts (the purchase mechanic's `cart_abandoned` rows);
- `no_open`: users whose last open was exactly `days` days ago (activity mechanic);
- `purchase`: users who ordered today;
keeps those in its audience (named segments, see sim/mechanics/segments.py; empty = everyone
acquired; like a real CRM it cannot tell users who silently dropped out), and sends through
its channel to those the channel can reach:
- `subscription`: one send per one-time consent (a consent is granted on registering and at
  each payment with `consent_prob`; a counter column holds the unused ones, WX-SUBMSG §3.5);
- `sms`: only users who opted in (`optin_share` on registering); each SMS makes the user opt
  out with `optout_prob`, and an opted-out user is never sent again (LAW-SMS §3.6);
- `official_account`: followers only (`follower_share`);
- `wecom`: WeCom contacts only (`contact_share`), at most `max_per_day` mass messages per
  customer per day (WX-GROUP §3.4).
A send costs the channel's `cost` (booked as `automation_send`, a cost) and is read with the
channel's `reach`. A read action acts: a coupon adds `value` yuan to `crm_coupon_balance` (spent
by the purchase mechanic on the next orders, booked as `coupon`); a gift costs `value` yuan at once
(`automation_gift`); a message costs nothing. Then, each independently: with `checkout_prob`
the user checks out on a uniform day within `effect_days` (if not due sooner; the purchase
mechanic may still see the cart abandoned; users who dropped out never buy), and with
`open_prob` the user opens the next day. A conversion is an order within `conversion_days` of
a user's latest send, counted once per send for the rule that sent it.

Per-rule daily sends, reads, cost and conversions are in `finish()` (rule order).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from sim.compliance import finding
from sim.errors import InputError, Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.mechanics.segments import AUDIENCE_COLUMNS, Audience, audience_mask, segments_needed
from sim.metric import LedgerLine, Metric, ReportSection, col
from sim.params import StrictModel
from sim.population import Stage

SMS_OPTIN, SMS_OPTOUT, OA_FOLLOWER, WECOM_CONTACT = 1, 2, 4, 8  # bits of `crm_flags`
CHANNELS = ("subscription", "sms", "official_account", "wecom")
SENT_EVENT = {"subscription": "submsg_sent", "sms": "sms_sent", "official_account": "oa_sent",
              "wecom": "wecom_sent"}


class SubscriptionChannel(StrictModel):
    consent_prob: float = Field(
        0.3, ge=0.0, le=1.0, description="Chance a user grants a one-time subscription when "
        "asked (on registering and in each payment callback); ASSUMPTION 0.1-0.6, §8.")
    sends_per_consent: int = Field(
        1, ge=1, description="Sends allowed per consent. WeChat allows exactly 1 (§3.5); a "
        "larger number is a compliance finding.")
    reach: float = Field(0.6, ge=0.0, le=1.0, description="Share of sends read (ASSUMPTION).")
    cost: float = Field(0.0, ge=0.0, description="Yuan per send (free).")


class SmsChannel(StrictModel):
    optin_share: float = Field(0.3, ge=0.0, le=1.0, description="Share of users who opt in "
                               "to marketing SMS on registering (ASSUMPTION).")
    optout_prob: float = Field(0.02, ge=0.0, le=1.0, description="Chance an SMS makes its "
                               "reader opt out for good (ASSUMPTION).")
    respect_optin: bool = Field(True, description="Send only to opted-in users. false sends "
                                "to everyone: illegal (MIIT 2015, §3.6), a compliance finding.")
    reach: float = Field(0.12, ge=0.0, le=1.0, description="Share of SMS read (Return Path "
                         "win-back read rate 12%, VENDOR).")
    cost: float = Field(0.05, ge=0.0, description="Yuan per SMS (ASSUMPTION 0.03-0.08).")


class OfficialAccountChannel(StrictModel):
    follower_share: float = Field(0.3, ge=0.0, le=1.0, description="Share of users who "
                                  "follow the official account (ASSUMPTION).")
    reach: float = Field(0.05, ge=0.0, le=1.0, description="Share of messages read "
                         "(ASSUMPTION).")
    cost: float = Field(0.0, ge=0.0, description="Yuan per message.")


class WeComChannel(StrictModel):
    contact_share: float = Field(0.15, ge=0.0, le=1.0, description="Share of users who add "
                                 "the store's WeCom account (ASSUMPTION).")
    max_per_day: int = Field(1, ge=1, description="Mass messages per customer per day "
                             "(WeCom allows 1, §3.4; more is a compliance finding).")
    reach: float = Field(0.3, ge=0.0, le=1.0, description="Share of messages read "
                         "(ASSUMPTION).")
    cost: float = Field(0.0, ge=0.0, description="Yuan per message (staff time, if any).")


class Channels(StrictModel):
    subscription: SubscriptionChannel = Field(default_factory=SubscriptionChannel)
    sms: SmsChannel = Field(default_factory=SmsChannel)
    official_account: OfficialAccountChannel = Field(default_factory=OfficialAccountChannel)
    wecom: WeComChannel = Field(default_factory=WeComChannel)


class Action(StrictModel):
    kind: Literal["coupon", "gift", "message"] = Field(
        "message", description="coupon: yuan off the next orders; gift: a gift costing "
        "`value` yuan at once; message: content only (e.g. recommendations).")
    value: float = Field(0.0, ge=0.0, description="Yuan: the coupon's value or the gift's cost.")
    checkout_prob: float = Field(
        0.0, ge=0.0, le=1.0, description="Chance a reader checks out within effect_days "
        "because of it (win-back reactivates 0.03-0.15, default 0.06, §4.1 VENDOR).")
    open_prob: float = Field(0.0, ge=0.0, le=1.0,
                             description="Chance a reader opens the mini-program the next day.")
    effect_days: int = Field(7, ge=1, le=365, description="Days the checkout effect lasts.")


class Rule(StrictModel):
    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="Rule name.")
    trigger: Literal["registered", "unpaid_order", "no_open", "purchase"] = Field(
        description="What fires the rule for a user.")
    days: int = Field(7, ge=1, le=365, description="no_open only: days without an open.")
    audience: list[Audience] = Field(
        default_factory=list, description="Segments the rule targets (any of them); empty = "
        "everyone. RFM/spend segments need a `segments` mechanic.")
    action: Action = Field(default_factory=Action)
    channel: Literal["subscription", "sms", "official_account", "wecom"]
    conversion_days: int = Field(7, ge=1, le=365,
                                 description="An order this many days after a send converts.")


class AutomationsParams(MechanicParams):
    type: Literal["automations"] = "automations"
    fixed_fields = frozenset({"channels", "dormant_after_days"})  # one value for the whole market
    rules: list[Rule] = Field(min_length=1, max_length=100, description="Rules, in the order "
                              "they are applied each day (the first to use a WeCom slot wins).")
    channels: Channels = Field(default_factory=Channels)
    dormant_after_days: int = Field(14, ge=7, le=365, description="For the `dormant` "
                                    "audience: no open for this many days.")

    @model_validator(mode="after")
    def _unique_names(self) -> AutomationsParams:
        names = [r.name for r in self.rules]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {', '.join(repeated)}")
        return self

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        needs = {"no_open": ("activity", "an activity mechanic (it knows the last open)"),
                 "unpaid_order": ("purchase_dropout", "a purchase mechanic with checkout")}
        types = scenario.mechanic_types
        problems: list[tuple[tuple, str]] = []
        for i, rule in enumerate(self.rules):
            where = ("mechanics", name, "rules", i)
            wanted = needs.get(rule.trigger)
            if wanted and wanted[0] not in types:
                problems.append(((*where, "trigger"), f"trigger {rule.trigger} needs {wanted[1]}"))
            problems += segments_needed(types, rule.audience, (*where, "audience"))
        return problems


METRICS: tuple[Metric, ...] = (
    Metric("automation_sends", "messages", "flow",
           "Messages sent by automation rules (all channels).",
           ("automation_send",), compute=lambda c: c["automation_send"], zh="自动化触达",
           group="Automations"),
    Metric("automation_cost", "yuan", "flow",
           "Channel cost of automation sends plus gifts sent.",
           ("automation_send",), compute=lambda c: col(c, "automation_send_amount") + col(c,
           "automation_gift_amount"), zh="自动化营销成本", good="down", group="Automations",
           ledger=LedgerLine("relative", 220)),
    Metric("automation_conversions", "orders", "flow",
           "Orders within a rule's conversion window after a send (once per send).",
           ("automation_conversion",), compute=lambda c: c["automation_conversion"],
           zh="自动化转化订单",
           group="Automations"),
    Metric("automation_conversion_rate", "share", "ratio",
           "automation_conversions / automation_sends.",
           ("automation_send", "automation_conversion"), numerator="automation_conversions",
           denominator="automation_sends", zh="自动化转化率", group="Automations"),
    Metric("sms_optouts", "users", "flow",
           "Users who opted out of SMS.",
           ("sms_optout",), compute=lambda c: c["sms_optout"], zh="短信退订", good="down",
           group="Automations"),
    Metric("submsg_consents", "consents", "flow",
           "One-time subscription consents granted (each allows one send).",
           ("submsg_consent",), compute=lambda c: c["submsg_consent"], zh="订阅消息授权"),
)


# --- platform rules and law it must keep (sim/compliance.py runs them) ---------------------


def _channels_rules(scenario: Any, name: str, params: Any) -> list[Problem]:
    """SMS without opt-in, more subscription sends than consents, WeCom above its daily cap;
    only for channels that some rule uses."""
    out = []
    used = {rule.channel for rule in params.rules}
    ch = params.channels
    where = ("mechanics", name, "channels")
    if "sms" in used and not ch.sms.respect_optin:
        out.append(finding(
            scenario, (*where, "sms", "respect_optin"), "LAW-SMS",
            "marketing SMS to users who did not opt in is illegal (MIIT 通信短信息服务管理规定 "
            "2015; Advertising Law Art. 43); set respect_optin: true", "error",
            zh="向未同意接收的用户发营销短信属于违法（工信部《通信短信息服务管理规定》2015；"
            "《广告法》第四十三条）；请设 respect_optin: true"))
    if "subscription" in used and ch.subscription.sends_per_consent > 1:
        out.append(finding(
            scenario, (*where, "subscription", "sends_per_consent"), "WX-SUBMSG",
            f"{ch.subscription.sends_per_consent} subscription messages per one-time "
            "consent: WeChat allows exactly one send per consent (§3.5)", "error",
            zh=f"一次性订阅授权一次发 {ch.subscription.sends_per_consent} 条订阅消息：微信规定"
            "每次授权只能发一条（§3.5）"))
    if "wecom" in used and ch.wecom.max_per_day > 1:
        out.append(finding(
            scenario, (*where, "wecom", "max_per_day"), "WX-GROUP",
            f"{ch.wecom.max_per_day} WeCom mass messages per customer per day: WeCom "
            "allows one (§3.4)", "error",
            zh=f"每位客户每天收到 {ch.wecom.max_per_day} 条企业微信群发消息：企业微信只允许"
            "一条（§3.4）"))
    return out


class Automations(Mechanic[AutomationsParams]):
    stage = StageOrder.LOYALTY
    substage = 2  # after activity (today's opens) and segments
    metrics = METRICS
    report = ReportSection("operations")
    compliance = (_channels_rules,)
    reads_if_any = ("ordered", "cart_abandoned")
    uses_if_any = ("last_open_day", "next_open_day", "next_purchase_day", *AUDIENCE_COLUMNS)
    events = ("automation_send", "automation_read", "automation_conversion",
              "automation_coupon", "automation_gift", "submsg_consent", "submsg_sent",
              "sms_sent", "sms_optout", "oa_sent", "wecom_sent")

    @classmethod
    def columns(cls, params: AutomationsParams) -> dict[str, np.dtype]:
        return {"crm_coupon_balance": np.dtype(np.float32), "crm_flags": np.dtype(np.int8),
                "submsg_credits": np.dtype(np.int16), "wecom_day": np.dtype(np.int16),
                "wecom_count": np.dtype(np.int8), "touch_day": np.dtype(np.int16),
                "touch_rule": np.dtype(np.int8)}

    def setup(self) -> None:
        pop, base = self.pop, self.params.base
        missing = [("no_open", "last_open_day", "an activity mechanic"),
                   ("unpaid_order", "next_purchase_day", "a purchase mechanic")]
        problems = [Problem("<scenario>", None, f"mechanics.{self.name}.rules.{i}.trigger",
                            f"trigger {t} needs {what}")
                    for i, rule in enumerate(base.rules) for t, col, what in missing
                    if rule.trigger == t and not self.has(col)]
        if problems:
            raise InputError(problems)
        pop["wecom_day"].fill(-1)
        pop["touch_day"].fill(-1)
        pop["touch_rule"].fill(-1)
        self.conversion_days = np.array([r.conversion_days for r in base.rules])
        shape = (len(base.rules), self.ctx.days)
        self.table = {k: np.zeros(shape) for k in
                      ("sends", "reads", "cost", "conversions", "conversion_gmv")}
        waits = [r.days for r in base.rules if r.trigger == "no_open"]
        if waits:  # who last opened k days ago: the activity mechanic's index of its column
            self.last_opens = pop.day_index("last_open_day", max(waits))

    def idle(self, day: int) -> None:
        """Switched off: new users still get their channel flags; nothing is sent."""
        self._welcome(self.pop.new_users(self.name), day)

    def step(self, day: int) -> None:
        pop = self.pop
        joined = pop.new_users(self.name)
        self._welcome(joined, day)
        ordered, values = self.today("ordered"), self.today_values("ordered")
        self._conversions(ordered, values, day)
        buyers = pop.distinct(ordered)
        self._consent(buyers, day)
        for index, rule in enumerate(self.params.base.rules):
            if rule.trigger == "registered":
                rows = joined
            elif rule.trigger == "purchase":
                rows = buyers
            elif rule.trigger == "unpaid_order":
                rows = pop.distinct(self.today("cart_abandoned"))
            else:
                rows = self.last_opens.rows_with(day - rule.days)
                rows = rows[pop.stage[rows] != Stage.POTENTIAL]
            rows = rows[audience_mask(self, rows, rule.audience, day,
                                      self.params.base.dormant_after_days)]
            self._send(index, rows, day)

    def _welcome(self, joined: np.ndarray, day: int) -> None:
        """New users: whether they opt in to SMS, follow the account, add WeCom, subscribe."""
        if not len(joined):
            return
        ch, draw = self.params.base.channels, self.rng.random
        flags = ((draw(len(joined)) < ch.sms.optin_share) * SMS_OPTIN
                 + (draw(len(joined)) < ch.official_account.follower_share) * OA_FOLLOWER
                 + (draw(len(joined)) < ch.wecom.contact_share) * WECOM_CONTACT)
        self.pop["crm_flags"][joined] = flags.astype(np.int8)
        self._consent(joined, day)

    def _consent(self, rows: np.ndarray, day: int) -> None:
        """A one-time subscription asked for on a tap or payment: one consent, k sends."""
        sub = self.params.base.channels.subscription
        granted = rows[self.rng.random(len(rows)) < sub.consent_prob]
        credits = self.pop["submsg_credits"]
        credits[granted] = np.minimum(credits[granted].astype(np.int32) + sub.sends_per_consent,
                                      np.iinfo(np.int16).max)
        self.ctx.recorder.event("submsg_consent", day, granted)

    def _reachable(self, channel: str, rows: np.ndarray, day: int) -> np.ndarray:
        """The rows this channel may send to today (and spend the permission they use)."""
        pop, ch = self.pop, self.params.base.channels
        flags = pop["crm_flags"][rows]
        if channel == "subscription":
            rows = rows[pop["submsg_credits"][rows] > 0]
            pop["submsg_credits"][rows] -= 1
        elif channel == "sms":
            if ch.sms.respect_optin:
                rows = rows[((flags & SMS_OPTIN) != 0) & ((flags & SMS_OPTOUT) == 0)]
        elif channel == "official_account":
            rows = rows[(flags & OA_FOLLOWER) != 0]
        else:
            rows = rows[(flags & WECOM_CONTACT) != 0]
            fresh = pop["wecom_day"][rows] != day
            pop["wecom_count"][rows[fresh]] = 0
            pop["wecom_day"][rows] = day
            rows = rows[pop["wecom_count"][rows] < ch.wecom.max_per_day]
            pop["wecom_count"][rows] += 1
        return rows

    def _send(self, index: int, rows: np.ndarray, day: int) -> None:
        if not len(rows):
            return
        pop, rec, rule = self.pop, self.ctx.recorder, self.params.base.rules[index]
        channel = getattr(self.params.base.channels, rule.channel)
        rows = self._reachable(rule.channel, rows, day)  # every trigger's rows are distinct
        if not len(rows):
            return
        rec.event("automation_send", day, rows, channel.cost)
        rec.event(SENT_EVENT[rule.channel], day, rows)
        self.table["sends"][index, day] += len(rows)
        self.table["cost"][index, day] += len(rows) * channel.cost
        pop["touch_day"][rows] = day
        pop["touch_rule"][rows] = index
        if rule.channel == "sms":
            out = rows[self.rng.random(len(rows)) < channel.optout_prob]
            pop["crm_flags"][out] |= SMS_OPTOUT
            rec.event("sms_optout", day, out)
        read = rows[self.rng.random(len(rows)) < channel.reach]
        rec.event("automation_read", day, read)
        self.table["reads"][index, day] += len(read)
        action = rule.action
        if action.kind == "coupon" and action.value > 0:
            pop["crm_coupon_balance"][read] += np.float32(action.value)
            rec.event("automation_coupon", day, read, action.value)
        elif action.kind == "gift" and action.value > 0:
            rec.event("automation_gift", day, read, action.value)
            self.table["cost"][index, day] += len(read) * action.value
        self._effects(read, action, day)

    def _effects(self, read: np.ndarray, action: Action, day: int) -> None:
        """A read action brings a checkout forward and/or an open to tomorrow."""
        pop = self.pop
        alive = read[pop.stage[read] == Stage.ALIVE]
        if action.checkout_prob > 0 and self.has("next_purchase_day"):
            buy = alive[self.rng.random(len(alive)) < action.checkout_prob]
            when = day + self.rng.integers(1, action.effect_days + 1, size=len(buy))
            pop["next_purchase_day"][buy] = np.minimum(pop["next_purchase_day"][buy], when)
        if action.open_prob > 0 and self.has("next_open_day"):
            come = alive[self.rng.random(len(alive)) < action.open_prob]
            pop["next_open_day"][come] = np.minimum(pop["next_open_day"][come], day + 1)

    def _conversions(self, ordered: np.ndarray, values: np.ndarray, day: int) -> None:
        """Orders within conversion_days after the user's latest send (later days only: today's
        orders came before today's sends), once per send."""
        if not len(ordered):
            return
        pop = self.pop
        rule = pop["touch_rule"][ordered].astype(np.int64)
        ago = day - pop["touch_day"][ordered].astype(np.int64)
        hit = (rule >= 0) & (ago >= 1)
        hit[hit] &= ago[hit] <= self.conversion_days[rule[hit]]
        rows, values, rule = ordered[hit], values[hit], rule[hit]
        rows, first = np.unique(rows, return_index=True)
        values, rule = values[first], rule[first]
        pop["touch_rule"][rows] = -1
        self.ctx.recorder.event("automation_conversion", day, rows, values)
        np.add.at(self.table["conversions"], (rule, day), 1.0)
        np.add.at(self.table["conversion_gmv"], (rule, day), values)

    def finish(self) -> dict[str, np.ndarray]:
        """Per rule (rows, in rule order) and day: sends, reads, cost (sends + gifts),
        conversions and their order value; `rule_names` names the rows."""
        out = {f"rule_{k}": v for k, v in self.table.items()}
        out["rule_names"] = np.array([r.name for r in self.params.base.rules], dtype=object)
        return out

"""One definition per metric, applied alike to simulated counters and observed daily tables.

The engine records raw daily counters (acquired, order, order_amount, ...). Everything a user
reads, in a table, a summary or a report, is a `Metric` defined here once: its unit, whether it
is a flow (summed over days), a stock (read on the last day) or a ratio of two flows, and how a
daily value is computed from the counters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str  # of the value over the horizon (a flow's daily value is per day)
    kind: Literal["flow", "stock", "ratio"]
    description: str
    needs: tuple[str, ...]
    numerator: str | None = None
    denominator: str | None = None
    mature_after: int = 0  # a ratio over the horizon leaves out its last days (open windows)

    @property
    def daily_unit(self) -> str:
        """Unit of one day's value: flows are per day, stocks and ratios are as they are."""
        return f"{self.unit}/day" if self.kind == "flow" else self.unit

    def daily(self, counters: pd.DataFrame) -> pd.Series:
        """The daily series from a frame of counters for one market (rows are days in order)."""
        return _DAILY[self.name](counters)

    def over_horizon(self, daily: pd.DataFrame) -> float:
        """One number for a whole run from the daily metric frame of one market."""
        if self.kind == "flow":
            return float(daily[self.name].sum())
        if self.kind == "stock":
            return float(daily[self.name].iloc[-1])
        rows = daily.iloc[: max(0, len(daily) - self.mature_after)]
        num, den = rows[self.numerator].sum(), rows[self.denominator].sum()
        return float(num / den) if den else float("nan")


def _col(c: pd.DataFrame, name: str) -> pd.Series:
    """An event column, or zeros when no mechanic of the scenario produces that event."""
    return c[name] if name in c.columns else pd.Series(0.0, index=c.index)


def _ratio(num: pd.Series, den: pd.Series) -> pd.Series:
    return num / den.where(den != 0, np.nan)


LTV_MARGIN = "gross_margin"  # the LEDGER total LTV's margin basis is (per new buyer)
ORDER = ("order", "order_amount")
SPEND = ("ad_spend", "kol_spend")  # channel costs: in whole-market and channel views only

METRICS: dict[str, Metric] = {
    m.name: m
    for m in [
        # users and activity
        Metric("visits", "visits", "flow",
               "Visits by potential users, credited to the channel that brought them.",
               ("visit",)),
        Metric("new_users", "users", "flow",
               "Users acquired (registered) that day, by any channel.", ("acquired",)),
        Metric("acquired_users", "users", "stock",
               "Users acquired since day 0 (cumulative new_users).", ("acquired",)),
        Metric("alive_users", "users", "stock",
               "Acquired users not churned, at the end of the day.", ("alive_users",)),
        Metric("churned_users", "users", "flow",
               "Users who churned for good that day.", ("churned",)),
        Metric("dau", "users", "stock", "Daily active users: users with an open that day "
               "(registering and ordering are opens).", ("open",)),
        Metric("wau", "users", "stock", "Users with an open in the last 7 days.", ("wau",)),
        Metric("mau", "users", "stock", "Users with an open in the last 30 days.", ("mau",)),
        Metric("dau_mau", "share", "ratio", "Stickiness: DAU / MAU (over the horizon: mean "
               "DAU over mean MAU).", ("open", "mau"), numerator="dau", denominator="mau"),
        Metric("new_state_users", "users", "stock",
               "Alive users acquired in the last 7 days (lifecycle state new).",
               ("new_state_users",)),
        Metric("active_state_users", "users", "stock",
               "Alive users neither new nor dormant (lifecycle state active).",
               ("active_state_users",)),
        Metric("dormant_state_users", "users", "stock",
               "Alive users with no open for dormant_after_days (lifecycle state dormant).",
               ("dormant_state_users",)),
        Metric("reactivated_users", "users", "flow",
               "Dormant users who opened again that day.", ("reactivated",)),
        # funnel and orders
        Metric("purchases", "orders", "flow",
               "Orders placed that day by every path (checkout, group buys, bargains, live "
               "streams): a user may place more than one a day through different paths.",
               ("order",)),
        Metric("first_purchases", "orders", "flow",
               "Orders that were the user's first ever (new buyers).", ("first_order",)),
        Metric("repeat_purchases", "orders", "flow",
               "Orders that were not the user's first: purchases - first_purchases.",
               ("order", "first_order")),
        Metric("buyers", "users", "stock",
               "Users with at least one order so far (cumulative first_purchases).",
               ("first_order",)),
        Metric("registration_rate", "share", "ratio",
               "new_users / visits (1 without a funnel).", ("visit", "acquired"),
               numerator="new_users", denominator="visits"),
        Metric("carts_abandoned", "carts", "flow", "Checkouts left unpaid.",
               ("cart_abandoned",)),
        Metric("reminders_sent", "messages", "flow",
               "Unpaid-order reminders sent (one per one-time subscription consent).",
               ("reminder_sent",)),
        Metric("recovered_orders", "orders", "flow", "Abandoned carts paid after a reminder.",
               ("recovered",)),
        Metric("repurchase_rate_30d", "share", "ratio",
               "Share of first orders followed by a second order within 30 days (counted on the "
               "first order's day; the last 30 days are left out of the horizon value).",
               ("repurchase_30d", "first_order"), numerator="repurchases_30d",
               denominator="first_purchases", mature_after=30),
        Metric("repurchases_30d", "orders", "flow",
               "Second orders within 30 days of the first, on the first order's day.",
               ("repurchase_30d",)),
        # money
        Metric("gmv", "yuan", "flow", "Gross merchandise value: list value of the orders, "
               "before discounts and refunds.", ("order_amount",)),
        Metric("aov", "yuan/order", "ratio",
               "Average order value: gmv / purchases (over the horizon: sums first).",
               ORDER, numerator="gmv", denominator="purchases"),
        Metric("coupon_cost", "yuan", "flow",
               "Money off orders from coupons (满减 and reminder coupons).", ORDER),
        Metric("gift_cost", "yuan", "flow",
               "Money off first orders from new-user gift packs, booked when redeemed.", ORDER),
        Metric("referral_cost", "yuan", "flow",
               "Referral coupons used (referee's first order, referrer's next orders).", ORDER),
        Metric("refunds", "yuan", "flow", "Money paid back on refunded orders: what was "
               "paid after the discounts booked with the order (coupons, gifts, referral "
               "coupons, tier discounts).", ORDER),
        Metric("net_revenue", "yuan", "flow",
               "gmv minus every discount and refund line before it in the LEDGER, plus income "
               "lines such as membership_fees (the LEDGER in sim/metrics.py).", ORDER),
        Metric("cogs", "yuan", "flow", "Cost of goods of orders not refunded.", ORDER),
        Metric("gross_margin", "yuan", "flow", "net_revenue - cogs.", ORDER),
        Metric("register_cost", "yuan", "flow",
               "Phone-number authorisation fees for registrations (0.03 yuan each).",
               ("acquired",)),
        Metric("ad_spend", "yuan", "flow", "Paid-ads spend.", SPEND),
        Metric("kol_spend", "yuan", "flow", "KOL/KOC post fees, booked on the post day.", SPEND),
        Metric("acquisition_spend", "yuan", "flow",
               "ad_spend + kol_spend + touchpoint_spend + register_cost + gift_cost "
               "+ referral_cost + share_rewards + bargain_cost + commission.", SPEND),
        Metric("contribution", "yuan", "flow",
               "gross_margin minus every cost line after it in the LEDGER (sim/metrics.py; "
               "the table in this file): acquisition, engagement and operating costs.",
               (*SPEND, *ORDER)),
        Metric("share_rewards", "yuan", "flow", "Rewards paid for the act of sharing (banned "
               "by WeChat; zero unless a plan pays them).", ORDER),
        # virality
        Metric("shares", "shares", "flow", "Shares of a referral card.", ("share",)),
        Metric("invites", "invites", "flow", "Friends reached by shares.", ("invite",)),
        Metric("referred_users", "users", "flow", "New users who joined through a referral.",
               ("referred_join",)),
        Metric("referral_share", "share", "ratio", "Share of new users who came through a "
               "referral.", ("referred_join", "acquired"), numerator="referred_users",
               denominator="new_users"),
        Metric("invite_conversion", "share", "ratio", "Referred users per invite.",
               ("referred_join", "invite"), numerator="referred_users", denominator="invites"),
        Metric("cac", "yuan/buyer", "ratio", "Acquisition cost per new buyer: "
               "acquisition_spend / first_purchases.", (*SPEND, "first_order"),
               numerator="acquisition_spend", denominator="first_purchases"),
        Metric("roi", "share", "ratio", "Return on acquisition spend: contribution / "
               "acquisition_spend.", (*SPEND, *ORDER), numerator="contribution",
               denominator="acquisition_spend"),
        # --- group buys, bargains, distributors (sim/mechanics/group_buy, bargain,
        # distributors) ---
        Metric("group_opens", "groups", "flow", "Group buys (拼团) opened.", ("group_opened",)),
        Metric("group_successes", "groups", "flow",
               "Group buys that filled (or were filled virtually) and shipped, on that day.",
               ("group_succeeded",)),
        Metric("group_success_rate", "share", "ratio",
               "Groups that shipped / groups opened (成团率; groups still open at the horizon "
               "count as not shipped).", ("group_opened", "group_succeeded"),
               numerator="group_successes", denominator="group_opens"),
        Metric("group_orders", "orders", "flow",
               "Orders booked by groups that shipped: one per real member, at the team price.",
               ("group_order",)),
        Metric("bargain_starts", "bargains", "flow", "Bargains (砍价) started.",
               ("bargain_started",)),
        Metric("bargain_completions", "bargains", "flow",
               "Bargains whose required helpers all helped in time (item ordered at the floor).",
               ("bargain_completed",)),
        Metric("bargain_completion_rate", "share", "ratio",
               "bargain_completions / bargain_starts (bargains still open at the horizon count "
               "as not completed).", ("bargain_started", "bargain_completed"),
               numerator="bargain_completions", denominator="bargain_starts"),
        Metric("bargain_cost", "yuan", "flow",
               "Cost of the items given away by completed bargains.", ("bargain_cost",)),
        Metric("commission", "yuan", "flow",
               "Commissions owed to distributors on their referees' orders (all levels).",
               ("commission",)),
        Metric("distributor_sales", "yuan", "flow",
               "Value of orders by distributors' own referees (level 1).",
               ("distributor_sales",)),
        Metric("distributors", "users", "stock", "Alive distributors (分销员) at the end of the "
               "day.", ("distributors",)),
        # --- retention: segments, automations, tiers, points (sim/mechanics/segments,
        # automations, membership_tiers, points) ---
        *[Metric(f"seg_{s}_users", "users", "stock", f"Buyers in the RFM segment {s} at the "
                 "latest recomputation.", (f"seg_{s}_users",))
          for s in ("high_value", "potential", "at_risk", "lost", "high_spend", "low_spend")],
        Metric("automation_sends", "messages", "flow", "Messages sent by automation rules "
               "(all channels).", ("automation_send",)),
        Metric("automation_cost", "yuan", "flow", "Channel cost of automation sends plus "
               "gifts sent.", ("automation_send",)),
        Metric("automation_conversions", "orders", "flow", "Orders within a rule's "
               "conversion window after a send (once per send).", ("automation_conversion",)),
        Metric("automation_conversion_rate", "share", "ratio", "automation_conversions / "
               "automation_sends.", ("automation_send", "automation_conversion"),
               numerator="automation_conversions", denominator="automation_sends"),
        Metric("sms_optouts", "users", "flow", "Users who opted out of SMS.", ("sms_optout",)),
        Metric("submsg_consents", "consents", "flow", "One-time subscription consents "
               "granted (each allows one send).", ("submsg_consent",)),
        *[Metric(f"tier_{k}_users", "users", "stock", f"Alive users in tier {k} (0 = base).",
                 (f"tier_{k}_users",)) for k in range(1, 5)],
        Metric("tier_benefit_cost", "yuan", "flow", "Tier discounts + free shipping + "
               "birthday gifts.", ("tier_upgrade",)),
        Metric("tier_discounts", "yuan", "flow", "Money off orders from tier discounts.",
               ("tier_discount",)),
        Metric("tier_perk_cost", "yuan", "flow", "Tier free shipping and birthday gifts.",
               ("tier_shipping",)),
        Metric("points_issued", "yuan", "flow", "Face value of points issued.",
               ("points_issued",)),
        Metric("points_redeemed", "yuan", "flow", "Points used to pay orders (face value).",
               ("points_redeemed",)),
        Metric("points_outstanding", "yuan", "stock", "Face value of unredeemed, unexpired "
               "points.", ("points_outstanding",)),
        Metric("points_liability", "yuan", "stock", "Outstanding points x (1 - breakage).",
               ("points_liability",)),
        # --- paid membership and community (sim/mechanics/paid_membership, community) ---
        Metric("paid_members", "users", "stock", "Alive paid members at the end of the day.",
               ("paid_members",)),
        Metric("new_paid_members", "users", "flow", "Users who took a paid-membership offer.",
               ("paid_join",)),
        Metric("paid_renewals", "users", "flow", "Paid memberships renewed at a period end.",
               ("paid_renewal",)),
        Metric("paid_lapses", "users", "flow", "Paid memberships not renewed at a period end "
               "(members who churned lapse too).", ("paid_lapse",)),
        Metric("paid_periods_ended", "users", "flow", "Paid memberships at a period end: "
               "paid_renewals + paid_lapses.", ("paid_renewal", "paid_lapse")),
        Metric("paid_renewal_rate", "share", "ratio", "paid_renewals / paid_periods_ended.",
               ("paid_renewal", "paid_lapse"), numerator="paid_renewals",
               denominator="paid_periods_ended"),
        Metric("membership_fees", "yuan", "flow", "Paid-membership fees on joining and "
               "renewing: income, it adds to net revenue.", ("paid_fee",)),
        Metric("member_discounts", "yuan", "flow", "Money off orders from paid-member prices.",
               ("paid_discount",)),
        Metric("member_perk_cost", "yuan", "flow", "Free shipping given to paid members.",
               ("paid_shipping",)),
        Metric("community_members", "users", "stock", "Alive members of community groups.",
               ("community_members",)),
        Metric("community_groups", "groups", "stock", "Community groups with members (at most "
               "500 each).", ("community_groups",)),
        Metric("kocs", "users", "stock", "Alive KOCs emerged in community groups.", ("kocs",)),
        Metric("community_invites", "users", "flow", "Invitations to a community group.",
               ("community_invite",)),
        Metric("community_joins", "users", "flow", "Invitees who joined a group.",
               ("community_join",)),
        Metric("community_discounts", "yuan", "flow", "Money off orders from group prices.",
               ("community_discount",)),
        Metric("community_operating_cost", "yuan", "flow", "Monthly operating cost of the "
               "groups, booked on each month's last day.", ("community_operating",)),
        Metric("community_member_churns", "users", "flow", "Community members who churned for "
               "good.", ("community_member_churn",)),
        Metric("community_churn_rate", "share", "ratio", "Community members who churn per "
               "member-day: community_member_churns / community_members (over the horizon: "
               "churns / member-days). Compare with other_churn_rate.",
               ("community_member_churn", "community_members"),
               numerator="community_member_churns", denominator="community_members"),
        Metric("other_users", "users", "stock", "Alive users not in a community group: "
               "alive_users - community_members.", ("alive_users", "community_members")),
        Metric("other_user_churns", "users", "flow", "Users not in a community group who "
               "churned: churned_users - community_member_churns.",
               ("churned", "community_member_churn")),
        Metric("other_churn_rate", "share", "ratio", "Churn per user-day of users not in a "
               "community group: other_user_churns / other_users.",
               ("churned", "community_member_churn", "alive_users", "community_members"),
               numerator="other_user_churns", denominator="other_users"),
        # --- omnichannel touch points (sim/mechanics/touchpoints) ---
        Metric("touchpoint_reach", "people", "flow", "People reached by touch-point sessions "
               "(articles read, live viewers, messages read, external views).",
               ("touchpoint_reach",)),
        Metric("touches", "touches", "flow", "Touches added to users' paths (reached users; "
               "visitors, for potential audiences).", ("touch",)),
        Metric("touchpoint_spend", "yuan", "flow", "Cost of touch points that reach potential "
               "users (acquisition spend on their own channels).", ("touchpoint_spend",)),
        Metric("touchpoint_engagement_cost", "yuan", "flow", "Cost of touch points that reach "
               "users and members (content, live, WeCom seats).",
               ("touchpoint_engagement_cost",)),
        # --- live streams and recommendations (sim/mechanics/live_stream, recommendations) ---
        Metric("live_viewers", "viewers", "flow", "Viewers of live streams (each user once per "
               "stream; summed over streams).", ("live_view",)),
        Metric("live_buyers", "orders", "flow", "Live orders: one per viewer who bought during "
               "a stream.", ("live_order",)),
        Metric("live_gmv", "yuan", "flow", "List value of live orders (part of gmv).",
               ("live_order",)),
        Metric("live_viewer_to_buyer", "share", "ratio", "live_buyers / live_viewers.",
               ("live_view", "live_order"), numerator="live_buyers",
               denominator="live_viewers"),
        Metric("live_discounts", "yuan", "flow", "Flash-sale money off live orders.",
               ("live_discount",)),
        Metric("live_cost", "yuan", "flow", "Live-stream production (per stream) plus "
               "official-account pushes promoting the streams.", ("live_production",)),
        Metric("recommender_cost", "yuan", "flow", "Recommender subscription and per-user fees, "
               "booked every 30 days.", ("recommender_cost",)),
        Metric("rec_warmed_users", "users", "flow", "Users whose history reached full "
               "personalisation that day.", ("rec_warmed",)),
        # --- catalogue and inventory (sim/mechanics/catalogue, inventory) ---
        Metric("private_label_gmv", "yuan", "flow", "List value of private-label orders.",
               ("private_label_order",)),
        Metric("private_label_share", "share", "ratio", "private_label_gmv / gmv.",
               ("private_label_order", *ORDER), numerator="private_label_gmv",
               denominator="gmv"),
        Metric("units_demanded", "units", "flow", "Orders that reached the stock check (one "
               "unit each), sold or not.", ("stock_demand",)),
        Metric("units_filled", "units", "flow", "Orders served from the shelf at once.",
               ("stock_filled",)),
        Metric("fill_rate", "share", "ratio", "units_filled / units_demanded: the share of "
               "demand served from stock at once.", ("stock_demand", "stock_filled"),
               numerator="units_filled", denominator="units_demanded"),
        Metric("lost_sales", "orders", "flow", "Orders lost to a stock-out.", ("lost_sale",)),
        Metric("lost_sales_value", "yuan", "flow", "List value of orders lost to a stock-out.",
               ("lost_sale",)),
        Metric("backorders", "orders", "flow", "Orders booked short of stock, shipped when "
               "stock arrives.", ("backorder",)),
        Metric("shipments", "orders", "flow", "Orders shipped (back-orders on the day they "
               "ship).", ("shipped",)),
        Metric("late_deliveries", "orders", "flow", "Shipped orders delivered later than "
               "promised.", ("late_delivery",)),
        Metric("defects", "orders", "flow", "Shipped orders with an after-sales complaint.",
               ("defect",)),
        Metric("logistics_cost", "yuan", "flow", "Parcel and packing cost of shipped orders.",
               ("shipped",)),
        Metric("logistics_cost_per_order", "yuan/order", "ratio",
               "logistics_cost / shipments.", ("shipped",), numerator="logistics_cost",
               denominator="shipments"),
        Metric("holding_cost", "yuan", "flow", "Cost of holding the units in stock at the end "
               "of each day (market level: whole-market view only).", ("holding_cost",)),
        Metric("units_in_stock", "units", "stock", "Units on the shelf at the end of the day, "
               "all SKU groups (market level).", ("units_in_stock",)),
        Metric("backlog_units", "units", "stock", "Back-orders waiting for stock at the end of "
               "the day (market level).", ("backlog_units",)),
        Metric("units_received", "units", "flow", "Units received from suppliers.",
               ("stock_received",)),
        Metric("units_shipped", "units", "flow", "Units that left the shelf (orders shipped).",
               ("stock_shipped",)),
        Metric("stockout_days", "group-days", "flow", "SKU groups on sale with no stock at "
               "the end of the day, summed over days.", ("stockout_groups",)),
        Metric("stock_unit_years", "unit-years", "flow", "units_in_stock / 365: the stock "
               "held, in unit-years (the denominator of inventory_turnover).",
               ("units_in_stock",)),
        Metric("inventory_turnover", "turns/year", "ratio", "units_shipped / stock_unit_years "
               "(over the horizon: units shipped per unit of average stock, per year).",
               ("stock_shipped", "units_in_stock"), numerator="units_shipped",
               denominator="stock_unit_years"),
        Metric("days_of_cover", "days", "ratio", "units_in_stock / units_shipped (over the "
               "horizon: mean stock over mean daily shipments).",
               ("stock_shipped", "units_in_stock"), numerator="units_in_stock",
               denominator="units_shipped"),
        # growth accounting (sim/growth_accounting.py): recorded on each complete period's
        # last day; a user is active in a period when they ordered in it
        Metric("ga_active_users", "user-periods", "flow",
               "Buyers active in the growth-accounting period (at least one order in it), on "
               "the period's last day: new + retained + resurrected.", ("ga_active",)),
        Metric("ga_new_users", "user-periods", "flow",
               "Active buyers of the period who had never ordered before it.", ("ga_new",)),
        Metric("ga_retained_users", "user-periods", "flow",
               "Active buyers of the period who were also active in the previous period.",
               ("ga_retained",)),
        Metric("ga_resurrected_users", "user-periods", "flow",
               "Active buyers of the period who had ordered before, but not in the previous "
               "period.", ("ga_resurrected",)),
        Metric("ga_churned_users", "user-periods", "flow",
               "Buyers active in the previous period but not in this one (retained + churned = "
               "last period's active).", ("ga_churned",)),
        Metric("ga_gained_users", "user-periods", "flow",
               "New + resurrected buyers of the period (the quick ratio's numerator).",
               ("ga_new", "ga_resurrected")),
        Metric("ga_quick_ratio", "ratio", "ratio",
               "Growth-accounting quick ratio: (new + resurrected) / churned buyers; above 1 "
               "the active base grows.", ("ga_new", "ga_resurrected", "ga_churned"),
               numerator="ga_gained_users", denominator="ga_churned_users"),
        Metric("ga_revenue", "yuan", "flow",
               "Revenue (list value of orders) of the period's active buyers, on its last day: "
               "new + retained + expansion + resurrected revenue.", ("ga_active",)),
        Metric("ga_new_revenue", "yuan", "flow",
               "The period's revenue from new buyers.", ("ga_new",)),
        Metric("ga_retained_revenue", "yuan", "flow",
               "Revenue kept from retained buyers: sum of min(this period, last period) over "
               "them.", ("ga_retained",)),
        Metric("ga_expansion_revenue", "yuan", "flow",
               "Retained buyers' revenue above last period's: sum of max(this - last, 0).",
               ("ga_expansion",)),
        Metric("ga_contraction_revenue", "yuan", "flow",
               "Retained buyers' revenue below last period's: sum of max(last - this, 0).",
               ("ga_contraction",)),
        Metric("ga_resurrected_revenue", "yuan", "flow",
               "The period's revenue from resurrected buyers.", ("ga_resurrected",)),
        Metric("ga_churned_revenue", "yuan", "flow",
               "Last period's revenue of the buyers who churned (last period's revenue = "
               "retained + contraction + churned).", ("ga_churned",)),
        Metric("ga_revenue_gained", "yuan", "flow",
               "New + resurrected + expansion revenue.",
               ("ga_new", "ga_resurrected", "ga_expansion")),
        Metric("ga_revenue_lost", "yuan", "flow", "Churned + contraction revenue.",
               ("ga_churned", "ga_contraction")),
        Metric("ga_revenue_quick_ratio", "ratio", "ratio",
               "Revenue quick ratio: (new + resurrected + expansion) / (churned + contraction).",
               ("ga_new", "ga_resurrected", "ga_expansion", "ga_churned", "ga_contraction"),
               numerator="ga_revenue_gained", denominator="ga_revenue_lost"),
    ]
}

_DAILY = {
    "visits": lambda c: c["visit"],
    "new_users": lambda c: c["acquired"],
    "acquired_users": lambda c: c["acquired"].cumsum(),
    "alive_users": lambda c: c["alive_users"],
    "churned_users": lambda c: c["churned"],
    "dau": lambda c: c["open"],
    "wau": lambda c: c["wau"],
    "mau": lambda c: c["mau"],
    "dau_mau": lambda c: _ratio(c["open"], c["mau"]),
    "new_state_users": lambda c: c["new_state_users"],
    "active_state_users": lambda c: c["active_state_users"],
    "dormant_state_users": lambda c: c["dormant_state_users"],
    "reactivated_users": lambda c: c["reactivated"],
    "purchases": lambda c: c["order"],
    "first_purchases": lambda c: c["first_order"],
    "repeat_purchases": lambda c: c["order"] - c["first_order"],
    "buyers": lambda c: c["first_order"].cumsum(),
    "registration_rate": lambda c: _ratio(c["acquired"], c["visit"]),
    "carts_abandoned": lambda c: c["cart_abandoned"],
    "reminders_sent": lambda c: c["reminder_sent"],
    "recovered_orders": lambda c: c["recovered"],
    "repurchases_30d": lambda c: c["repurchase_30d"],
    "repurchase_rate_30d": lambda c: _ratio(c["repurchase_30d"], c["first_order"]),
    "gmv": lambda c: c["order_amount"],
    "aov": lambda c: _ratio(c["order_amount"], c["order"]),
    "coupon_cost": lambda c: _col(c, "coupon_amount"),
    "gift_cost": lambda c: _col(c, "gift_amount"),
    "refunds": lambda c: _col(c, "refund_amount"),
    "referral_cost": lambda c: _col(c, "referral_reward_amount"),
    "share_rewards": lambda c: _col(c, "share_reward_amount"),
    "shares": lambda c: c["share"],
    "invites": lambda c: c["invite"],
    "referred_users": lambda c: c["referred_join"],
    "referral_share": lambda c: _ratio(c["referred_join"], c["acquired"]),
    "invite_conversion": lambda c: _ratio(c["referred_join"], c["invite"]),
    "net_revenue": lambda c: _ledger_total(c, "net_revenue"),
    "cogs": lambda c: _col(c, "cogs_amount"),
    "gross_margin": lambda c: _ledger_total(c, "gross_margin"),
    "register_cost": lambda c: _col(c, "register_fee_amount"),
    "ad_spend": lambda c: c["ad_spend"],
    "kol_spend": lambda c: c["kol_spend"],
    "acquisition_spend": lambda c: c["ad_spend"] + c["kol_spend"] + _col(c, "touchpoint_spend")
    + _col(c, "register_fee_amount") + _col(c, "gift_amount")
    + _col(c, "referral_reward_amount") + _col(c, "share_reward_amount")
    + _col(c, "bargain_cost_amount") + _col(c, "commission_amount"),
    "contribution": lambda c: _ledger_total(c, "contribution"),
    "cac": lambda c: _ratio(_DAILY["acquisition_spend"](c), c["first_order"]),
    "roi": lambda c: _ratio(_DAILY["contribution"](c), _DAILY["acquisition_spend"](c)),
    # --- group buys, bargains, distributors ---
    "group_opens": lambda c: c["group_opened"],
    "group_successes": lambda c: c["group_succeeded"],
    "group_success_rate": lambda c: _ratio(c["group_succeeded"], c["group_opened"]),
    "group_orders": lambda c: c["group_order"],
    "bargain_starts": lambda c: c["bargain_started"],
    "bargain_completions": lambda c: c["bargain_completed"],
    "bargain_completion_rate": lambda c: _ratio(c["bargain_completed"], c["bargain_started"]),
    "bargain_cost": lambda c: _col(c, "bargain_cost_amount"),
    "commission": lambda c: _col(c, "commission_amount"),
    "distributor_sales": lambda c: _col(c, "distributor_sales_amount"),
    "distributors": lambda c: c["distributors"],
    # --- retention ---
    **{f"seg_{s}_users": (lambda c, s=s: c[f"seg_{s}_users"])
       for s in ("high_value", "potential", "at_risk", "lost", "high_spend", "low_spend")},
    "automation_sends": lambda c: c["automation_send"],
    "automation_cost": lambda c: _col(c, "automation_send_amount")
    + _col(c, "automation_gift_amount"),
    "automation_conversions": lambda c: c["automation_conversion"],
    "automation_conversion_rate": lambda c: _ratio(c["automation_conversion"],
                                                   c["automation_send"]),
    "sms_optouts": lambda c: c["sms_optout"],
    "submsg_consents": lambda c: c["submsg_consent"],
    **{f"tier_{k}_users": (lambda c, k=k: c[f"tier_{k}_users"]) for k in range(1, 5)},
    "tier_discounts": lambda c: _col(c, "tier_discount_amount"),
    "tier_perk_cost": lambda c: _col(c, "tier_shipping_amount")
    + _col(c, "tier_birthday_gift_amount"),
    "tier_benefit_cost": lambda c: _col(c, "tier_discount_amount")
    + _col(c, "tier_shipping_amount") + _col(c, "tier_birthday_gift_amount"),
    "points_issued": lambda c: c["points_issued_amount"],
    "points_redeemed": lambda c: _col(c, "points_redeemed_amount"),
    "points_outstanding": lambda c: c["points_outstanding"],
    "points_liability": lambda c: c["points_liability"],
    # --- paid membership and community ---
    "paid_members": lambda c: c["paid_members"],
    "new_paid_members": lambda c: c["paid_join"],
    "paid_renewals": lambda c: c["paid_renewal"],
    "paid_lapses": lambda c: c["paid_lapse"],
    "paid_periods_ended": lambda c: c["paid_renewal"] + c["paid_lapse"],
    "paid_renewal_rate": lambda c: _ratio(c["paid_renewal"], c["paid_renewal"] + c["paid_lapse"]),
    "membership_fees": lambda c: _col(c, "paid_fee_amount"),
    "member_discounts": lambda c: _col(c, "paid_discount_amount"),
    "member_perk_cost": lambda c: _col(c, "paid_shipping_amount"),
    "community_members": lambda c: c["community_members"],
    "community_groups": lambda c: c["community_groups"],
    "kocs": lambda c: c["kocs"],
    "community_invites": lambda c: c["community_invite"],
    "community_joins": lambda c: c["community_join"],
    "community_discounts": lambda c: _col(c, "community_discount_amount"),
    "community_operating_cost": lambda c: _col(c, "community_operating_amount"),
    "community_member_churns": lambda c: c["community_member_churn"],
    "community_churn_rate": lambda c: _ratio(c["community_member_churn"],
                                             c["community_members"]),
    "other_users": lambda c: c["alive_users"] - c["community_members"],
    "other_user_churns": lambda c: c["churned"] - c["community_member_churn"],
    "other_churn_rate": lambda c: _ratio(c["churned"] - c["community_member_churn"],
                                         c["alive_users"] - c["community_members"]),
    # --- omnichannel touch points ---
    "touchpoint_reach": lambda c: c["touchpoint_reach"],
    "touches": lambda c: c["touch"],
    "touchpoint_spend": lambda c: _col(c, "touchpoint_spend"),
    "touchpoint_engagement_cost": lambda c: _col(c, "touchpoint_engagement_cost"),
    # --- live streams and recommendations ---
    "live_viewers": lambda c: c["live_view"],
    "live_buyers": lambda c: c["live_order"],
    "live_gmv": lambda c: c["live_order_amount"],
    "live_viewer_to_buyer": lambda c: _ratio(c["live_order"], c["live_view"]),
    "live_discounts": lambda c: _col(c, "live_discount_amount"),
    "live_cost": lambda c: _col(c, "live_production") + _col(c, "live_promo_amount"),
    "recommender_cost": lambda c: _col(c, "recommender_cost"),
    "rec_warmed_users": lambda c: c["rec_warmed"],
    # --- catalogue and inventory ---
    "private_label_gmv": lambda c: _col(c, "private_label_order_amount"),
    "private_label_share": lambda c: _ratio(c["private_label_order_amount"],
                                            c["order_amount"]),
    "units_demanded": lambda c: c["stock_demand"],
    "units_filled": lambda c: c["stock_filled"],
    "fill_rate": lambda c: _ratio(c["stock_filled"], c["stock_demand"]),
    "lost_sales": lambda c: c["lost_sale"],
    "lost_sales_value": lambda c: c["lost_sale_amount"],
    "backorders": lambda c: c["backorder"],
    "shipments": lambda c: c["shipped"],
    "late_deliveries": lambda c: c["late_delivery"],
    "defects": lambda c: c["defect"],
    "logistics_cost": lambda c: _col(c, "shipped_amount"),
    "logistics_cost_per_order": lambda c: _ratio(c["shipped_amount"], c["shipped"]),
    "holding_cost": lambda c: _col(c, "holding_cost"),
    "units_in_stock": lambda c: c["units_in_stock"],
    "backlog_units": lambda c: c["backlog_units"],
    "units_received": lambda c: c["stock_received"],
    "units_shipped": lambda c: c["stock_shipped"],
    "stockout_days": lambda c: c["stockout_groups"],
    "stock_unit_years": lambda c: c["units_in_stock"] / 365.0,
    "inventory_turnover": lambda c: _ratio(c["stock_shipped"], c["units_in_stock"] / 365.0),
    "days_of_cover": lambda c: _ratio(c["units_in_stock"], c["stock_shipped"]),
    # --- growth accounting ---
    "ga_active_users": lambda c: c["ga_active"],
    "ga_new_users": lambda c: c["ga_new"],
    "ga_retained_users": lambda c: c["ga_retained"],
    "ga_resurrected_users": lambda c: c["ga_resurrected"],
    "ga_churned_users": lambda c: c["ga_churned"],
    "ga_gained_users": lambda c: c["ga_new"] + c["ga_resurrected"],
    "ga_quick_ratio": lambda c: _ratio(c["ga_new"] + c["ga_resurrected"], c["ga_churned"]),
    "ga_revenue": lambda c: c["ga_active_amount"],
    "ga_new_revenue": lambda c: c["ga_new_amount"],
    "ga_retained_revenue": lambda c: c["ga_retained_amount"],
    "ga_expansion_revenue": lambda c: c["ga_expansion_amount"],
    "ga_contraction_revenue": lambda c: c["ga_contraction_amount"],
    "ga_resurrected_revenue": lambda c: c["ga_resurrected_amount"],
    "ga_churned_revenue": lambda c: c["ga_churned_amount"],
    "ga_revenue_gained": lambda c: c["ga_new_amount"] + c["ga_resurrected_amount"]
    + c["ga_expansion_amount"],
    "ga_revenue_lost": lambda c: c["ga_churned_amount"] + c["ga_contraction_amount"],
    "ga_revenue_quick_ratio": lambda c: _ratio(
        c["ga_new_amount"] + c["ga_resurrected_amount"] + c["ga_expansion_amount"],
        c["ga_churned_amount"] + c["ga_contraction_amount"]),
}


# The money ledger, in order: GMV, what comes off it ("relative": a cost, subtracted), what adds
# to it ("income", e.g. membership fees), the totals it passes through. net_revenue,
# gross_margin and contribution are defined by this list, and the report's waterfall draws it,
# so the picture and the numbers cannot disagree.
LEDGER: tuple[tuple[str, str], ...] = (
    ("gmv", "absolute"),
    ("coupon_cost", "relative"), ("gift_cost", "relative"), ("referral_cost", "relative"),
    ("tier_discounts", "relative"), ("member_discounts", "relative"),
    ("community_discounts", "relative"), ("points_redeemed", "relative"), ("refunds", "relative"),
    ("live_discounts", "relative"),
    ("membership_fees", "income"),
    ("net_revenue", "total"),
    ("cogs", "relative"),
    ("gross_margin", "total"),
    ("ad_spend", "relative"), ("kol_spend", "relative"), ("touchpoint_spend", "relative"),
    ("register_cost", "relative"),
    ("share_rewards", "relative"), ("bargain_cost", "relative"), ("commission", "relative"),
    ("automation_cost", "relative"), ("tier_perk_cost", "relative"),
    ("member_perk_cost", "relative"), ("community_operating_cost", "relative"),
    ("touchpoint_engagement_cost", "relative"),
    ("live_cost", "relative"), ("recommender_cost", "relative"),
    ("logistics_cost", "relative"), ("holding_cost", "relative"),
    ("contribution", "total"),
)


def _ledger_total(c: pd.DataFrame, total: str) -> pd.Series:
    """GMV minus every cost line and plus every income line above `total` (a total in
    LEDGER)."""
    running = _DAILY["gmv"](c)
    for name, measure in LEDGER[1:]:
        if name == total:
            return running
        if measure == "relative":
            running = running - _DAILY[name](c)
        elif measure == "income":
            running = running + _DAILY[name](c)
    raise KeyError(total)


class _Probe:
    """Stands in for a counters frame and remembers which columns a computation reads."""

    def __init__(self) -> None:
        self.read: set[str] = set()
        self.columns = self

    def __contains__(self, name: str) -> bool:
        self.read.add(name)
        return True

    def __getitem__(self, name: str) -> pd.Series:
        self.read.add(name)
        return pd.Series([1.0])


def counter_columns(name: str) -> set[str]:
    """Counter columns (event counts, `<event>_amount`, stocks, channel costs) a metric is
    computed from, read off its computation itself (a ratio: its two parts)."""
    metric = METRICS[name]
    probe = _Probe()
    for part in ([metric.numerator, metric.denominator] if metric.kind == "ratio"
                 else [name]):
        METRICS[part].daily(probe)  # type: ignore[arg-type]
    return probe.read


def _ledger_events(total: str) -> set[str]:
    """Events the LEDGER lines down to `total` are computed from."""
    lines = [name for name, _ in LEDGER[: [n for n, _ in LEDGER].index(total)]]
    return {c.removesuffix("_amount") for line in lines for c in counter_columns(line)}


# Events whose counts and amounts are also kept by acquisition cohort and age: conversion
# (first orders), LTV (orders and the LEDGER lines of its margin basis) and K-factor (children
# by the referrer's cohort). Opens feed the weekly retention grid instead.
COHORT_EVENTS: tuple[str, ...] = ("acquired", "order", "first_order", "referral_child",
                                  *sorted(_ledger_events(LTV_MARGIN) - {"order"}))


def available(counters: pd.DataFrame | list[str]) -> list[Metric]:
    """Metrics whose inputs are all present."""
    names = set(counters if isinstance(counters, list) else counters.columns)
    return [m for m in METRICS.values() if set(m.needs) <= names]


def daily_metrics(counters: pd.DataFrame) -> pd.DataFrame:
    """All available metrics, day by day, for one market (one replicate, one arm or all)."""
    return pd.DataFrame({m.name: m.daily(counters) for m in available(counters)})


def horizon_values(daily: pd.DataFrame) -> dict[str, float]:
    """One number per metric for one market over the whole horizon."""
    return {name: METRICS[name].over_horizon(daily) for name in daily.columns if name in METRICS}


# --- cohort metrics: by acquisition week, channel and age ----------------------------------

LTV_DAYS = (30, 90, 180)
CONVERSION_DAYS = (7, 30)
K_FACTOR_DAYS = (30, 180)

# The cohort metrics (summary.json's unit_economics, `Result.unit_economics()`): computed from
# the tables kept by acquisition week and age, per channel or for the whole market. name ->
# (unit, definition); `unit_economics` computes them, docs/metrics.md lists them.
COHORT_METRICS: dict[str, tuple[str, str]] = {
    "cac": ("yuan/buyer", "acquisition_spend / first_purchases over the horizon (the `cac` "
            "metric's horizon value)."),
    **{f"conversion_{k}d": ("share", f"First orders within {k} days of joining / users "
                            f"acquired, over cohort weeks whose every user is {k} days old "
                            "by the horizon.") for k in CONVERSION_DAYS},
    **{f"ltv_{k}d_{basis}": ("yuan/buyer", f"{what} of the orders placed within {k} days of "
                             f"joining, per user of those cohorts who ordered within {k} "
                             f"days (cohort weeks at least {k} days old by the horizon).")
       for k in LTV_DAYS for basis, what in (
           ("margin", f"Gross margin (the `{LTV_MARGIN}` LEDGER total: list value minus "
                      "discounts and refunds, plus fees, minus cost of goods)"),
           ("gmv", "List value"))},
    **{f"ltv_cac_{k}d": ("ratio", f"ltv_{k}d_margin / cac.") for k in LTV_DAYS},
    "payback_days": ("days", "First age (days since joining) at which the cumulative gross "
                     "margin per new buyer reaches cac; NaN if never within the horizon."),
    **{f"k_factor_{k}d": ("users/user", f"Referred users each user brings within {k} days of "
                          f"joining (referral_child by the referrer's age), per user acquired, "
                          f"over cohort weeks at least {k} days old (over 180 days: the "
                          "referral branching process's mean offspring).")
       for k in K_FACTOR_DAYS},
    "viral_cycle_days": ("days", "Mean age of the referrer (days since joining) on the day a "
                         "referee joins: the time from a referrer's joining to a referee's."),
}


def _by_age(cohort: dict[str, np.ndarray], name: str, channel: int | None) -> np.ndarray:
    """(weeks, ages) table of one event, for one channel or summed over all."""
    table = cohort.get(name)
    if table is None:
        return np.zeros(0)
    return table.sum(axis=1) if channel is None else table[:, channel, :]


def cohort_margin(amounts: dict[str, np.ndarray], channel: int | None = None) -> np.ndarray:
    """Gross margin by (acquisition week, age): the `gross_margin` metric's own definition
    (the LEDGER down to it) applied to the cohort tables instead of the daily ones, so LTV's
    margin and the metric cannot disagree."""
    gmv = _by_age(amounts, "order", channel)
    frame = pd.DataFrame({f"{name}_amount": _by_age(amounts, name, channel).ravel()
                          for name in amounts})
    return _ledger_total(frame, LTV_MARGIN).to_numpy().reshape(gmv.shape)


def _mature_weeks(days: int, age: int) -> np.ndarray:
    """Cohort weeks whose every user has been a user for at least `age` days at the horizon."""
    weeks = -(-days // 7)
    return np.arange(weeks)[np.arange(weeks) * 7 + 6 + age <= days]


def unit_economics(counts: dict[str, np.ndarray], amounts: dict[str, np.ndarray],
                   spend: float, new_buyers: float, days: int,
                   channel: int | None = None) -> dict[str, float]:
    """The cohort metrics of one channel (or all) of one replicate (`COHORT_METRICS`): LTV at
    30/90/180 days (gross-margin and GMV basis), conversion to a first order within 7 and 30
    days, CAC, LTV/CAC, payback days, K-factor and viral cycle time.

    LTV_k is value per new buyer: what the users of mature cohorts (acquired at least k days
    before the horizon) spent within k days of joining, divided by those of them who ordered
    within k days. CAC is the channel's acquisition spend per new buyer over the horizon (the
    same number as the `cac` metric: both are given the horizon's totals). A scenario that
    books no orders has no LTV, conversion or payback (NaN: not applicable).
    """
    size = _by_age(counts, "acquired", channel)
    out: dict[str, float] = {"cac": spend / new_buyers if new_buyers else float("nan")}
    if "first_order" in counts:
        out.update(_value(counts, amounts, size, days, out["cac"], channel))
    else:
        out.update({name: float("nan") for name in COHORT_METRICS if name.startswith(
            ("conversion_", "ltv_", "payback"))})
    out.update(_virality(counts, size, days, channel))
    return out


def _value(counts: dict[str, np.ndarray], amounts: dict[str, np.ndarray], size: np.ndarray,
           days: int, cac: float, channel: int | None) -> dict[str, float]:
    """Conversion, LTV, LTV/CAC and payback of the cohorts (a scenario with orders)."""
    first = _by_age(counts, "first_order", channel)
    gmv = _by_age(amounts, "order", channel)
    margin = cohort_margin(amounts, channel)
    out: dict[str, float] = {}
    for k in CONVERSION_DAYS:
        weeks = _mature_weeks(days, k)
        users = size[weeks, 0].sum()
        out[f"conversion_{k}d"] = first[weeks, :k].sum() / users if users else float("nan")
    for k in LTV_DAYS:
        weeks = _mature_weeks(days, k)
        buyers = first[weeks, :k].sum()
        for basis, table in (("margin", margin), ("gmv", gmv)):
            value = table[weeks, :k].sum() / buyers if buyers else float("nan")
            out[f"ltv_{k}d_{basis}"] = value
        out[f"ltv_cac_{k}d"] = (out[f"ltv_{k}d_margin"] / cac
                                if cac and cac == cac else float("nan"))
    out["payback_days"] = _payback(first, margin, cac, days)
    return out


def _virality(counts: dict[str, np.ndarray], size: np.ndarray, days: int,
              channel: int | None) -> dict[str, float]:
    """K-factor: referred users each user brings within k days of joining (mature cohorts;
    over 180 days it is the branching process's mean offspring), and the viral cycle time:
    the mean days from a referrer's joining to the referee's."""
    children = _by_age(counts, "referral_child", channel)
    if children.size == 0:
        return {}
    out: dict[str, float] = {}
    for k in K_FACTOR_DAYS:
        weeks = _mature_weeks(days, k)
        users = size[weeks, 0].sum()
        out[f"k_factor_{k}d"] = children[weeks, :k].sum() / users if users else float("nan")
    total = children.sum()
    ages = np.arange(children.shape[1])
    out["viral_cycle_days"] = float((children.sum(axis=0) * ages).sum() / total) if total \
        else float("nan")
    return out


def ltv_by_cohort(counts: dict[str, np.ndarray], amounts: dict[str, np.ndarray], days: int,
                  channel: int | None = None) -> pd.DataFrame:
    """LTV per weekly acquisition cohort at 30, 90 and 180 days (margin and GMV basis, per new
    buyer of the cohort, as in `unit_economics`); NaN where the cohort is not that old yet."""
    size = _by_age(counts, "acquired", channel)
    first = _by_age(counts, "first_order", channel)
    gmv = _by_age(amounts, "order", channel)
    margin = cohort_margin(amounts, channel)
    weeks = np.arange(size.shape[0])
    table = pd.DataFrame({"users": size[:, 0]}, index=pd.Index(weeks, name="cohort_week"))
    for k in LTV_DAYS:
        mature = np.isin(weeks, _mature_weeks(days, k))
        buyers = first[:, :k].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for basis, values in (("margin", margin), ("gmv", gmv)):
                ltv = values[:, :k].sum(axis=1) / buyers
                table[f"ltv_{k}d_{basis}"] = np.where(mature & (buyers > 0), ltv, np.nan)
    return table[table["users"] > 0]


def _payback(first: np.ndarray, margin: np.ndarray, cac: float, days: int) -> float:
    """First age at which cumulative margin per new buyer reaches CAC (NaN if never seen)."""
    if math.isnan(cac) or first.size == 0:
        return float("nan")
    if cac <= 0:
        return 0.0
    for age in range(min(days, margin.shape[1])):
        weeks = _mature_weeks(days, age + 1)
        buyers = first[weeks, : age + 1].sum()
        if buyers and margin[weeks, : age + 1].sum() / buyers >= cac:
            return float(age)
    return float("nan")


def retention_grid(active: np.ndarray, sizes: np.ndarray, days: int,
                   channel: int | None = None) -> pd.DataFrame:
    """Share of each weekly cohort with an open in each week since acquisition (NaN where the
    week is not fully observed)."""
    grid = active.sum(axis=1) if channel is None else active[:, channel, :]
    size = sizes.sum(axis=1) if channel is None else sizes[:, channel]
    weeks = grid.shape[0]
    out = np.full(grid.shape, np.nan)
    for w in range(weeks):
        if size[w] == 0:
            continue
        for a in range(weeks - w):
            if (w + a) * 7 + 12 <= days - 1:  # the cohort's last user saw the whole week
                out[w, a] = grid[w, a] / size[w]
    frame = pd.DataFrame(out, index=pd.Index(range(weeks), name="cohort_week"),
                         columns=pd.Index(range(weeks), name="weeks_since"))
    return frame.dropna(how="all").dropna(axis=1, how="all")

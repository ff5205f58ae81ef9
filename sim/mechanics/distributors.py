"""Distributors (分销员): core users earn a commission on the orders of the users they brought.

Who becomes one: an alive user whose cumulative spend (kept here from every order booked, by
any mechanic) reaches `min_spend` and who has brought at least `min_referrals` registered users
(read from the `referrer` column the referral mechanic fills), both (`rule: all`) or either
(`rule: any`), checked every `check_every_days` days. Only users whose spend or referrals moved
since the last check are looked at, so a check costs what happened, not the market's size.
Status is permanent; a distributor who stops using the app is still paid.

What they earn: `commission_l1` of every order placed by a user whose referrer is a distributor
(one level: a CPS rebate, which WeChat does not treat as multi-level distribution, §2.4), and
optionally `commission_l2` / `commission_l3` on the orders of referees' referees (and theirs).
Two paid levels is a warning and three an error in the compliance check (禁止传销条例 Art. 7(3),
the 2013 opinion's 3-level line); an `entry_fee` is always an error (Art. 7(2)). Commissions are
booked as the `commission` event (amount, on the distributor's row) and the level-1 order value
as `distributor_sales`. Runs after the other virality mechanics of the day (substage 1) so the
orders they book today are paid on today.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from pydantic import Field

from sim.compliance import finding, settings
from sim.errors import Problem
from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import LedgerLine, Metric, col
from sim.population import Stage, add_count


class DistributorsParams(MechanicParams):
    type: Literal["distributors"] = "distributors"
    fixed_fields = frozenset({"check_every_days"})  # one value for the whole market
    min_spend: float = Field(100.0, ge=0.0, description="Cumulative spend, yuan, that makes a "
                             "user eligible (ASSUMPTION: about two orders at AOV 45).")
    min_referrals: int = Field(1, ge=0, description="Registered users the user must have "
                               "brought (needs the referral mechanic; ASSUMPTION).")
    rule: Literal["all", "any"] = Field("all", description="Both criteria (all) or either "
                                        "(any).")
    check_every_days: int = Field(7, ge=1, le=365, description="Days between eligibility "
                                  "checks (1 = daily, 7 = weekly).")
    commission_l1: float = Field(0.10, ge=0.0, le=1.0,
                                 description="Share of the value of orders by the distributor's "
                                 "own referees (ASSUMPTION 0.03-0.20; total pay capped at 0.30 "
                                 "of sales: 直销条例 Art. 24 [LAW], as an upper bound).")
    commission_l2: float = Field(0.0, ge=0.0, le=1.0,
                                 description="Share of orders by referees' referees; 0 = off. "
                                 "A second paid level (团队计酬, 禁止传销条例 Art. 7(3) [LAW]); "
                                 "the compliance check warns.")
    commission_l3: float = Field(0.0, ge=0.0, le=1.0,
                                 description="Third level; 0 = off. Three levels are the "
                                 "criminal line of the 2013 opinion [LAW]; the compliance "
                                 "check refuses it.")
    entry_fee: float = Field(0.0, ge=0.0, description="Fee to become a distributor, yuan. Any "
                             "fee is pyramid selling (入门费, 禁止传销条例 Art. 7(2) [LAW]).")


METRICS: tuple[Metric, ...] = (
    Metric("commission", "yuan", "flow",
           "Commissions owed to distributors on their referees' orders (all levels).",
           ("commission",), compute=lambda c: col(c, "commission_amount"),
           zh="分销佣金", good="down",
           ledger=LedgerLine("relative", 210), acquisition=True),
    Metric("distributor_sales", "yuan", "flow",
           "Value of orders by distributors' own referees (level 1).",
           ("distributor_sales",), compute=lambda c: col(c, "distributor_sales_amount"),
           zh="分销销售额"),
    Metric("distributors", "users", "stock",
           "Alive distributors (分销员) at the end of the day.",
           ("distributors",), compute=lambda c: c["distributors"], zh="分销员"),
)


# --- platform rules and law it must keep (sim/compliance.py runs them) ---------------------


COMMISSION_CAP = 0.30  # 直销管理条例 Art. 24: total pay <= 30% of own sales (an upper bound)
LEVELS = ("commission_l1", "commission_l2", "commission_l3")


def _entry_fee(scenario: Any, name: str, params: Any) -> list[Problem]:
    """Paying to become a distributor is pyramid selling (入门费)."""
    out = []
    for where, v, _ in settings(scenario, name, ("entry_fee",)):
        if v["entry_fee"] > 0:
            out.append(finding(
                scenario, where("entry_fee"), "LAW-MLM",
                f"an entry fee of {v['entry_fee']:g} yuan to become a distributor is "
                "pyramid selling (禁止传销条例 Art. 7(2)); WeChat also bans paid "
                "eligibility (WX-MLM); set entry_fee: 0", "error",
                zh=f"成为分销员须交 {v['entry_fee']:g} 元入门费，属于传销（《禁止传销条例》第七条"
                "第（二）项）；微信也禁止付费获取分销资格（WX-MLM）；请设 entry_fee: 0"))
    return out


def _commission_levels(scenario: Any, name: str, params: Any) -> list[Problem]:
    """Paying on the downline's sales (团队计酬): 3 levels error, 2 levels warning."""
    out = []
    for where, v, _ in settings(scenario, name, LEVELS):
        if v["commission_l3"] > 0:
            out.append(finding(
                scenario, where("commission_l3"), "LAW-MLM",
                "3 paid commission levels: paying uplines on downline sales is pyramid "
                "selling (禁止传销条例 Art. 7(3)) and 3 levels with 30+ participants is the "
                "criminal line (2013 SPC/SPP/MPS opinion); pay one level only", "error",
                zh="3 级佣金：按下线的销售额给上线计酬属于传销（《禁止传销条例》第七条"
                "第（三）项），层级达 3 级、参与人数达 30 人以上即达刑事追诉标准（2013 年"
                "“两高一部”意见）；只发一级佣金"))
        elif v["commission_l2"] > 0:
            out.append(finding(
                scenario, where("commission_l2"), "LAW-MLM",
                "2 paid commission levels (团队计酬, 禁止传销条例 Art. 7(3)); WeChat bans "
                "multi-level distribution on its relationship chain (WX-MLM); one level "
                "(a CPS rebate) is the safe design",
                zh="2 级佣金属于团队计酬（《禁止传销条例》第七条第（三）项）；微信禁止借其关系链"
                "做多级分销（WX-MLM）；只发一级佣金（CPS 返佣）才是安全的设计"))
    return out


def _commission_cap(scenario: Any, name: str, params: Any) -> list[Problem]:
    """Total commission above 30% of sales exceeds even the licensed direct sellers' cap."""
    out = []
    for where, v, changed in settings(scenario, name, LEVELS):
        total = sum(v[f] for f in LEVELS)
        if total > COMMISSION_CAP + 1e-12:  # at the largest rate this view sets
            top = max(changed or LEVELS, key=lambda f: v[f])
            out.append(finding(
                scenario, where(top), "LAW-MLM",
                f"total commission {total:.0%} of sales is above the {COMMISSION_CAP:.0%} "
                "cap on total pay for licensed direct sellers (直销管理条例 Art. 24)",
                zh=f"佣金合计占销售额的 {total:.0%}，高于持牌直销企业报酬总额 "
                f"{COMMISSION_CAP:.0%} 的上限（《直销管理条例》第二十四条）"))
    return out


class Distributors(Mechanic[DistributorsParams]):
    stage = StageOrder.VIRALITY
    substage = 1  # after group buys and bargains book today's orders
    metrics = METRICS
    compliance = (_entry_fee, _commission_levels, _commission_cap,)
    reads = ("ordered",)  # commission on the orders of referees
    uses = ("referrer",)
    events = ("distributor_joined", "distributor_fee", "commission", "distributor_sales")
    stocks = ("distributors",)

    @classmethod
    def columns(cls, params: DistributorsParams) -> dict[str, np.dtype]:
        return {"referrer": np.dtype(np.int32), "dist_spend": np.dtype(np.float64),
                "dist_referrals": np.dtype(np.int32), "is_distributor": np.dtype(np.bool_)}

    def setup(self) -> None:
        self.pop["referrer"].fill(-1)  # the referral mechanic does the same; harmless twice
        self.touched: list[np.ndarray] = []
        self.members = np.empty(0, dtype=np.int32)

    def step(self, day: int) -> None:
        pop = self.pop
        joined = pop.new_users(self.name)
        parents = pop["referrer"][joined]
        parents = parents[parents >= 0]
        add_count(pop["dist_referrals"], parents)
        rows, values = self.today("ordered"), self.today_values("ordered")
        np.add.at(pop["dist_spend"], rows, values)
        self.touched += [parents.astype(np.int32), rows.astype(np.int32)]
        if day % self.params.base.check_every_days == 0:
            self._promote(day)
        self._pay(rows, values, day)
        self._stock(day)

    def idle(self, day: int) -> None:
        """Off: nobody is promoted or paid, but the stock of distributors is still recorded."""
        pop = self.pop
        pop.new_users(self.name)  # referrals made while off do not count later
        self._stock(day)

    def _promote(self, day: int) -> None:
        pop, get = self.pop, self.params.for_rows
        if not self.touched:
            return
        rows = pop.distinct(np.concatenate(self.touched))
        self.touched = []
        rows = rows[(pop.stage[rows] == Stage.ALIVE) & ~pop["is_distributor"][rows]]
        groups = pop.group[rows]
        spend_ok = pop["dist_spend"][rows] >= get("min_spend", groups)
        refs_ok = pop["dist_referrals"][rows] >= get("min_referrals", groups)
        ok = spend_ok & refs_ok if self.params.base.rule == "all" else spend_ok | refs_ok
        new = rows[ok]
        if not len(new):
            return
        pop["is_distributor"][new] = True
        self.members = np.concatenate([self.members, new])
        rec = self.ctx.recorder
        rec.event("distributor_joined", day, new)
        fee = get("entry_fee", pop.group[new])
        if np.any(np.asarray(fee) > 0):
            rec.event("distributor_fee", day, new, fee)

    def _pay(self, rows: np.ndarray, values: np.ndarray, day: int) -> None:
        """Each level up the referral chain whose member is a distributor earns its rate."""
        if not len(rows):
            return
        pop, get = self.pop, self.params.for_rows
        referrer, is_dist = pop["referrer"], pop["is_distributor"]
        earners, amounts = [], []
        up = rows
        for level in (1, 2, 3):  # three levels at most: a loop over levels, not users
            has = up >= 0
            up = np.where(has, referrer[np.maximum(up, 0)], -1)
            rate_name = f"commission_l{level}"
            if not (np.max(self.params.get(rate_name)) > 0):
                continue
            paid = (up >= 0) & is_dist[np.maximum(up, 0)]
            who = up[paid]
            rate = get(rate_name, pop.group[who])
            earners.append(who)
            amounts.append(np.broadcast_to(rate, who.shape) * values[paid])
            if level == 1:
                self.ctx.recorder.event("distributor_sales", day, who, values[paid])
        if earners:
            self.ctx.recorder.event("commission", day, np.concatenate(earners),
                                    np.concatenate(amounts))

    def _stock(self, day: int) -> None:
        live = self.members[self.pop.stage[self.members] == Stage.ALIVE]
        self.ctx.recorder.stock("distributors", day,
                                np.bincount(self.pop.cell[live], minlength=self.ctx.layout.n_cells)
                                .astype(float))

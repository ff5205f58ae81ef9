"""Catalogue: SKU groups with a price, a cost of goods, a role and demand shares per persona.

Every order, from the purchase mechanic or from `book_orders` (group buys, bargains), picks one
SKU group: a buyer of persona p picks group g with probability share[p, g] (shares of each
persona sum to 1). The group then
- prices the order: value = drawn basket value x `price_index` (the purchase mechanic's order
  value model stays the basket-size story; a group's index moves its price level up or down;
  orders booked by group buys and bargains keep their own prices);
- costs it: cost of goods = `cogs_ratio` x value (instead of the purchase mechanic's flat
  cogs_ratio; group buys and bargains keep their own costs);
- may be refused by a stock-out when an `inventory` mechanic keeps stock (sim/mechanics/
  inventory.py): a lost sale is not booked and the buyer tries again another day.
A private-label group has its own margin (its cogs_ratio) and a repeat-purchase effect: a
buyer's first private-label order multiplies the daily purchase probability by
(1 + `repeat_lift`), once. Roles: `hero` (爆款) groups weigh more in the sharing damping of a
stock-out (inventory.hero_weight); `traffic` (引流款) and `regular` are labels for reading a
scenario (a traffic driver is priced low through its price_index and cogs_ratio).

Category expansion: each `expansions` entry is a dated event (a SimPy timeout) that sets the
demand shares of the groups it names, for all personas or those listed, and rescales the other
groups' shares so each persona's shares still sum to 1. A group with share 0 until an
expansion is a category launched that day.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import Field, model_validator

from sim.mechanics.base import Mechanic, MechanicParams, StageOrder
from sim.metric import ORDER, Metric, ReportSection, col
from sim.params import StrictModel

NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"
TOLERANCE = 1e-6
TopUp = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (rows, priced values) -> final values


class SkuGroup(StrictModel):
    name: str = Field(pattern=NAME, description="SKU group (or category) name.")
    role: Literal["hero", "traffic", "regular"] = Field(
        "regular", description="hero (爆款), traffic driver (引流款) or regular.")
    price_index: float = Field(1.0, gt=0.0, description="Multiplier on the drawn basket value "
                               "(1 = the purchase mechanic's order value; ASSUMPTION 0.3-3).")
    cogs_ratio: float | None = Field(
        None, ge=0.0, le=1.0, description="Cost of goods as a share of the order value "
        "(required; ASSUMPTION: branded goods 0.6-0.8, private label 0.4-0.6).")
    share: float = Field(0.0, ge=0.0, le=1.0, description="Demand share for every persona "
                         "(each persona's shares sum to 1 over the groups).")
    persona_shares: dict[str, float] = Field(
        default_factory=dict, description="Demand share for named personas, instead of share.")
    private_label: bool = Field(False, description="Own brand (自有品牌): its own margin and "
                                "repeat-purchase effect.")
    repeat_lift: float = Field(0.0, ge=0.0, description="Relative lift of the buyer's daily "
                               "purchase probability after a first private-label order "
                               "(ASSUMPTION 0-0.3; private label only).")

    @model_validator(mode="after")
    def _costed(self) -> SkuGroup:
        if self.cogs_ratio is None:
            raise ValueError(f"SKU group {self.name} has no cost of goods: give cogs_ratio, its "
                             "cost as a share of the order value (e.g. 0.6)")
        if self.repeat_lift > 0 and not self.private_label:
            raise ValueError(f"SKU group {self.name}: repeat_lift is the private-label effect; "
                             "set private_label: true or remove it")
        return self


class Expansion(StrictModel):
    day: int = Field(ge=0, description="Day the demand shares change (category launch).")
    shares: dict[str, float] = Field(
        min_length=1, description="New demand shares of the named SKU groups; the others are "
        "rescaled so each persona's shares still sum to 1.")
    personas: list[str] = Field(default_factory=list,
                                description="Personas whose demand shifts; empty = all.")


class CatalogueParams(MechanicParams):
    type: Literal["catalogue"] = "catalogue"
    sku_groups: list[SkuGroup] = Field(min_length=1, description="What is sold.")
    expansions: list[Expansion] = Field(default_factory=list,
                                        description="Dated category expansions.")

    def cross_problems(self, name: str, scenario: Any) -> list[tuple[tuple, str]]:
        problems = catalogue_problems(self, name, scenario.persona_names)
        first = next(n for n, p in scenario.mechanics.items() if p.type == "catalogue")
        if first != name:
            problems.append((("mechanics", name, "type"), f"a scenario has one catalogue; "
                             f"{first} is already one (put every SKU group there)"))
        return problems


def catalogue_problems(params: CatalogueParams, name: str,
                       personas: list[str]) -> list[tuple[tuple, str]]:
    """Names and shares the model cannot check alone, located at the field that is wrong."""
    where = ("mechanics", name)
    problems: list[tuple[tuple, str]] = []
    groups = [g.name for g in params.sku_groups]
    seen: set[str] = set()
    for i, group in enumerate(params.sku_groups):
        if group.name in seen:
            problems.append(((*where, "sku_groups", i, "name"),
                             f"SKU group {group.name!r} is defined twice"))
        seen.add(group.name)
        for persona, share in group.persona_shares.items():
            at = (*where, "sku_groups", i, "persona_shares", persona)
            if persona not in personas:
                problems.append((at, f"persona {persona!r} is not defined in market.personas "
                                 f"({', '.join(personas)})"))
            elif not 0.0 <= share <= 1.0:
                problems.append((at, f"share {share:g} must be between 0 and 1"))
    matrix = share_matrix(params, personas)
    for p, persona in enumerate(personas):
        total = matrix[p].sum()
        if abs(total - 1.0) > TOLERANCE:
            listed = ", ".join(f"{g}={s:g}" for g, s in zip(groups, matrix[p], strict=True))
            problems.append(((*where, "sku_groups"), f"demand shares of persona {persona} sum "
                             f"to {total:g} ({listed}); they must sum to 1"))
    for i, expansion in enumerate(params.expansions):
        problems += _expansion_problems(expansion.shares, (*where, "expansions", i, "shares"),
                                        groups)
    return problems


def _expansion_problems(shares: dict[str, float], at: tuple,
                        groups: list[str]) -> list[tuple[tuple, str]]:
    """A dated expansion's shares name known SKU groups, lie in [0, 1] and sum to at most 1
    (to 1 when they name every group)."""
    problems: list[tuple[tuple, str]] = []
    for group, share in shares.items():
        if group not in groups:
            problems.append(((*at, group), f"unknown SKU group {group!r}; expected one of: "
                             f"{', '.join(groups)}"))
        elif not 0.0 <= share <= 1.0:
            problems.append(((*at, group), f"share {share:g} must be between 0 and 1"))
    if sum(shares.values()) > 1.0 + TOLERANCE:
        problems.append((at, f"the shares sum to {sum(shares.values()):g}; "
                         "they must sum to at most 1"))
    elif len(shares) == len(groups) and abs(sum(shares.values()) - 1.0) > TOLERANCE:
        problems.append((at, "naming every SKU group, the shares must sum to 1"))
    return problems


def share_matrix(params: CatalogueParams, personas: list[str]) -> np.ndarray:
    """Initial demand shares, (personas, SKU groups)."""
    return np.array([[g.persona_shares.get(p, g.share) for g in params.sku_groups]
                     for p in personas], dtype=np.float64).reshape(len(personas),
                                                                   len(params.sku_groups))


def shifted(shares: np.ndarray, named: dict[int, float]) -> np.ndarray:
    """One persona's shares after an expansion: named groups take their new shares, the others
    keep their proportions and fill the rest (spread evenly if they had none)."""
    out = shares.copy()
    fixed = np.zeros(len(shares), dtype=bool)
    for g, share in named.items():
        out[g], fixed[g] = share, True
    rest = 1.0 - out[fixed].sum()
    others = out[~fixed].sum()
    if (~fixed).any():
        out[~fixed] = out[~fixed] * rest / others if others > 0 else rest / (~fixed).sum()
    return out


class Stock(Protocol):
    """What an inventory mechanic offers the catalogue."""

    def take(self, rows: np.ndarray, sku: np.ndarray, values: np.ndarray,
             day: int) -> np.ndarray:
        """Which orders are sold (from the shelf or as back-orders)."""
        ...

    def share_factor(self, rows: np.ndarray, shares: np.ndarray) -> np.ndarray | float:
        """Multiplier on each row's share probability while groups are out of stock."""
        ...


METRICS: tuple[Metric, ...] = (
    Metric("private_label_gmv", "yuan", "flow",
           "List value of private-label orders.",
           ("private_label_order",), compute=lambda c: col(c, "private_label_order_amount"),
           zh="自有品牌成交额"),
    Metric("private_label_share", "share", "ratio",
           "private_label_gmv / gmv.",
           ("private_label_order", *ORDER), numerator="private_label_gmv", denominator="gmv",
           zh="自有品牌占比", group="Stock and service"),
)


class Catalogue(Mechanic[CatalogueParams]):
    """Registers itself as the population's supply: the hook every sale goes through."""

    stage = StageOrder.PURCHASE
    substage = -1  # before the purchase mechanic (its set-up registers the hook first)
    metrics = METRICS
    report = ReportSection("inventory")
    uses_if_any = ("purchase_prob", "private_label_buyer")
    events = ("private_label_order",)

    @classmethod
    def columns(cls, params: CatalogueParams) -> dict[str, np.dtype]:
        if any(g.private_label for g in params.sku_groups):
            return {"private_label_buyer": np.dtype(np.int8)}
        return {}

    def setup(self) -> None:
        base = self.params.base
        groups = base.sku_groups
        self.names = [g.name for g in groups]
        self.price_index = np.array([g.price_index for g in groups])
        self.cogs_ratio = np.array([g.cogs_ratio for g in groups], dtype=np.float64)
        self.private = np.array([g.private_label for g in groups])
        self.repeat_lift = np.array([g.repeat_lift for g in groups])
        self.hero = np.array([g.role == "hero" for g in groups])
        self.shares = share_matrix(base, list(self.ctx.layout.personas))
        self._index_shares()
        self.picked = np.zeros((len(self.ctx.layout.personas), len(groups)))  # orders
        self.stock: Stock | None = None  # set by an inventory mechanic's set-up
        self.pop.supply = self
        for expansion in base.expansions:
            self.ctx.env.process(self._expand(expansion))

    def _expand(self, expansion: Expansion) -> Iterator:
        """A dated category expansion: the named groups' shares change from that day on."""
        if expansion.day > 0:  # a timeout of 0 would fire after day 0's step: a day late
            yield self.ctx.env.timeout(expansion.day)
        personas = list(self.ctx.layout.personas)
        named = {self.names.index(g): s for g, s in expansion.shares.items()}
        for p, persona in enumerate(personas):
            if not expansion.personas or persona in expansion.personas:
                self.shares[p] = shifted(self.shares[p], named)
        self._index_shares()

    def _index_shares(self) -> None:
        cumulative = np.cumsum(self.shares, axis=1)
        cumulative[:, -1] = 1.0  # rounding: each persona's list ends at exactly 1
        self.search_keys = (cumulative + np.arange(len(cumulative))[:, None]).ravel()

    def step(self, day: int) -> None:
        """Nothing daily: the catalogue acts when orders are placed and on expansion days."""

    def pick(self, rows: np.ndarray) -> np.ndarray:
        """One SKU group per order, by the buyer's persona shares (inverse CDF)."""
        persona = self.pop.persona[rows].astype(np.int64)
        k = len(self.names)
        # persona p's cumulative shares shifted by p form one increasing list: one search
        # finds every order's group (a zero-share group is never picked)
        shifted_u = self.rng.random(len(rows)) + persona
        sku = np.searchsorted(self.search_keys, shifted_u, side="right") - persona * k
        np.minimum(sku, k - 1, out=sku)
        self.picked += np.bincount(persona * k + sku,
                                   minlength=self.picked.size).reshape(self.picked.shape)
        return sku

    def fulfil(self, rows: np.ndarray, values: np.ndarray, day: int, priced: bool,
               top_up: TopUp | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        sku = self.pick(rows)
        if priced:
            values = values * self.price_index[sku]
        if top_up is not None:  # e.g. a spend coupon: cost, stock and labels see the final value
            values = top_up(rows, values)
        cogs = self.cogs_ratio[sku] * values
        sold = np.ones(len(rows), dtype=bool) if self.stock is None else \
            self.stock.take(rows, sku, values, day)
        own = sold & self.private[sku]
        self.ctx.recorder.event("private_label_order", day, rows[own], values[own])
        if own.any() and self.has("private_label_buyer"):
            self._repeat_effect(rows[own], sku[own])
        return sold, values, cogs

    def _repeat_effect(self, rows: np.ndarray, sku: np.ndarray) -> None:
        """A buyer's first private-label order lifts the daily purchase probability, once."""
        pop = self.pop
        new = pop["private_label_buyer"][rows] == 0
        rows, lift = rows[new], self.repeat_lift[sku[new]]
        pop["private_label_buyer"][rows] = 1
        if self.has("purchase_prob") and np.any(lift > 0):
            pop["purchase_prob"][rows] = np.minimum(pop["purchase_prob"][rows] * (1 + lift), 1.0)

    @property
    def logistics(self) -> bool:
        """An inventory ships every order and books its carrier cost (logistics_cost)."""
        return self.stock is not None

    def share_factor(self, rows: np.ndarray) -> np.ndarray | float:
        if self.stock is None:
            return 1.0
        return self.stock.share_factor(rows, self.shares)

    def finish(self) -> dict[str, np.ndarray]:
        """Orders that picked each SKU group, by persona (rows) and group (columns)."""
        return {"orders_by_group": self.picked.copy()}

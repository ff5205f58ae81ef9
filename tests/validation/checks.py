"""The engine against closed-form theory: every check that applies, in one place.

Each check simulates a small market and returns a `Check`: what theory says, what the
simulation gave, the Monte Carlo standard error of the difference (from theory: binomial or the
exact per-user variance; or from the spread over replicates) and the market it used. A check
passes when |z| <= Z_MAX. The suite runs every check (`tests/validation/test_theory.py`) and
`python -m tests.validation.report` writes the same checks' table to docs/validation.md.

Where the engine's daily steps depart from a continuous formula, the theory is the exact daily
form (Bass as a daily recursion, purchases as daily Bernoulli trials); each check says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

from sim.aggregation import daily_table
from sim.engine import simulate
from sim.events import event_table
from sim.graph_cache import build_graph
from sim.planning import layout_of
from sim.scenario import Scenario, validate_scenario
from sim.theory import bass_mean_field, purchase_moments
from tests.conftest import daily, reference_dict, scenario_from

Z_MAX = 4.0  # two-sided: a false alarm about once in 16,000 checks when the code is right


@dataclass(frozen=True)
class Check:
    """One comparison of a simulated number with theory."""

    name: str
    claim: str  # the closed form, in words
    theory: float
    simulated: float
    se: float  # Monte Carlo standard error of simulated - theory
    scenario: str  # the market simulated

    @property
    def z(self) -> float:
        return (self.simulated - self.theory) / self.se if self.se > 0 else (
            0.0 if self.simulated == self.theory else math.inf)

    @property
    def passed(self) -> bool:
        return abs(self.z) <= Z_MAX


CHECKS: dict[str, Callable[[], list[Check]]] = {}


def check(group: str) -> Callable[[Callable[[], list[Check]]], Callable[[], list[Check]]]:
    """Register a function that returns checks (run by the suite and the report)."""
    def register(fn: Callable[[], list[Check]]) -> Callable[[], list[Check]]:
        CHECKS[group] = fn
        return fn
    return register


# --- Bass acquisition --------------------------------------------------------------------------


def acquisition_only(size: int, days: int, p: float, q: float, seed: int = 1,
                     reps: int = 1) -> Scenario:
    data = reference_dict(days=days, seed=seed, replicates=reps)
    data["market"] = {"size": size}
    data["mechanics"] = {"acquisition": {"type": "bass_acquisition", "p": p, "q": q}}
    return scenario_from(data)


@check("bass")
def bass() -> list[Check]:
    """Given the past, day t's joins are Binomial(potential_t, min(1, p + q alive_t / N)): the
    sum over days of joins minus their conditional means has the summed binomial variance (a
    martingale, exact in daily steps). The mean over replicates of the acquired share follows
    the daily recursion F_t+1 = F_t + (1 - F_t) min(1, p + q F_t) up to O(1/N)."""
    n, p, q = 1_000_000, 0.01, 0.30
    c = daily(acquisition_only(n, 60, p, q))
    new = c["new_users"].to_numpy()
    potential = n - np.concatenate([[0.0], np.cumsum(new)[:-1]])
    alive_start = np.concatenate([[0.0], c["alive_users"].to_numpy()[:-1]])
    hazard = np.minimum(1.0, p + q * alive_start / n)
    out = [Check("bass: joins given the past", "sum_t Binomial(U_t, min(1, p + q A_t/N)) "
                 "(daily steps, exact)", float((potential * hazard).sum()), float(new.sum()),
                 float(np.sqrt((potential * hazard * (1 - hazard)).sum())),
                 "Bass p=0.01 q=0.3, N=1M, 60 days")]
    days, reps = 40, 8
    scenario = acquisition_only(n, days, p, q, seed=3, reps=reps)
    shares = np.array([daily(scenario, r)["acquired_users"].to_numpy() / n
                       for r in range(reps)])
    curve = bass_mean_field(p, q, days)
    for day in (10, 20):
        out.append(Check(f"bass: adopted share on day {day}", "daily recursion F_t+1 = F_t + "
                         "(1 - F_t) min(1, p + q F_t)", float(curve[day]),
                         float(shares[:, day].mean()),
                         float(shares[:, day].std(ddof=1) / math.sqrt(reps)),
                         f"Bass p=0.01 q=0.3, N=1M, {reps} replicates"))
    return out


# --- purchases and dropout (BG/NBD in daily steps) ---------------------------------------------


def all_join_on_day_zero(size: int, days: int, seed: int = 2, **purchase: Any) -> Scenario:
    """Bass with p = 1 acquires everyone on day 0, so purchases start from a known cohort."""
    data = reference_dict(days=days, seed=seed)
    data["market"] = {"size": size}
    data["mechanics"]["acquisition"].update(p=1.0, q=0.0)
    data["mechanics"]["purchase"].update(purchase)
    return scenario_from(data)


@check("purchases")
def purchases() -> list[Check]:
    """Per user, lambda ~ min(1, Gamma(r, rate alpha)) and pdrop ~ Beta(a, b); each day a
    purchase with probability lambda, then churn with probability pdrop: exact moments by
    recursion and quadrature (`sim.theory.purchase_moments`), the daily form of BG/NBD."""
    n, days = 500_000, 120
    c = daily(all_join_on_day_zero(n, days))
    theory = purchase_moments(0.5, 10.0, 1.0, 4.0, days)
    bought = np.cumsum(c["purchases"].to_numpy())
    where = "reference purchases (r=0.5, alpha=10/day, a=1, b=4), N=500k joined on day 0"
    out = []
    for k in (7, 120):
        s = theory.survival[k - 1]
        out.append(Check(f"purchase/dropout: alive after {k} days", "E[alive] = N P(survive "
                         "k daily trials)", n * s, float(c["alive_users"].iloc[k - 1]),
                         math.sqrt(n * s * (1 - s)), where))
        mean, var = theory.mean_purchases[k - 1], theory.var_purchases[k - 1]
        out.append(Check(f"purchase/dropout: purchases in {k} days", "N E[purchases in k "
                         "days]", n * mean, float(bought[k - 1]), math.sqrt(n * var), where))
    n, days = 300_000, 273
    scenario = all_join_on_day_zero(
        n, days, seed=4, purchase_on_acquisition=True,
        purchase_rate={"r": 0.24, "alpha": 4.41, "time_unit_days": 7, "link": "clip"},
        dropout={"a": 0.79, "b": 2.43},
        order_value={"model": "gamma_gamma", "p": 6.25, "q": 3.74, "v": 15.45})
    c = daily(scenario)
    theory = purchase_moments(0.24, 4.41 * 7, 0.79, 2.43, days, first_purchase_certain=True)
    mean, var = theory.mean_purchases[-1], theory.var_purchases[-1]
    out.append(Check("BG/NBD: repeat purchases in 39 weeks", "N (E[purchases] - 1), the "
                     "acquisition being the first order (Fader, Hardie & Lee 2005 convention)",
                     n * (mean - 1), float(c["purchases"].sum() - n), math.sqrt(n * var),
                     "CDNOW BG/NBD fit (r=0.24, alpha=4.41/week, a=0.79, b=2.43), N=300k"))
    p, q, v = 6.25, 3.74, 15.45
    e_inv_nu2 = v**2 / ((q - 1) * (q - 2))
    one_var = p * e_inv_nu2 + p**2 * (e_inv_nu2 - (v / (q - 1)) ** 2)
    out.append(Check("Gamma-Gamma: mean first order value", "p v / (q - 1)", p * v / (q - 1),
                     float(c["gmv"].iloc[0] / n), math.sqrt(one_var / n),
                     "CDNOW Gamma-Gamma fit (p=6.25, q=3.74, v=15.45), N=300k"))
    return out


# --- referral as a branching process -----------------------------------------------------------

MAX_REACH, EXPONENT = 5, 2.0


def branching(size: int, seeds: int, share: float, convert: float, days: int,
              degree: int = 40) -> Scenario:
    """Every new user shares once on joining; a share reaches min(Zipf(2), 5) draws of friends
    on a random graph (mixing 1: locally tree-like); a reached potential friend joins with
    probability `convert`."""
    return validate_scenario({
        "name": "branching", "days": days, "seed": 17,
        "market": {"size": size, "graph": {"model": "communities", "mean_degree": degree,
                                           "degree_tail": 10.0, "mixing": 1.0}},
        "mechanics": {
            "seed": {"type": "seed_users", "count": seeds},
            "referral": {"type": "referral", "share_on_join": share, "share_after_order": 0.0,
                         "share_steps": 1, "reward_referrer": 0.0, "reward_referee": 0.0,
                         "max_reach": MAX_REACH, "reach_exponent": EXPONENT,
                         "invite_conversion": convert}}})


def offspring_moments(degree: np.ndarray, share: float, convert: float,
                      with_parent: bool) -> tuple[float, float]:
    """Mean and variance of one user's referred friends, given the degree distribution. A
    share reaches n = min(Zipf draw, degree) distinct friends; for a referee one of its d
    friends is its referrer (no longer potential), so the potential friends reached are
    Hypergeometric(d, d - 1, n), and referees' degrees are size-biased."""
    k = np.arange(1, MAX_REACH + 1)
    pmf = k ** -EXPONENT / special.zeta(EXPONENT)
    pmf[-1] = 1.0 - pmf[:-1].sum()  # draws are capped at MAX_REACH
    d = degree[degree > 0].astype(float)[:, None]
    n = np.minimum(k[None, :], d)
    if with_parent:
        reached = n * (d - 1) / d
        spread = np.where(d > 1, n * (1 / d) * ((d - 1) / d) * (d - n) / np.maximum(d - 1, 1),
                          0.0)
        reached2 = spread + reached**2
    else:
        reached, reached2 = n, n**2
    weights = (d if with_parent else np.ones_like(d)) * pmf[None, :]
    weights = weights / weights.sum()
    mean_d, mean_d2 = (weights * reached).sum(), (weights * reached2).sum()
    mean = share * convert * mean_d
    second = share * (convert * (1 - convert) * mean_d + convert**2 * mean_d2)
    return mean, second - mean**2


@check("referral")
def referral() -> list[Check]:
    """Galton-Watson: from S seeds with mean offspring K0 (seeds) and K1 (referees), the total
    progeny has mean S (1 + K0 / (1 - K1)) when K1 < 1; the first generation has mean S K0."""
    size, seeds, share, convert = 300_000, 1000, 0.5, 0.5
    scenario = branching(size, seeds, share, convert, days=40)
    degree = build_graph(scenario, 0).degree  # the very graph the run uses
    k0, v0 = offspring_moments(degree, share, convert, with_parent=False)
    k1, v1 = offspring_moments(degree, share, convert, with_parent=True)
    tree_mean, tree_var = 1 / (1 - k1), v1 / (1 - k1) ** 3
    var_seed = k0 * tree_var + v0 * tree_mean**2
    total = daily(scenario)["acquired_users"].iloc[-1]
    out = [Check("referral: total progeny (subcritical)", "Galton-Watson S (1 + K0/(1 - K1))",
                 seeds * (1 + k0 / (1 - k1)), float(total), math.sqrt(seeds * var_seed),
                 f"1,000 seeds, N=300k, K1={k1:.2f}")]
    size, seeds = 1_000_000, 20_000
    scenario = branching(size, seeds, share, convert, days=1, degree=20)
    k0, v0 = offspring_moments(build_graph(scenario, 0).degree, share, convert,
                               with_parent=False)
    k0 *= 1 - seeds / size  # a reached friend is itself a seed with probability S / N
    first = daily(scenario)["new_users"].iloc[0] - seeds
    out.append(Check("referral: first generation", "S K0 (K0 from the degree distribution)",
                     seeds * k0, float(first), math.sqrt(seeds * v0),
                     "20,000 seeds sharing on day 0, N=1M"))
    return out


# --- group buys and bargains -------------------------------------------------------------------


def small_market(size: int, days: int, seed: int = 5, **mechanics: dict[str, Any]) -> Scenario:
    return validate_scenario({"name": "v", "days": days, "seed": seed,
                              "market": {"size": size}, "mechanics": mechanics}, "<check>")


@check("group_buy")
def group_buy() -> list[Check]:
    """Public joiners only, Poisson(rate) per group per day over w = ceil(hours / 24) days: a
    group of n fills with P(Poisson(rate w) >= n - 1); groups open only while their whole
    window fits in the horizon, so every group is resolved (the daily form of the 24-hour
    rule)."""
    out = []
    for rate, size, hours in ((0.5, 2, 24.0), (0.8, 4, 72.0)):
        days, w = 25, math.ceil(hours / 24)
        sc = small_market(20_000, days, founders={"type": "seed_users", "count": 20_000},
                          gb={"type": "group_buy", "group_size": size, "window_hours": hours,
                              "public_join_rate": rate, "friend_join_prob": 0.0,
                              "open_prob": 0.01, "active_days": list(range(days - w + 1))})
        d = daily_table(simulate(sc))
        opened, won = d["group_opened"].sum(), d["group_succeeded"].sum()
        p = stats.poisson.sf(size - 2, rate * w)
        out.append(Check(f"group buy: groups of {size} filled in {hours:g} h",
                         "opened x P(Poisson(rate w) >= n - 1)", opened * p, float(won),
                         math.sqrt(opened * p * (1 - p)),
                         f"20k users, public join rate {rate}/day"))
    return out


@check("bargain")
def bargain() -> list[Check]:
    """A bargain that reaches d distinct friends completes with P(Binomial(d, h) >= m) (each
    reached friend helps independently with probability h); summed over the logged bargains
    it predicts the completions."""
    m, h = 3, 0.4
    sc = small_market(30_000, 20, founders={"type": "seed_users", "count": 15_000},
                      cut={"type": "bargain", "start_prob": 0.02, "helpers_required": m,
                           "help_prob": h, "reach_exponent": 1.3, "max_reach": 30,
                           "floor_price": 5.0, "item_value": 45.0, "item_cost": 20.0})
    counters = simulate(sc, log_events=True)
    events = event_table(counters, layout_of(sc))
    started = events[events["event"] == "bargain_started"].groupby(["user", "day"]).size()
    reach = events[events["event"] == "bargain_invite"].groupby(["user", "day"]).size()
    reach = reach.reindex(started.index, fill_value=0).to_numpy()
    p = stats.binom.sf(m - 1, reach, h)
    done = float(daily_table(counters)["bargain_completed"].sum())
    return [Check("bargain: completions", "sum over bargains of P(Binomial(d, h) >= m)",
                  float(p.sum()), done, float(np.sqrt((p * (1 - p)).sum())),
                  "30k users, m=3 helpers, h=0.4")]


# --- A/B tests in the market -------------------------------------------------------------------


def no_interference(size: int, days: int, start_day: int, within_30_days: float) -> Scenario:
    """Users join on their own (q = 0) and buy on their own: no user affects another. The
    treatment raises only the first-order probability, a lever read when it is used, so it
    can start on any day."""
    data = reference_dict(days=days, market={"size": size}, seed=5)
    data["mechanics"]["acquisition"].update(p=0.05, q=0.0)
    data["mechanics"]["purchase"]["first_order"] = {"within_30_days": 0.3}
    data["experiment"] = {"primary_metric": "purchases", "start_day": start_day, "arms": [
        {"name": "control", "share": 0.5},
        {"name": "treatment", "share": 0.5,
         "set": {"mechanics.purchase.first_order.within_30_days": within_30_days}}]}
    return scenario_from(data)


AB_REPLICATES = 160
AB_ALPHA = 0.05


@check("ab")
def ab() -> list[Check]:
    """Without interference the user-level estimate is unbiased for the all-treatment minus
    all-control effect, the share of replicates that reject is `power.solve`'s power at the
    measured variances, arm sizes and true effect, 95% intervals cover the true effect 95% of
    the time and the all-control market (an A/A test) rejects at alpha: at every start day,
    since the three markets are one market until it."""
    from experiments.planning.ab_summary import summarise
    from experiments.planning.abtest import simulate_ab
    from experiments.runs.executors import make_executor

    out, aa, cover = [], [], []
    r = AB_REPLICATES
    for start in (0, 6, 15):
        sc = no_interference(2500, start + 20, start, 0.38)
        rows = simulate_ab(sc, make_executor("serial"), replicates=r, alpha=AB_ALPHA)
        row = summarise(rows, AB_ALPHA).query("metric == 'purchases'").iloc[0]
        where = f"N=2,500, start day {start}, 20-day test, {r} replicates"
        a = float(row["analytic_power"])
        out.append(Check(f"A/B: simulated power, start day {start}", "power.solve(measured "
                         "variances, arm sizes, true effect)", a, float(row["power"]),
                         math.sqrt(a * (1 - a) / r), where))
        out.append(Check(f"A/B: bias, start day {start}", "0 (no interference)", 0.0,
                         float(row["bias"]), float(row["bias_se"]), where))
        aa.append(float(row["aa_rate"]))
        cover.append(float(row["coverage"]))
    n = 3 * r
    out.append(Check("A/B: A/A rejection rate", "alpha", AB_ALPHA, float(np.mean(aa)),
                     math.sqrt(AB_ALPHA * (1 - AB_ALPHA) / n), f"the three start days, {n} "
                     "replicates"))
    level = 1 - AB_ALPHA
    out.append(Check("A/B: 95% interval coverage", "1 - alpha", level, float(np.mean(cover)),
                     math.sqrt(level * (1 - level) / n), f"the three start days, {n} "
                     "replicates"))
    return out


@check("ab_arms")
def ab_arms() -> list[Check]:
    """Two treatments and partial enrolment (60% of users in the test), still without
    interference: each treatment's estimate is unbiased for its launch to the whole market,
    its simulated power is `power.solve`'s at alpha / 2 (Bonferroni over the two
    comparisons), and the A/A rate and the coverage of the 1 - alpha / 2 intervals are what
    that level says."""
    from experiments.planning.ab_summary import summarise
    from experiments.planning.abtest import simulate_ab
    from experiments.runs.executors import make_executor

    sc = no_interference(4000, 26, 6, 0.38)
    data = sc.model_dump(mode="python")
    data["experiment"]["enrolment"] = 0.6
    data["experiment"]["arms"] = [
        {"name": "control", "share": 0.4},
        *({"name": name, "share": 0.3,
           "set": {"mechanics.purchase.first_order.within_30_days": value}}
          for name, value in (("small", 0.36), ("large", 0.42)))]
    r = AB_REPLICATES
    rows = simulate_ab(scenario_from(data), make_executor("serial"), replicates=r,
                       alpha=AB_ALPHA)
    table = summarise(rows, AB_ALPHA).query("metric == 'purchases'").set_index("arm")
    where = f"N=4,000, 60% enrolled, arms 40/30/30, start day 6, 20-day test, {r} replicates"
    out = []
    for arm in ("small", "large"):
        row = table.loc[arm]
        a = float(row["analytic_power"])
        out += [Check(f"A/B, 3 arms: simulated power, {arm}", "power.solve at alpha / 2",
                      a, float(row["power"]), math.sqrt(a * (1 - a) / r), where),
                Check(f"A/B, 3 arms: bias, {arm}", "0 (no interference)", 0.0,
                      float(row["bias"]), float(row["bias_se"]), where)]
    level, n = AB_ALPHA / 2, 2 * r
    out.append(Check("A/B, 3 arms: A/A rejection rate", "alpha / 2 per comparison", level,
                     float(table["aa_rate"].mean()), math.sqrt(level * (1 - level) / n),
                     f"both comparisons, {n} replicates"))
    out.append(Check("A/B, 3 arms: interval coverage", "1 - alpha / 2", 1 - level,
                     float(table["coverage"].mean()), math.sqrt(level * (1 - level) / n),
                     f"both comparisons, {n} replicates"))
    return out

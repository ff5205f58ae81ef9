"""Platform rules and law a scenario's plan would break, found before anything is simulated.

Each rule is one function `rule(scenario) -> list[Problem]` in `RULES`; a finding names its rule
id (domain-facts §3) in the message, e.g. `[LAW-MLM] ...`, is located at the scenario line that
causes it, and is an "error" (illegal, or banned outright) or a "warning" (a risk to review).
Numbers an experiment arm or a persona sets (`set: {mechanics.x.field: v}`) are checked too, and
located at that `set` line. To add a rule (SMS without opt-in, subscription sends above the
consents, group caps), write one function and append it to `RULES`.

`simctl validate` and `simctl run` report the findings; `--strict` turns warnings into errors.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from sim.errors import Problem
from sim.scenario import Scenario
from sim.yaml_lines import Path

Rule = Callable[[Scenario], list[Problem]]

COMMISSION_CAP = 0.30  # 直销管理条例 Art. 24: total pay <= 30% of own sales (an upper bound)
LEVELS = ("commission_l1", "commission_l2", "commission_l3")


def check_compliance(scenario: Scenario) -> list[Problem]:
    """Every finding of every rule, errors first, each once."""
    found: list[Problem] = []
    for rule in RULES:
        found += rule(scenario)
    unique = list({str(p): p for p in found}.values())
    return sorted(unique, key=lambda p: p.severity != "error")


# --- helpers -----------------------------------------------------------------------------------


def finding(scenario: Scenario, path: Path, rule: str, message: str,
            severity: str = "warning") -> Problem:
    """A problem located at `path` in the scenario file, tagged with its rule id."""
    return replace(scenario.problem(path, f"[{rule}] {message}"), severity=severity)


def mechanics_of(scenario: Scenario, kind: str) -> Iterator[tuple[str, Any]]:
    """(name, parameters) of every mechanic of one type."""
    for name, params in scenario.mechanics.items():
        if params.type == kind:
            yield name, params


def settings(scenario: Scenario, name: str, fields: tuple[str, ...]
             ) -> Iterator[tuple[Callable[[str], Path], dict[str, Any], set[str]]]:
    """The fields' values as the mechanic sets them, then as each arm or persona that sets any
    of them changes them: (where a field's value comes from, the values, the fields that view
    changes; empty for the mechanic's own values)."""
    base = {f: getattr(scenario.mechanics[name], f) for f in fields}

    def in_mechanic(field: str) -> Path:
        return ("mechanics", name, field)

    yield in_mechanic, base, set()
    groups: list[tuple[Path, list]] = [(("market", "personas"), scenario.market.personas)]
    if scenario.experiment is not None:
        groups.append((("experiment", "arms"), scenario.experiment.arms))
    for where, items in groups:
        for i, item in enumerate(items):
            keys = {f: f"mechanics.{name}.{f}" for f in fields}
            changed = {f: item.set[k] for f, k in keys.items() if k in item.set}
            if not changed:
                continue

            def located(field: str, i: int = i, where: Path = where,
                        changed: dict = changed, keys: dict = keys) -> Path:
                return (*where, i, "set", keys[field]) if field in changed \
                    else ("mechanics", name, field)

            yield located, {**base, **changed}, set(changed)


# --- LAW-MLM / WX-MLM: distribution schemes ----------------------------------------------------


def entry_fee(scenario: Scenario) -> list[Problem]:
    """Paying to become a distributor is pyramid selling (入门费)."""
    out = []
    for name, _ in mechanics_of(scenario, "distributors"):
        for where, v, _ in settings(scenario, name, ("entry_fee",)):
            if v["entry_fee"] > 0:
                out.append(finding(
                    scenario, where("entry_fee"), "LAW-MLM",
                    f"an entry fee of {v['entry_fee']:g} yuan to become a distributor is "
                    "pyramid selling (禁止传销条例 Art. 7(2)); WeChat also bans paid "
                    "eligibility (WX-MLM); set entry_fee: 0", "error"))
    return out


def commission_levels(scenario: Scenario) -> list[Problem]:
    """Paying on the downline's sales (团队计酬): 3 levels error, 2 levels warning."""
    out = []
    for name, _ in mechanics_of(scenario, "distributors"):
        for where, v, _ in settings(scenario, name, LEVELS):
            if v["commission_l3"] > 0:
                out.append(finding(
                    scenario, where("commission_l3"), "LAW-MLM",
                    "3 paid commission levels: paying uplines on downline sales is pyramid "
                    "selling (禁止传销条例 Art. 7(3)) and 3 levels with 30+ participants is the "
                    "criminal line (2013 SPC/SPP/MPS opinion); pay one level only", "error"))
            elif v["commission_l2"] > 0:
                out.append(finding(
                    scenario, where("commission_l2"), "LAW-MLM",
                    "2 paid commission levels (团队计酬, 禁止传销条例 Art. 7(3)); WeChat bans "
                    "multi-level distribution on its relationship chain (WX-MLM); one level "
                    "(a CPS rebate) is the safe design"))
    return out


def commission_cap(scenario: Scenario) -> list[Problem]:
    """Total commission above 30% of sales exceeds even the licensed direct sellers' cap."""
    out = []
    for name, _ in mechanics_of(scenario, "distributors"):
        for where, v, changed in settings(scenario, name, LEVELS):
            total = sum(v[f] for f in LEVELS)
            if total > COMMISSION_CAP + 1e-12:  # at the largest rate this view sets
                top = max(changed or LEVELS, key=lambda f: v[f])
                out.append(finding(
                    scenario, where(top), "LAW-MLM",
                    f"total commission {total:.0%} of sales is above the {COMMISSION_CAP:.0%} "
                    "cap on total pay for licensed direct sellers (直销管理条例 Art. 24)"))
    return out


# --- WX-SHARE: induced sharing -----------------------------------------------------------------


def share_rewards(scenario: Scenario) -> list[Problem]:
    """A reward for the act of sharing (money or points), not for a friend's real action, is
    induced sharing."""
    out = []
    for name, _ in mechanics_of(scenario, "referral"):
        for where, v, _ in settings(scenario, name, ("reward_per_share",)):
            if v["reward_per_share"] > 0:
                out.append(finding(
                    scenario, where("reward_per_share"), "WX-SHARE",
                    f"a reward of {v['reward_per_share']:g} yuan for sharing itself is induced "
                    "sharing (诱导分享, operations spec §5.1); reward the friend's registration "
                    "or first order instead"))
    for name, _ in mechanics_of(scenario, "points"):
        for where, v, _ in settings(scenario, name, ("share_points",)):
            if v["share_points"] > 0:
                out.append(finding(
                    scenario, where("share_points"), "WX-SHARE",
                    f"{v['share_points']} points for each share is a reward for sharing "
                    "itself, induced sharing (诱导分享, operations spec §5.1 names points); "
                    "give points for the friend's registration or order instead"))
    return out


def bargain_terms(scenario: Scenario) -> list[Problem]:
    """WeChat's 2020 rules: a bargain states how many friends it needs, with no random payoff."""
    out = []
    for name, params in mechanics_of(scenario, "bargain"):
        if not params.disclose_helpers:
            out.append(finding(
                scenario, ("mechanics", name, "disclose_helpers"), "WX-SHARE",
                "a bargain must state up front how many friends are needed (WeChat 2020 "
                f"sharing rules); show the {params.helpers_required} helpers required"))
        if params.random_cut:
            out.append(finding(
                scenario, ("mechanics", name, "random_cut"), "WX-SHARE",
                "random per-friend cuts are an uncertain payoff used to drive sharing (WeChat "
                "2020 sharing rules); use the deterministic schedule"))
    return out


# --- WX-EXTLINK: false group buying ------------------------------------------------------------


def simulated_fill(scenario: Scenario) -> list[Problem]:
    """Filling groups with virtual users makes group buying false (模拟成团)."""
    return [finding(scenario, ("mechanics", name, "simulated_fill"), "WX-EXTLINK",
                    "simulated fill (模拟成团) ships groups filled with virtual users: false "
                    "group buying is banned (WeChat external-link rules 2019; §3.2)")
            for name, params in mechanics_of(scenario, "group_buy") if params.simulated_fill]


RULES: list[Rule] = [entry_fee, commission_levels, commission_cap, share_rewards, bargain_terms,
                     simulated_fill]


# --- LAW-SMS / WX-SUBMSG / WX-GROUP: automation channels (sim/mechanics/automations.py) ------


def automation_channels(scenario: Scenario) -> list[Problem]:
    """SMS without opt-in, more subscription sends than consents, WeCom above its daily cap;
    only for channels that some rule uses."""
    out = []
    for name, params in mechanics_of(scenario, "automations"):
        used = {rule.channel for rule in params.rules}
        ch = params.channels
        where = ("mechanics", name, "channels")
        if "sms" in used and not ch.sms.respect_optin:
            out.append(finding(
                scenario, (*where, "sms", "respect_optin"), "LAW-SMS",
                "marketing SMS to users who did not opt in is illegal (MIIT 通信短信息服务管理规定 "
                "2015; Advertising Law Art. 43); set respect_optin: true", "error"))
        if "subscription" in used and ch.subscription.sends_per_consent > 1:
            out.append(finding(
                scenario, (*where, "subscription", "sends_per_consent"), "WX-SUBMSG",
                f"{ch.subscription.sends_per_consent} subscription messages per one-time "
                "consent: WeChat allows exactly one send per consent (§3.5)", "error"))
        if "wecom" in used and ch.wecom.max_per_day > 1:
            out.append(finding(
                scenario, (*where, "wecom", "max_per_day"), "WX-GROUP",
                f"{ch.wecom.max_per_day} WeCom mass messages per customer per day: WeCom "
                "allows one (§3.4)", "error"))
    return out


RULES += [automation_channels]

"""Every platform-rule / legal finding and the market-scaling note carry a Chinese message
(`Problem.zh`, shown under `--lang zh`) beside the unchanged English one, with the same rule id
and numbers."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from sim.compliance import check_compliance
from sim.errors import Problem
from sim.mechanics import REGISTRY
from sim.scenario import Scenario, load_scenario, parse_scenario
from tests.conftest import ROOT

PLAN = """\
name: t
days: 30
market:
  size: 1000
mechanics:
  dist:
    type: distributors
    commission_l1: 0.1
    entry_fee: 99
    commission_l2: 0.05
  dist3:
    type: distributors
    commission_l1: 0.3
    commission_l2: 0.05
    commission_l3: 0.02
  ref:
    type: referral
    reward_per_share: 2
  cut:
    type: bargain
    disclose_helpers: false
    random_cut: true
  gb:
    type: group_buy
    simulated_fill: true
"""

RETENTION_BREACHES = ["mechanics.points.share_points=5",
                      "mechanics.crm.channels.sms.respect_optin=false",
                      "mechanics.crm.channels.subscription.sends_per_consent=2",
                      "mechanics.crm.channels.wecom.max_per_day=3"]

CJK = re.compile(r"[\u4e00-\u9fff]")


def breaching() -> list[Scenario]:
    """Scenarios that, together, break every rule that a mechanic states."""
    return [parse_scenario(PLAN, "s.yaml"),
            load_scenario(ROOT / "scenarios" / "retention.yaml", RETENTION_BREACHES)]


def test_every_rule_writes_its_finding_in_chinese_too() -> None:
    """Every rule of every mechanic is broken here (a rule added without a breach here fails
    the test: add one), and each finding says in Chinese what it says in English."""
    rules = {rule for _, mechanic in REGISTRY.values() for rule in mechanic.compliance}
    fired: set[object] = set()
    for scenario in breaching():
        for name, params in scenario.mechanics.items():
            for rule in REGISTRY[params.type][1].compliance:
                found = rule(scenario, name, params)
                fired |= {rule} if found else set()
                for problem in found:
                    check_chinese(problem)
    assert {r.__qualname__ for r in rules - fired} == set(), "rules without a breach here"


def check_chinese(problem: Problem) -> None:
    """The Chinese message: written, with the rule id and every number of the English one."""
    rule = problem.message.split("]")[0] + "]"
    assert problem.zh.startswith(rule + " ") and CJK.search(problem.zh), problem.message
    said = problem.message
    while re.search(r"\([^()]*\)", said):  # leave out the sources in brackets
        said = re.sub(r"\([^()]*\)", "", said)
    numbers = set(re.findall(r"\d+(?:\.\d+)?%?", said))
    missing = {n for n in numbers if n not in problem.zh}
    assert not missing, (problem.message, problem.zh)
    english = problem.text()
    assert problem.text(chinese=True) != english and problem.message in english


def test_findings_read_in_chinese_at_the_same_place() -> None:
    found = {p.path: p for p in check_compliance(parse_scenario(PLAN, "s.yaml"))}
    share = found["mechanics.ref.reward_per_share"]
    assert share.text(chinese=True) == (
        "s.yaml:18: 警告: mechanics.ref.reward_per_share: [WX-SHARE] 为分享这一行为本身奖励 2 "
        "元属于诱导分享（《微信小程序平台运营规范》§5.1）；请改为在好友注册或下首单后再发奖励")
    assert share.text() == (
        "s.yaml:18: warning: mechanics.ref.reward_per_share: [WX-SHARE] a reward of 2 yuan for "
        "sharing itself is induced sharing (诱导分享, operations spec §5.1); reward the friend's "
        "registration or first order instead")
    fee = found["mechanics.dist.entry_fee"]
    assert fee.severity == "error" and "入门费" in fee.zh and "entry_fee: 0" in fee.zh
    assert "多级分销" in found["mechanics.dist.commission_l2"].zh
    assert "37%" in found["mechanics.dist3.commission_l1"].zh
    assert "刑事追诉" in found["mechanics.dist3.commission_l3"].zh


def test_arm_settings_are_said_in_chinese_at_the_set_line() -> None:
    arms = ("experiment:\n  arms:\n    - name: a\n      share: 0.5\n    - name: b\n"
            "      share: 0.5\n      set:\n        mechanics.dist.commission_l2: 0.25\n")
    text = PLAN.replace("    entry_fee: 99\n    commission_l2: 0.05\n", "")
    found = [p for p in check_compliance(parse_scenario(text + arms, "s.yaml"))
             if p.path.startswith("experiment")]
    assert [p.path for p in found] == ["experiment.arms.1.set.mechanics.dist.commission_l2"] * 2
    assert found[0].zh.startswith("[LAW-MLM] 2 级佣金属于团队计酬")
    assert found[1].zh.startswith("[LAW-MLM] 佣金合计占销售额的 35%，高于持牌直销企业报酬总额 "
                                  "30% 的上限")


def test_the_scaling_note_is_written_in_chinese_too() -> None:
    small = load_scenario(ROOT / "scenarios" / "growth.yaml", ["market.size=20000"])
    (note,) = small.notes
    assert note.message.startswith("market.size 20,000 is 0.02 x market.reference_size")
    assert note.zh.startswith("market.size 20,000 是 market.reference_size 1,000,000 的 0.02 "
                              "倍：以下数值已按比例缩放：mechanics.seed.count 20,000 -> 400；")
    assert note.text(chinese=True).startswith(f"{note.source}:{note.line}: 说明: "
                                              "market.reference_size: market.size 20,000 是")


@pytest.fixture
def gwarn(tmp_path) -> str:
    """growth.yaml with a reward per share, random bargain cuts and a second commission
    level (QA's reproduction)."""
    text = (ROOT / "scenarios" / "growth.yaml").read_text("utf-8")
    for old, new in (("reward_per_share: 0 ", "reward_per_share: 2 "),
                     ("random_cut: false", "random_cut: true"),
                     ("commission_l2: 0.0 ", "commission_l2: 0.05")):
        assert text.count(old) == 1
        text = text.replace(old, new)
    path = tmp_path / "gwarn.yaml"
    path.write_text(text, "utf-8")
    return str(path)


def test_validate_says_the_scaling_note_in_chinese(gwarn: str) -> None:
    zh = CliRunner().invoke(app, ["--lang", "zh", "validate", gwarn, "market.size=2000"])
    en = CliRunner().invoke(app, ["validate", gwarn, "market.size=2000"])
    assert zh.exit_code == en.exit_code == 0, zh.output
    assert ("说明: market.reference_size: market.size 2,000 是 market.reference_size 1,000,000 "
            "的 0.002 倍：以下数值已按比例缩放：mechanics.seed.count 20,000 -> 40；") in zh.stderr
    assert "scaled in proportion" not in zh.stderr and "scaled in proportion" in en.stderr


def test_validate_says_the_warnings_in_chinese(gwarn: str) -> None:
    zh = CliRunner().invoke(app, ["--lang", "zh", "validate", gwarn, "market.size=2000"])
    en = CliRunner().invoke(app, ["validate", gwarn, "market.size=2000"])
    assert zh.exit_code == en.exit_code == 0, zh.output
    assert ("警告: mechanics.referral.reward_per_share: [WX-SHARE] 为分享这一行为本身奖励 2 元"
            "属于诱导分享") in zh.stderr
    assert "警告: mechanics.bargain.random_cut: [WX-SHARE] 每位好友随机砍掉的金额" in zh.stderr
    assert "警告: mechanics.distributors.commission_l2: [LAW-MLM] 2 级佣金属于团队计酬" in \
        zh.stderr
    assert "induced sharing" not in zh.stderr and "诱导分享（" not in en.stderr
    assert "[WX-SHARE] a reward of 2 yuan for sharing itself" in en.stderr

"""`simctl units` then `simctl analyze`: a simulated test's export read as if it were real,
with its plan, on screen, as one JSON object and as a page."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT

runner = CliRunner()
AB = str(ROOT / "scenarios" / "ab_referral.yaml")
SMALL = ["market.size=20000", "mechanics.seed.count=600"]


def test_units_then_analyze_with_the_scenario_as_plan(tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    made = runner.invoke(app, ["units", AB, *SMALL, "--out", str(units)])
    assert made.exit_code == 0, made.stderr
    frame = pd.read_csv(units)
    assert set(frame.arm) == {"control", "reward_20"} and len(frame) == 20_000
    assert {"new_users", "purchases", "referral_cost"} <= set(frame.columns)
    page = tmp_path / "reading.html"
    read = runner.invoke(app, ["analyze", str(units), "--plan", AB, "--json", "--out",
                               str(page)])
    assert read.exit_code == 0, read.stderr
    doc = json.loads(read.stdout)  # exactly one JSON object on stdout
    assert doc["control"] == "control" and doc["plan"]["shares"] == {"control": 0.5,
                                                                     "reward_20": 0.5}
    roles = [(c["metric"], c["role"]) for c in doc["comparisons"]]
    assert roles == [("new_users", "primary"), ("purchases", "guardrail"),
                     ("referral_cost", "guardrail")]
    assert "sample ratio ok" in read.stderr and "decision:" in read.stderr
    assert doc["decisions"]["reward_20"].split(":")[0] in read.stderr
    assert "Relative lift" in page.read_text() and "Corrections applied" in page.read_text()


def test_power_plan_gives_alpha_allocation_and_correction(tmp_path: Path) -> None:
    plan = tmp_path / "plan.json"
    planned = runner.invoke(app, ["power", "--metric", "mean", "--baseline", "10", "--sd", "5",
                                  "--mde", "0.5", "--power", "0.8", "--arms", "3",
                                  "--correction", "bonferroni", "--alpha", "0.1", "--json"])
    assert planned.exit_code == 0, planned.stderr
    plan.write_text(planned.stdout)
    rows = [{"arm": arm, "gmv": 10 + i + (j % 5)} for i, arm in enumerate(["a", "b", "control"])
            for j in range(40)]
    units = tmp_path / "units.parquet"
    pd.DataFrame(rows).to_parquet(units)
    read = runner.invoke(app, ["analyze", str(units), "--plan", str(plan), "--metric", "gmv",
                               "--json"])
    assert read.exit_code == 0, read.stderr
    doc = json.loads(read.stdout)
    assert doc["plan"]["alpha"] == 0.1 and doc["corrections"][0].startswith("bonferroni")
    assert not doc["srm"]["mismatch"]


def _sequential_plan(tmp_path: Path) -> Path:
    planned = runner.invoke(app, ["power", "--metric", "mean", "--baseline", "10", "--sd", "5",
                                  "--mde", "0.5", "--power", "0.8", "--sequential",
                                  "obrien-fleming", "--looks", "4", "--json"])
    assert planned.exit_code == 0, planned.stderr
    plan = tmp_path / "plan.json"
    plan.write_text(planned.stdout)
    return plan


def _units(tmp_path: Path, shift: float, n: int = 400) -> Path:
    """Both arms the same normal quantiles (sd 5) apart by `shift`: z = shift / (5 sqrt(2/n))."""
    spread = 10 + 5 * stats.norm.ppf((np.arange(n) + 0.5) / n)
    frame = pd.DataFrame({"arm": np.repeat(["control", "treatment"], n),
                          "gmv": np.concatenate([spread, spread + shift])})
    path = tmp_path / f"units_{shift}.csv"
    frame.to_csv(path, index=False)
    return path


def test_a_planned_look_stops_only_past_its_boundary(tmp_path: Path) -> None:
    """O'Brien-Fleming at 4 looks: |z| must reach 4.05 at look 1, 2.02 at the last."""
    plan = _sequential_plan(tmp_path)
    args = ["--plan", str(plan), "--metric", "gmv", "--json"]
    modest = _units(tmp_path, 1.0)  # z about 2.8: past the last boundary, not the first
    first = json.loads(runner.invoke(app, ["analyze", str(modest), *args, "--look", "1"]).stdout)
    z = first["comparisons"][0]["test"]["statistic"]
    assert 2.1 < z < 4.0, z
    assert first["decisions"]["treatment"].startswith("continue to look 2")
    assert "group-sequential (obrien-fleming): look 1 of 4" in first["corrections"][1]
    last = json.loads(runner.invoke(app, ["analyze", str(modest), *args, "--look", "4"]).stdout)
    assert last["decisions"]["treatment"].startswith("ship treatment")
    strong = _units(tmp_path, 3.0)
    early = json.loads(runner.invoke(app, ["analyze", str(strong), *args, "--look", "1"]).stdout)
    assert early["decisions"]["treatment"].startswith("ship treatment")


def test_always_valid_intervals_are_wider_and_say_so(tmp_path: Path) -> None:
    units = str(_units(tmp_path, 1.0))
    fixed = json.loads(runner.invoke(app, ["analyze", units, "--metric", "gmv", "--json"]).stdout)
    valid = json.loads(runner.invoke(app, ["analyze", units, "--metric", "gmv", "--json",
                                           "--always-valid"]).stdout)
    f, v = fixed["comparisons"][0]["test"], valid["comparisons"][0]["test"]
    assert v["ci_upper"] - v["ci_lower"] > 1.3 * (f["ci_upper"] - f["ci_lower"])
    assert v["p_value"] > f["p_value"] and v["method"].endswith("always valid")
    assert any(c.startswith("always valid") for c in valid["corrections"])


def test_looks_that_cannot_be_read_are_refused(tmp_path: Path) -> None:
    units, plan = str(_units(tmp_path, 1.0)), str(_sequential_plan(tmp_path))
    for args, fragment in ((["--look", "1"], "the plan has no group-sequential boundaries"),
                           (["--plan", plan, "--look", "5"], "the plan has looks 1..4"),
                           (["--plan", plan, "--look", "1", "--always-valid"], "not both")):
        result = runner.invoke(app, ["analyze", units, "--metric", "gmv", *args])
        assert result.exit_code == 2 and fragment in result.stderr, result.stderr


def test_a_conversion_from_a_control_of_zero_reads_as_an_absolute_effect(tmp_path: Path) -> None:
    """0/1000 against 5/1000: the lift is undefined, but the pooled z test is not (statsmodels'
    proportions_ztest gives the same z); the readout gives the absolute effect, JSON has null."""
    from statsmodels.stats.proportion import proportions_ztest

    units = tmp_path / "u.csv"
    pd.DataFrame({"arm": ["control"] * 1000 + ["treatment"] * 1000,
                  "converted": [0] * 1000 + [1] * 5 + [0] * 995}).to_csv(units, index=False)
    read = runner.invoke(app, ["analyze", str(units), "--metric", "converted", "--json",
                               "--out", str(tmp_path / "r.html")])
    assert read.exit_code == 0, read.output
    test = json.loads(read.stdout)["comparisons"][0]["test"]
    z, p = proportions_ztest([5, 0], [1000, 1000])
    assert test["statistic"] == pytest.approx(z) and test["p_value"] == pytest.approx(p)
    assert test["absolute_effect"] == pytest.approx(0.005) and test["relative_effect"] is None
    assert "+0.005 (absolute; control 0)" in read.stderr and "nan" not in read.stderr
    page = (tmp_path / "r.html").read_text()
    assert "<td>+0.005 (absolute; control 0)</td>" in page and "+nan%" not in page


def test_the_readout_speaks_chinese_with_lang_zh(tmp_path: Path) -> None:
    """Every line of the on-screen reading (SRM, decision, table, corrections) follows --lang;
    the JSON keeps its English verdicts, which scripts read."""
    units = _units(tmp_path, shift=2.0)
    read = runner.invoke(app, ["--lang", "zh", "analyze", str(units), "--metric", "gmv",
                               "--guardrail", "gmv:lower", "--json"])
    assert read.exit_code == 0, read.output
    for words in ("对照组", "样本比例正常", "决策", "不上线", "护栏指标", "提升 [区间]", "更差",
                  "校正: 无校正"):
        assert words in read.stderr, words
    for english in ("decision", "sample ratio", "correction", "verdict", "guardrail"):
        assert english not in read.stderr, english
    assert json.loads(read.stdout)["comparisons"][0]["verdict"] == "better"
    english = runner.invoke(app, ["analyze", str(units), "--metric", "gmv", "--guardrail",
                                  "gmv:lower", "--json"])
    assert json.loads(read.stdout) == json.loads(english.stdout)  # sentences included
    pages = {lang: tmp_path / f"{lang}.html" for lang in ("en", "zh")}
    for lang, path in pages.items():
        flag = ["--lang", "zh"] if lang == "zh" else []
        assert runner.invoke(app, [*flag, "analyze", str(units), "--metric", "gmv",
                                   "--out", str(path)]).exit_code == 0
    zh, en = (pages[lang].read_text("utf-8") for lang in ("zh", "en"))
    for words in ('lang="zh-CN"', "实验解读：", "决策</h2>", "全部比较", "已应用的校正",
                  "样本比例正常", "<td>更好</td>", "<td>主要指标</td>"):
        assert words in zh, words
    for words in ("Every comparison", "Corrections applied", "<td>better</td>", "[red]"):
        assert words not in zh, words
    assert "Every comparison" in en and "<td>better</td>" in en and "实验解读" not in en


def test_sequential_and_always_valid_corrections_speak_chinese_with_lang_zh(
        tmp_path: Path) -> None:
    """The line of a planned group-sequential look (序贯检验) and of always-valid intervals
    (随时有效), and the plan's note, follow --lang; the numbers are the English ones."""
    units, plan = str(_units(tmp_path, 1.0)), str(_sequential_plan(tmp_path))
    looked = [runner.invoke(app, [*lang, "analyze", units, "--plan", plan, "--metric", "gmv",
                                  "--look", "1"]) for lang in ([], ["--lang", "zh"])]
    always = [runner.invoke(app, [*lang, "analyze", units, "--metric", "gmv", "--always-valid"])
              for lang in ([], ["--lang", "zh"])]
    for read in (*looked, *always):
        assert read.exit_code == 0, read.output
    assert ("correction: group-sequential (obrien-fleming): look 1 of 4, boundary |z| >= 4.049"
            in looked[0].stderr)
    assert "plan: allocation from the power plan: control 1 : treatment 1 each" in \
        looked[0].stderr
    assert "校正: 成组序贯检验（obrien-fleming）：第 1 次查看（共 4 次），边界 |z| >= 4.049" in \
        looked[1].stderr
    assert "计划: 分组比例来自功效计划：对照组 1 : 每个实验组 1" in looked[1].stderr
    assert "correction: always valid: intervals and p-values hold at every look" in \
        always[0].stderr
    zh = "".join(always[1].stderr.split())
    assert "校正:随时有效：区间与p值在每次查看时同时成立（置信序列，Waudby-Smith等，2023）" in zh
    for english in ("group-sequential", "look", "boundary", "allocation", "always valid",
                    "intervals", "confidence sequences", "tuned", "units read", "plan"):
        assert english not in looked[1].stderr + always[1].stderr, english


def test_a_plan_randomised_by_cluster_reads_the_cluster_column(tmp_path: Path) -> None:
    """ab_referral.yaml with `unit: cluster`: the plan's shares are shares of circles, so the
    reading counts circles and uses cluster-robust errors, as `--cluster cluster` does (it read
    users and cried SRM, p ~ 1e-98); a file without the column is refused naming --cluster."""
    plan = tmp_path / "clustered.yaml"
    plan.write_text(Path(AB).read_text(encoding="utf-8").replace("  unit: user ",
                                                                 "  unit: cluster "))
    units = tmp_path / "units.csv"
    made = runner.invoke(app, ["units", str(plan), "market.size=5000", "--out", str(units)])
    assert made.exit_code == 0, made.output
    by_plan = runner.invoke(app, ["analyze", str(units), "--plan", str(plan), "--json"])
    by_hand = runner.invoke(app, ["analyze", str(units), "--plan", str(plan), "--json",
                                  "--cluster", "cluster"])
    assert by_plan.exit_code == 0, by_plan.output
    doc = json.loads(by_plan.stdout)
    assert doc["comparisons"] == json.loads(by_hand.stdout)["comparisons"]
    clusters = pd.read_csv(units).groupby("arm")["cluster"].nunique().to_dict()
    assert doc["units"] == clusters and not doc["srm"]["mismatch"]
    assert "randomised by cluster" in by_plan.stderr
    zh = runner.invoke(app, ["--lang", "zh", "analyze", str(units), "--plan", str(plan)])
    assert "计划: 随机单位为 cluster：按 `cluster` 列" in zh.stderr, zh.output
    pd.read_csv(units).drop(columns="cluster").to_csv(tmp_path / "bare.csv", index=False)
    bare = runner.invoke(app, ["analyze", str(tmp_path / "bare.csv"), "--plan", str(plan)])
    assert bare.exit_code == 2 and "--cluster" in bare.stderr
    assert "did you mean" not in bare.stderr and "columns are user, arm" in bare.stderr


def test_dunnett_refuses_cuped_rather_than_dropping_it(tmp_path: Path) -> None:
    """Dunnett runs on raw per-user values: with --cuped it silently read the unadjusted
    metric under a 'CUPED' label; now it is refused like a ratio or clusters."""
    rng = np.random.default_rng(5)
    pre = rng.normal(10, 3, 900)
    frame = pd.DataFrame({"arm": np.repeat(["control", "t1", "t2"], 300), "pre": pre,
                          "gmv": pre + rng.normal(0, 1, 900)})
    frame.to_csv(tmp_path / "u.csv", index=False)
    read = runner.invoke(app, ["analyze", str(tmp_path / "u.csv"), "--metric", "gmv",
                               "--cuped", "gmv=pre", "--correction", "dunnett"])
    assert read.exit_code == 2 and "dunnett needs one value per user" in read.stderr
    plain = runner.invoke(app, ["analyze", str(tmp_path / "u.csv"), "--metric", "gmv",
                                "--correction", "dunnett"])
    assert plain.exit_code == 0, plain.output


def test_statistics_with_a_negative_variance_are_refused(tmp_path: Path) -> None:
    """sum_squares below sum^2 / n (2,000,000 < 50,000^2 / 1,000) is a wrong export: it was
    clipped to a variance of 0 and read as a narrow interval."""
    path = tmp_path / "stats.csv"
    path.write_text("arm,metric,n,sum,sum_squares\ncontrol,gmv,1000,50000,2000000\n"
                    "t1,gmv,1000,52000,5200000\n")
    read = runner.invoke(app, ["analyze", str(path), "--metric", "gmv", "--control", "control"])
    assert read.exit_code == 2
    assert read.stderr.startswith(f"{path}:2: sum_squares: 2,000,000 is below sum^2 / n = "
                                  "2,500,000")


def test_chinese_column_names_are_metrics(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    frame = pd.DataFrame({"组别": np.repeat(["control", "treatment"], 200),
                          "订单数": rng.poisson(2.0, 400), "访问": rng.poisson(9.0, 400) + 1})
    frame.to_csv(tmp_path / "u.csv", index=False)
    read = runner.invoke(app, ["analyze", str(tmp_path / "u.csv"), "--arm-column", "组别",
                               "--metric", "订单数", "--guardrail", "订单数/访问:higher", "--json"])
    assert read.exit_code == 0, read.output
    assert [c["metric"] for c in json.loads(read.stdout)["comparisons"]] == ["订单数",
                                                                           "订单数/访问"]


def test_always_valid_reading_is_tuned_to_the_plans_always_valid_size(tmp_path: Path) -> None:
    """A plan made with --always-valid runs to its larger n (6,012 here, 1.91x 3,140): the
    sequence is tuned there, not at the fixed-sample n."""
    planned = runner.invoke(app, ["power", "--metric", "mean", "--baseline", "10", "--sd", "5",
                                  "--mde", "0.5", "--power", "0.8", "--always-valid", "--json"])
    plan = tmp_path / "plan.json"
    plan.write_text(planned.stdout)
    assert json.loads(planned.stdout)["always_valid"]["n_total_units"] == 6012
    read = runner.invoke(app, ["analyze", str(_units(tmp_path, 0.5)), "--metric", "gmv",
                               "--plan", str(plan), "--always-valid", "--json"])
    assert read.exit_code == 0, read.output
    assert json.loads(read.stdout)["plan"]["planned_n"] == 6012
    assert "tuned to 6,012 planned units" in read.stderr


def test_json_under_zh_is_the_english_json_with_a_plan_and_dunnett(tmp_path: Path) -> None:
    """--json under --lang zh is the English reading, the plan's notes included, and Dunnett's
    Monte Carlo p-values and intervals are seeded: the screen, the JSON and a rerun agree."""
    plan, units = str(_sequential_plan(tmp_path)), str(_units(tmp_path, 1.0))
    args = ["analyze", units, "--plan", plan, "--metric", "gmv", "--look", "1", "--json"]
    zh, en = (runner.invoke(app, [*lang, *args]) for lang in (["--lang", "zh"], []))
    assert zh.exit_code == 0, zh.output
    assert json.loads(zh.stdout) == json.loads(en.stdout)
    assert "分组比例" in zh.stderr and "allocation from the power plan" in zh.stdout
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"arm": np.repeat(["control", "t1", "t2", "t3"], 300),
                          "gmv": rng.normal(10, 3, 1200)})
    frame.to_csv(tmp_path / "four.csv", index=False)
    reads = [runner.invoke(app, [*lang, "analyze", str(tmp_path / "four.csv"), "--metric",
                                 "gmv", "--correction", "dunnett", "--json"])
             for lang in ([], ["--lang", "zh"], [])]
    docs = [json.loads(read.stdout) for read in reads]
    assert docs[0] == docs[1] == docs[2]


def test_a_wrong_path_is_said_before_any_missing_option(tmp_path: Path) -> None:
    """`simctl analyze nope.csv` without --metric: the path is the likelier mistake."""
    for target, said in ((tmp_path / "nope.csv", "no such file"), (tmp_path, "is a folder")):
        result = runner.invoke(app, ["analyze", str(target)])
        assert result.exit_code == 2, result.output
        assert result.stderr.startswith(f"{target}: {said}"), result.stderr
        assert "--metric" not in result.stderr


def test_a_guardrail_growthsim_does_not_know_must_say_which_way_is_worse(
        tmp_path: Path) -> None:
    """Refunds up 55% read as "better" under the old default (higher is better) and the
    decision was to ship; a column growthsim does not know now needs :lower or :higher."""
    rng = np.random.default_rng(7)
    refunds = np.r_[rng.normal(10.0, 2.0, 300), rng.normal(15.5, 2.0, 300)]
    frame = pd.DataFrame({"arm": np.repeat(["control", "treatment"], 300),
                          "gmv": rng.normal(100.0, 5.0, 600) + np.repeat([0.0, 3.0], 300),
                          "refund_amt": refunds})
    frame.to_csv(tmp_path / "u.csv", index=False)
    args = ["analyze", str(tmp_path / "u.csv"), "--metric", "gmv", "--guardrail"]
    unsaid = runner.invoke(app, [*args, "refund_amt"])
    assert unsaid.exit_code == 2 and unsaid.stdout == ""
    assert unsaid.stderr.startswith("--guardrail: 'refund_amt' is not a growthsim metric"), \
        unsaid.stderr
    assert "refund_amt:lower" in unsaid.stderr
    said = runner.invoke(app, [*args, "refund_amt:lower", "--json"])
    assert said.exit_code == 0, said.output
    assert json.loads(said.stdout)["decisions"]["treatment"].startswith("do not ship")
    known = runner.invoke(app, [*args, "gmv", "--json"])  # growthsim's metric: direction known
    assert known.exit_code == 0, known.output


def test_a_user_twice_is_refused_and_a_metric_twice_is_read_once(tmp_path: Path) -> None:
    """A join that repeats 300 rows made SRM look fine and every interval narrower; the same
    --metric twice made a Holm family of two and doubled the p-value."""
    rng = np.random.default_rng(8)
    frame = pd.DataFrame({"user": np.arange(600), "arm": np.repeat(["control", "treatment"], 300),
                          "gmv": rng.normal(100.0, 5.0, 600) + np.repeat([0.0, 1.0], 300)})
    frame.to_csv(tmp_path / "u.csv", index=False)
    pd.concat([frame, frame.iloc[[5]]]).to_csv(tmp_path / "twice.csv", index=False)
    twice = runner.invoke(app, ["analyze", str(tmp_path / "twice.csv"), "--metric", "gmv"])
    assert twice.exit_code == 2 and twice.stdout == ""
    assert twice.stderr.startswith(f"{tmp_path / 'twice.csv'}:602: user: user '5' again "
                                   "(first at row 7)"), twice.stderr
    once, double = (json.loads(runner.invoke(app, ["analyze", str(tmp_path / "u.csv"),
                                                    *["--metric", "gmv"] * k, "--json"]).stdout)
                    for k in (1, 2))
    assert double["comparisons"] == once["comparisons"] and len(once["comparisons"]) == 1

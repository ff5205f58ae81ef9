"""`simctl --lang zh power`: the table, its notes and warnings in Chinese with the numbers of the
English table; `--json` keeps English (scripts read it) whatever the language."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

from typer.testing import CliRunner

from experiments.cli.commands import app

runner = CliRunner()

# Every row of the table, every note and the peeking warning: sequential, clusters, CUPED,
# guardrails, an optimal ratio, several arms, days.
SEQUENTIAL = shlex.split(
    "--metric proportion --baseline 0.05 --mde 0.1 --relative --power 0.8 --arms 3 "
    "--correction holm --daily-traffic 20000 --allocation 0.5 --round-weeks --cuped-r 0.5 "
    "--icc 0.01 --cluster-size 50 --cluster-cv 0.3 --sequential obrien-fleming --looks 4 "
    "--guardrails 1 --continuity-correction")
POWERED = shlex.split(
    "--metric mean --sd 5 --sd-treatment 6 --baseline 10 --n 300 --mde 0.5 --test t "
    "--sequential pocock --looks 3 --treatment-ratio optimal --non-inferiority-margin 0.2 "
    "--guardrails 2 --guardrail-power bonferroni")
ALWAYS_VALID = shlex.split("--metric mean --baseline 10 --sd 5 --mde 0.5 --power 0.8 "
                           "--always-valid")
# English words of the sentences and labels translated (the option values that stay, such
# as holm, obrien-fleming, proportion or pooled, are not among them).
ENGLISH = ("quantity", "value", "solved", "sample size", "metric", "variance", "baseline",
           "absolute", "relative", "margin", "per test", "alpha per", "at alpha", "sides",
           "comparison", "critical", "treatment", "control", "total", "factor",
           "design effect", "clusters", "days", "planned", "looks", "inflation", "expected",
           "under", "boundaries", "information", "nominal", "cumulative", "note", "warning",
           "peeking", "false-positive", "sized", "conservative", "guardrail", "optimal",
           "normal", "approximation", "drift", "integrated", "always valid", "peek at will",
           "the users", "per arm", "instead", "continuity", "noncentral", "pooled p",
           "Spotify's rule")


def _zh(args: list[str]) -> str:
    result = runner.invoke(app, ["--lang", "zh", "power", *args])
    assert result.exit_code == 0, result.output
    return result.stdout + result.stderr  # the answer, then the warnings


def _leftover_english(text: str) -> list[str]:
    return [w for w in ENGLISH if re.search(rf"\b{re.escape(w)}\b", text, re.IGNORECASE)]


def test_the_power_table_speaks_chinese_with_lang_zh() -> None:
    out = _zh(SEQUENTIAL)
    for words in ("simctl power：求解样本量", "项目", "数值", "指标类型", "比例（proportion）",
                  "方差公式", "含连续性校正", "最小可检测效应 MDE（绝对）", "显著性水平 α / 侧数",
                  "多重比较校正（2 个比较）", "对照组样本量（求解）", "每个实验组样本量",
                  "CUPED 方差因子", "设计效应", "簇数 对照组 / 实验组", "天数（计划）",
                  "序贯检验", "obrien-fleming，4 次查看", "样本量膨胀因子",
                  "成组序贯检验边界", "累计 α", "注: holm 按其第一步", "注: 护栏指标：1 + 1 个检验",
                  "警告: 在 4 次等间隔查看时用未校正的检验（α = 0.025）偷看结果，假阳性率为 0.067"):
        assert words in out, words
    assert _leftover_english(out) == []


def test_solved_power_sequential_notes_and_always_valid_speak_chinese() -> None:
    powered = _zh(POWERED)
    for words in ("simctl power：求解功效", "功效（求解）", "每个检验的功效（按护栏分摊）",
                  "非劣效界值（绝对）", "非中心 t 分布", "注: 序贯检验功效",
                  "成组序贯检验边界使用正态近似",
                  "注: 最优比例：Neyman 分配", "按 Spotify 规则 1 - beta/(G+1)"):
        assert words in powered, words
    always = _zh(ALWAYS_VALID)
    assert "注: 随时有效（可随时查看）：在计划样本量下置信序列需 |z| >= 3.035，而非 1.960" in always
    assert "每组 3,006" in always.replace("\n", "")
    assert _leftover_english(powered + always) == []


def test_the_chinese_table_has_the_english_numbers() -> None:
    """Same cells in the same order: only the words differ."""
    english = runner.invoke(app, ["power", *SEQUENTIAL]).stdout
    chinese = _zh(SEQUENTIAL)
    number = r"[-+]?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?%?"
    cells = re.compile(rf"│[^│\n]*?\s({number})\s*│\n")
    assert cells.findall(english) == cells.findall(chinese) != []
    assert "数值" in chinese and "数值" not in english
    assert "note: holm sized at its first step (alpha/m, as Bonferroni): conservative" in english


def test_json_keeps_english_notes_under_lang_zh() -> None:
    for args in (SEQUENTIAL, POWERED, ALWAYS_VALID):
        english = runner.invoke(app, ["power", *args, "--json"])
        chinese = runner.invoke(app, ["--lang", "zh", "power", *args, "--json"])
        assert chinese.exit_code == 0, chinese.output
        assert json.loads(chinese.stdout) == json.loads(english.stdout)
    doc = json.loads(chinese.stdout)
    assert doc["always_valid"]["note"].startswith("always valid (peek at will)")


def test_the_note_of_a_plan_from_an_ab_folder_speaks_chinese(tmp_path: Path) -> None:
    row = {"metric": "new_users", "unit": "cluster", "arm": "reward_20", "size": 1.0,
           "duration": 20, "control_mean": 0.05, "estimate": 0.01, "true_effect": 0.012,
           "relative_bias": -1 / 6, "mean_se": 0.004, "n_control": 500, "n_treatment": 500}
    (tmp_path / "summary.json").write_text(json.dumps({"primary_metric": "new_users",
                                                       "designs": [row]}))
    out = _zh(["--metric", "mean", "--from-ab", str(tmp_path), "--power", "0.8"])
    flat = "".join(out.split())
    assert "来自" in out and "new_users（reward_20对比对照组）按cluster随机、历时20天" in flat
    assert "估计效应0.01，真实效应0.012（偏差-17%）" in flat
    assert _leftover_english(out) == []

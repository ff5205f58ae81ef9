"""The sweep, sensitivity and optimisation reports follow the language (`simctl --lang zh`,
GROWTHSIM_LANG=zh): the Chinese page has lang="zh-CN" and Chinese headings, intro, panel titles,
axis titles and table headers; the English page keeps its words; summary.json and the numbers
are the same in both languages (data stays English)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.experiments.runs.test_sweep import REFERENCE, app, invoke, runner

SMALL = ["market.size=2000", "days=40"]
CJK = re.compile(r"[\u4e00-\u9fff]")
P, Q = "mechanics.acquisition.p", "mechanics.acquisition.q"
TIMES = ("wall_seconds", "compute_seconds")  # differ from run to run, whatever the language


def _run(tmp_path: Path, lang: str, *args: str, code: int = 0) -> Path:
    """One command in `lang` (before the command, as `simctl --lang zh sweep ...`), its run
    folder under tmp_path/lang."""
    done = invoke("--lang", lang, *args, "--out", str(tmp_path / lang), "--quiet")
    assert done.exit_code == code, done.output
    return Path(done.stdout.strip())


def _both(tmp_path: Path, *args: str, code: int = 0) -> tuple[Path, Path]:
    return _run(tmp_path, "en", *args, code=code), _run(tmp_path, "zh", *args, code=code)


def _page(folder: Path) -> str:
    """report.html with plotly's \\uXXXX escapes decoded, so figure texts read as written."""
    text = (folder / "report.html").read_text(encoding="utf-8")
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


def _words(page: str) -> str:
    """The page but plotly.js (its date parser has Chinese, its code " vs ") and the
    scenario's YAML."""
    words = re.sub(r'<script type="text/javascript">.*?</script>', "", page, count=1,
                   flags=re.S)
    return re.sub(r"<pre>.*?</pre>", "", words, flags=re.S)


def _no_chinese(page: str) -> bool:
    return not CJK.search(_words(page))


def _summary(folder: Path) -> dict[str, Any]:
    """summary.json but its times, and the run folder and free memory a failure's error
    names."""
    text = (folder / "summary.json").read_text(encoding="utf-8")
    assert not CJK.search(text), "summary.json stays English"
    text = text.replace(str(folder), "RUN_DIR")
    text = re.sub(r"only [0-9.]+ [KMGT]B is available", "only … is available", text)
    return {k: v for k, v in json.loads(text).items() if k not in TIMES}


def _same_data(en: Path, zh: Path) -> None:
    """summary.json identical (but times); the figures' numbers and the tables' numeric cells
    identical in both pages."""
    assert _summary(en) == _summary(zh)
    en_page, zh_page = _page(en), _page(zh)
    for pattern in (r'"bdata":"([^"]+)"', r"<td>([-+0-9.e]+|NaN|True|False)</td>"):
        assert re.findall(pattern, en_page) == re.findall(pattern, zh_page)


def test_sweep_report_follows_the_language_one_parameter(tmp_path: Path) -> None:
    en, zh = _both(tmp_path, "sweep", REFERENCE, *SMALL, "--param", f"{P}=0.01,0.02",
                   "--replicates", "2")
    _same_data(en, zh)
    english, chinese = _page(en), _page(zh)
    assert '<html lang="en">' in english and "<h1>Sweep: reference</h1>" in english
    assert "grid design over mechanics.acquisition.p: 2 points × 2 replicate(s)" in english
    assert "bands and error bars are 95% t intervals" in english
    assert f"purchases vs {P}" in english and "<p>No failures.</p>" in english
    assert "<h2>Base scenario</h2>" in english and _no_chinese(english)
    assert '<html lang="zh-CN">' in chinese and "<title>growthsim 参数扫描 · reference" in chinese
    assert "<h1>参数扫描：reference</h1>" in chinese
    assert f"网格（grid）设计，参数 {P}：2 个点 × 2 次重复" in chinese
    assert "均值的 95% t 置信区间" in chinese and "各点使用共同随机数" in chinese
    assert f"订单量 随 {P} 变化" in chinese and f"GMV（成交额） 随 {P} 变化" in chinese
    assert "<p>没有失败。</p>" in chinese and "<h2>基础场景</h2>" in chinese
    assert "Sweep:" not in _words(chinese) and " vs " not in _words(chinese)


def test_sweep_report_follows_the_language_heatmaps(tmp_path: Path) -> None:
    en, zh = _both(tmp_path, "sweep", REFERENCE, *SMALL, "--param", f"{P}=0.01,0.02",
                   "--param", f"{Q}=0.1,0.3")
    _same_data(en, zh)
    english, chinese = _page(en), _page(zh)
    assert '"type":"heatmap"' in english and "<br>mean=%{z}" in english
    assert '"text":"purchases"' in english  # a panel's title: the metric
    assert '"type":"heatmap"' in chinese and "<br>均值=%{z}" in chinese
    assert '"text":"订单量"' in chinese and f'"text":"{P}"' in chinese  # axes keep the paths


def test_sweep_failures_table_follows_the_language(tmp_path: Path) -> None:
    # 10^12 users cannot fit in memory: the engine refuses that point (exit 1, table kept)
    en, zh = _both(tmp_path, "sweep", REFERENCE, "days=30", "--param",
                   "market.size=2000,1000000000000", code=1)
    _same_data(en, zh)
    assert "<h2>Failures (1)</h2>" in _page(en) and "<th>replicate</th>" in _page(en)
    chinese = _page(zh)
    assert "<h2>失败（1）</h2>" in chinese
    assert "<th>点</th><th>重复</th><th>参数</th><th>错误</th>" in chinese
    assert "users need about" in chinese  # the engine's error, as in summary.json


def test_sensitivity_report_follows_the_language(tmp_path: Path) -> None:
    en, zh = _both(tmp_path, "sensitivity", REFERENCE, *SMALL, "--param", f"{P}=0.005..0.02",
                   "--param", f"{Q}=0.1..0.5", "--outputs", "purchases,gmv", "--points", "4",
                   "--method", "both")
    _same_data(en, zh)
    english, chinese = _page(en), _page(zh)
    assert '<html lang="en">' in english and "<h1>Sensitivity: reference</h1>" in english
    assert f"both over {P}, {Q}; outputs purchases, gmv; 28 simulations" in english
    for words in ("<h2>Morris screening</h2>", "<h2>Sobol indices</h2>", "mu* (± 95% CI)",
                  "S1 and ST (± 95% CI)", "<th>method</th>", "<th>metric</th>",
                  "<th>param</th>", "<td>purchases</td>"):
        assert words in english, words
    assert _no_chinese(english)
    assert '<html lang="zh-CN">' in chinese and "<h1>敏感性分析：reference</h1>" in chinese
    assert "Morris 筛选与 Sobol 指数（both）" in chinese
    assert "输出指标 订单量 purchases、GMV（成交额） gmv；28 次模拟" in chinese
    for words in ("<h2>Morris 筛选</h2>", "<h2>Sobol 指数</h2>", "自助法区间",
                  "mu*（± 95% 置信区间）", "S1 与 ST（± 95% 置信区间）", '"text":"订单量"',
                  "<th>方法</th>", "<th>指标</th>", "<th>参数</th>", "<th>mu_star</th>",
                  "<th>ST</th>", "<td>订单量 purchases</td>", '"name":"ST"'):
        assert words in chinese, words
    assert "Sensitivity:" not in _words(chinese) and "Morris screening" not in chinese


@pytest.mark.parametrize("setting", ["option", "env"])
def test_optimize_report_follows_the_language(tmp_path: Path, setting: str) -> None:
    args = ["optimize", REFERENCE, *SMALL, "--maximize", "gmv", "--param", f"{P}=0.001..0.05",
            "--constraint", "churned_users<=5000", "--trials", "6", "--batch", "3"]
    en = _run(tmp_path, "en", *args)
    if setting == "option":
        zh = _run(tmp_path, "zh", *args)
    else:  # GROWTHSIM_LANG=zh, no --lang
        done = runner.invoke(app, [*args, "--out", str(tmp_path / "zh"), "--quiet"],
                             env={"COLUMNS": "200", "GROWTHSIM_LANG": "zh"})
        assert done.exit_code == 0, done.output
        zh = Path(done.stdout.strip())
    _same_data(en, zh)
    english, chinese = _page(en), _page(zh)
    assert '<html lang="en">' in english and "<h1>Optimise: reference</h1>" in english
    assert f"maximize gmv over {P}; 6 trials in batches of 3" in english
    assert "Grey = infeasible. Best: {" in english
    for words in ("gmv vs churned_users", f"gmv vs {P}", '"trial 0"', "<th>trial</th>",
                  "<th>gmv</th>", "<th>churned_users</th>", "<th>feasible</th>"):
        assert words in english, words
    assert _no_chinese(english)
    assert '<html lang="zh-CN">' in chinese and "<h1>优化：reference</h1>" in chinese
    assert f"最大化 GMV（成交额） gmv，参数 {P}；6 次试验，每批 3 次" in chinese
    assert "灰色 = 不可行（未满足约束）。最优：{" in chinese
    for words in ("GMV（成交额） 随 流失用户 变化", f"GMV（成交额） 随 {P} 变化", '"试验 0"',
                  '"text":"流失用户"', f'"text":"{P}"', "<th>试验</th>",
                  "<th>GMV（成交额） gmv</th>", "<th>流失用户 churned_users</th>",
                  "<th>可行</th>", f"<th>{P}</th>"):
        assert words in chinese, words
    assert "Optimise:" not in _words(chinese) and " vs " not in _words(chinese)


def test_optimize_report_says_no_best_in_chinese(tmp_path: Path) -> None:
    """No trial meets the constraint: the Chinese intro says so in words, not `null -> None`."""
    zh = _run(tmp_path, "zh", "optimize", REFERENCE, *SMALL, "--maximize", "gmv", "--param",
              f"{P}=0.001..0.05", "--constraint", "acquired_users<=1", "--trials", "3",
              "--batch", "3", code=1)
    assert _summary(zh)["best_params"] is None
    assert "最优：无（没有试验满足全部约束）。" in _page(zh)


def test_metrics_without_any_value_are_named_not_drawn_empty() -> None:
    """LTV at 90 days over a 90-day horizon drew six empty panels with no word."""
    import pandas as pd

    from experiments.runs.sweep_report import sweep_figure, undrawn

    summary = pd.DataFrame({"metric": ["gmv", "gmv", "ltv_90d_gmv", "ltv_90d_gmv"],
                            "x": [1.0, 2.0, 1.0, 2.0], "mean": [5.0, 6.0, None, None],
                            "ci_low": [4.0, 5.0, None, None], "ci_high": [6.0, 7.0, None, None]})
    assert undrawn(summary) == ["ltv_90d_gmv"]
    figure = sweep_figure(summary, ["x"], "grid")
    assert [a.text for a in figure.layout.annotations] == ["gmv vs x"]

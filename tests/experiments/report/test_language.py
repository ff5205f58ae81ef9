"""中文 and English (issue 19): every metric has a Chinese name and unit, the pages and the CLI's
summary lines follow `--lang` / GROWTHSIM_LANG, numbers never show in scientific notation, and a
wrong language is one located line with nothing written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

import sim
from experiments.cli import app
from experiments.report.language import current, parse_lang, use
from experiments.report.parts import fmt
from experiments.report.report import report_html
from experiments.runs.outputs import summary_document
from sim.metric import UNITS_ZH, Metric
from sim.metrics import METRICS
from tests.conftest import ROOT

runner = CliRunner()
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_metric_has_a_chinese_name_and_unit() -> None:
    for name, metric in METRICS.items():
        assert CJK.search(metric.zh), name
        assert CJK.search(metric.zh_unit) or metric.zh_unit in UNITS_ZH.values(), name
    assert METRICS["aov"].zh_unit == "元/单" and METRICS["gmv"].zh_daily_unit == "元/天"


def test_a_metric_without_a_chinese_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="UNITS_ZH"):
        Metric("x", "widgets", "flow", "", ("x",), compute=lambda c: c["x"], zh="某物")
    with pytest.raises(ValueError, match="Chinese name"):
        Metric("x", "users", "flow", "", ("x",), compute=lambda c: c["x"])


@pytest.mark.parametrize(("text", "lang"), [("zh", "zh"), ("zh-CN", "zh"), ("zh_TW", "zh"),
                                            ("EN", "en"), ("en_US.UTF-8", "en"), ("", None)])
def test_language_codes(text: str, lang: str | None) -> None:
    assert parse_lang(text) == lang


def test_an_unknown_language_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_lang("fr")


def test_the_setting_and_the_block_choose_the_language(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROWTHSIM_LANG", "zh_CN")
    assert current() == "zh"
    with use("en"):
        assert current() == "en"
    monkeypatch.setenv("GROWTHSIM_LANG", "klingon")
    assert current() == "en"


@pytest.mark.parametrize(("x", "en", "zh"), [
    (2.236e-07, "<0.0001", "<0.0001"), (-3e-9, ">−0.0001", ">−0.0001"), (0.0, "0", "0"),
    (0.00042, "0.00042", "0.00042"), (12.3456, "12.35", "12.35"), (33_656.0, "33,656", "3.37万"),
    (-91_218.0, "-91,218", "-9.12万"), (2.5e9, "2,500,000,000", "25.00亿"),
    (float("nan"), "–", "–")])
def test_numbers_are_human(x: float, en: str, zh: str) -> None:
    with use("en"):
        assert fmt(x) == en
    with use("zh"):
        assert fmt(x) == zh


@pytest.fixture(scope="module")
def small_run() -> sim.Result:
    return sim.run(sim.load_scenario(ROOT / "scenarios" / "cold_start.yaml",
                                     ["market.size=2000", "days=60", "replicates=2"]))


def _headings(page: str) -> list[str]:
    return re.findall(r"<h2[^>]*>(.*?)</h2>", page)


def test_the_report_in_each_language(small_run: sim.Result) -> None:
    summary = summary_document(small_run, 0.0)
    zh, en = (report_html(small_run, summary, lang=lang) for lang in ("zh", "en"))
    assert '<html lang="zh-CN">' in zh and '<html lang="en">' in en
    assert all(CJK.search(h) for h in _headings(zh)), _headings(zh)
    assert not any(CJK.search(h) for h in _headings(en)), _headings(en)
    assert "经营健康" in zh and "增长核算" in zh and "新增用户（拉新）" in zh
    assert "<code>gmv</code>" in zh  # the name --metrics and the files use stays beside
    assert current() == "en"  # the page's language ends with the page


def test_the_cli_speaks_chinese_when_asked(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    args = ["run", str(ROOT / "scenarios" / "cold_start.yaml"), "market.size=1000", "days=30",
            "--out", str(tmp_path)]
    done = runner.invoke(app, ["--lang", "zh", *args])
    assert done.exit_code == 0, done.output
    assert "指标" in done.stderr and "GMV（成交额） gmv" in done.stderr
    assert "次重复" in done.stderr
    assert current() == "en"  # the language ends with the command
    report = next(tmp_path.glob("cold_start/*/report.html")).read_text("utf-8")
    assert '<html lang="zh-CN">' in report
    monkeypatch.setenv("GROWTHSIM_LANG", "zh")
    assert "均值" in runner.invoke(app, args).stderr
    monkeypatch.delenv("GROWTHSIM_LANG")
    done = runner.invoke(app, args)
    assert "mean" in done.stderr and "均值" not in done.stderr  # the next command: English


def test_a_wrong_language_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    done = runner.invoke(app, ["--lang", "fr", "run", str(ROOT / "scenarios" /
                                                          "cold_start.yaml"),
                               "--out", str(tmp_path / "runs")])
    assert done.exit_code == 2
    assert done.stderr.strip().splitlines() == [
        "--lang: 'fr' is not a language growthsim writes; use en or zh (中文), on the "
        "command line or in GROWTHSIM_LANG"]
    assert not (tmp_path / "runs").exists()

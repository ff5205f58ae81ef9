"""A user review of `simctl ab`, `export` and `init`: the A/B advice is data (English in
summary.json and --json; Chinese only on screen and in the page under --lang zh), a forecast
folder exports its tables, and init writes only a scenario that can run, named as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from experiments.planning.ab_summary import recommend
from experiments.report.language import use
from sim.scenario import load_scenario
from tests.conftest import ROOT

runner = CliRunner()
CJK = re.compile("[\u4e00-\u9fff]")
AB = [str(ROOT / "scenarios" / "ab_referral.yaml"), "market.size=3000",
      "mechanics.seed.count=100", "--replicates", "2", "--units", "user,cluster"]


def _one_line_refusal(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert fragment in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_the_advice_is_english_data_under_a_chinese_language() -> None:
    """recommend() under --lang zh gave Chinese text and reasons to summary.json."""
    table = pd.DataFrame([{"design": 0, "unit": "user", "size": 1000, "duration": 14,
                           "metric": "m", "arm": "treatment", "users": 1000.0, "power": 0.9,
                           "relative_bias": 0.02, "bias": 0.001, "bias_se": 0.001,
                           "replicates": 30, "mean_se": 1.0, "users_needed": 800.0}])
    with use("zh"):
        advice = recommend(table, "m", 0.8, 0.1)
        said = recommend(table, "m", 0.8, 0.1, lang="zh")
    assert advice["text"].startswith("user randomisation, 14 days")
    assert not CJK.search(json.dumps(advice, ensure_ascii=False))
    assert said["text"].startswith("按 user 随机分组") and "偏差" in said["reasons"][0]
    assert {k: v for k, v in said.items() if k not in ("text", "reasons", "rule")} == \
        {k: v for k, v in advice.items() if k not in ("text", "reasons", "rule")}


def test_ab_json_and_summary_stay_english_and_the_page_follows_lang(tmp_path: Path) -> None:
    made = runner.invoke(app, ["--lang", "zh", "ab", *AB, "--json", "--out", str(tmp_path)])
    assert made.exit_code == 0, made.stderr
    assert not CJK.search(made.stdout), made.stdout  # --json: English
    doc = json.loads(made.stdout)
    assert doc["kind"] == "ab"
    assert re.match(r"no design qualifies|\w+ randomisation", doc["recommendation"]["text"])
    folder = Path(doc["run_dir"])
    written = (folder / "summary.json").read_text(encoding="utf-8")
    assert not CJK.search(written)
    assert json.loads(written)["recommendation"] == doc["recommendation"]
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and "<h2>推荐</h2>" in page and "规则：" in page
    assert "Recommendation" not in page and "power and A/A" not in page


def test_ab_says_its_advice_in_chinese_on_screen(tmp_path: Path) -> None:
    made = runner.invoke(app, ["--lang", "zh", "ab", *AB, "--out", str(tmp_path)],
                         env={"COLUMNS": "200"})
    assert made.exit_code == 0, made.stderr
    line = next(x for x in made.stderr.splitlines() if x.startswith("推荐："))
    assert CJK.search(line.removeprefix("推荐：")), line
    assert any(x.startswith("  user: 偏差") for x in made.stderr.splitlines()), made.stderr
    folder = Path(made.stdout.strip())
    assert not CJK.search((folder / "summary.json").read_text(encoding="utf-8"))
    english = runner.invoke(app, ["ab", *AB, "--quiet", "--out", str(tmp_path / "en")])
    page = (Path(english.stdout.strip()) / "report.html").read_text(encoding="utf-8")
    assert '<html lang="en">' in page and "<h2>Recommendation</h2>" in page
    assert not CJK.search(page.split("<h2>Scenario</h2>")[0].split("</script>")[-1])


@pytest.fixture(scope="module")
def forecast_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `simctl forecast` writes, small: 28 days of 1,000 users, one draw."""
    root = tmp_path_factory.mktemp("forecast")
    text = (ROOT / "scenarios" / "reference.yaml").read_text()
    (root / "small.yaml").write_text(text.replace("size: 100000 ", "size: 1000 ")
                                     .replace("days: 365", "days: 28"))
    made = runner.invoke(app, ["forecast", str(root / "small.yaml"), "--days", "7", "--draws",
                               "1", "--replicates", "1", "--quiet", "--out",
                               str(root / "fc")])
    assert made.exit_code == 0, made.stderr
    return root / "fc"


def test_a_forecast_folder_exports_its_tables(forecast_dir: Path, tmp_path: Path) -> None:
    """It failed: 'the folder is damaged (... 'list' object has no attribute 'items')', its
    summary.json's `metrics` being a list of names, not a run's figures."""
    book = runner.invoke(app, ["export", str(forecast_dir), "--out", str(tmp_path / "x.xlsx")])
    assert book.exit_code == 0, book.stderr
    sheets = pd.read_excel(tmp_path / "x.xlsx", sheet_name=None)
    assert list(sheets) == ["forecast", "simulations"]
    expected = pd.read_parquet(forecast_dir / "forecast.parquet")
    assert sheets["forecast"].shape == expected.shape
    assert list(sheets["forecast"].columns) == list(expected.columns)
    folder = runner.invoke(app, ["export", str(forecast_dir), "--format", "csv", "--out",
                                 str(tmp_path / "csv")])
    assert folder.exit_code == 0, folder.stderr
    assert sorted(p.name for p in (tmp_path / "csv").iterdir()) == \
        ["forecast.csv", "simulations.csv"]


@pytest.mark.parametrize(("summary", "said"), [
    ('{"kind": "weird", "metrics": ["gmv"]}', "its summary.json is of kind 'weird'"),
    ('{"metrics": ["gmv"]}', "its summary.json names no kind"),
    ("[1, 2]", "its summary.json names no kind"),
])
def test_a_folder_of_an_unknown_kind_is_refused_by_name(tmp_path: Path, summary: str,
                                                         said: str) -> None:
    (tmp_path / "summary.json").write_text(summary)
    (tmp_path / "t.csv").write_text("a\n1\n")
    done = runner.invoke(app, ["export", str(tmp_path)])
    _one_line_refusal(done, f"{tmp_path}: not a folder simctl export knows ({said}); give a "
                      "folder written by simctl run, sweep, sensitivity, optimize, ab, "
                      "calibrate or forecast")
    assert "damaged" not in done.stderr and not (tmp_path / "export.xlsx").exists()


@pytest.mark.parametrize("name", ["plan.csv", "s.json", "scenario"])
def test_init_writes_only_a_yaml_file(tmp_path: Path, name: str) -> None:
    done = runner.invoke(app, ["init", "--stage", "growth", "--users", "5000", "--out",
                               str(tmp_path / name)])
    _one_line_refusal(done, f"--out: {name}: this command writes .yaml or .yml files; give a "
                      "name ending so, e.g. growth_5000.yaml")
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_market_validate_would_refuse(tmp_path: Path) -> None:
    """It wrote a scenario of 3,000,000,000 users that validate then refused (1.5 TB); the
    size it suggests instead is one that init writes and validate passes."""
    limit = {"GROWTHSIM_MEMORY_LIMIT_MB": "400"}
    big = runner.invoke(app, ["init", "--stage", "growth", "--users", "3000000000", "--out",
                              str(tmp_path / "big.yaml")], env=limit)
    _one_line_refusal(big, "--users: 3,000,000,000 users need about 1.5 TB but only 400.0 MB "
                      "is available here (simctl validate would refuse the scenario); give "
                      "fewer users, e.g. --users ")
    assert list(tmp_path.iterdir()) == []
    assert big.stderr.strip().endswith(", or set GROWTHSIM_MEMORY_LIMIT_MB to the memory of "
                                       "the machine it will run on")
    fits = big.stderr.split("e.g. --users ", 1)[1].split(",", 1)[0]
    made = runner.invoke(app, ["init", "--stage", "growth", "--users", fits, "--out",
                               str(tmp_path / "fits.yaml")], env=limit)
    assert made.exit_code == 0, made.stderr
    valid = runner.invoke(app, ["validate", str(tmp_path / "fits.yaml")], env=limit)
    assert valid.exit_code == 0, valid.stderr


@pytest.mark.parametrize(("name", "typed"), [("我的 场景.yaml", "'我的 场景.yaml'"),
                                             ("冷启动.yml", "冷启动.yml")])
def test_the_header_names_the_file_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           name: str, typed: str) -> None:
    """It said `simctl run 我的_场景.yaml` (the scenario's name) for 我的 场景.yaml."""
    monkeypatch.chdir(tmp_path)
    done = runner.invoke(app, ["init", "--stage", "cold_start", "--users", "2000", "--out",
                               name])
    assert done.exit_code == 0, done.stderr
    line = (tmp_path / name).read_text(encoding="utf-8").splitlines()[2]
    assert line == f"# Run it: simctl run {typed}   (check it first: simctl validate {typed})"
    assert shlex.split(line.split("simctl run ")[1].split("   (")[0]) == [name]
    assert load_scenario(tmp_path / name).market.size == 2000

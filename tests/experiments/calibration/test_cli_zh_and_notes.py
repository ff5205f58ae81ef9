"""`simctl --lang zh` for `customers` and `forecast` (screen text only: summary.json, --json and
the CSV keep English), and the notes on the observed data (`Observed.notes`) said once on
screen by `calibrate`, `forecast` and `customers` and kept under "notes"."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.calibration.forecast import early_warnings, misspecification
from experiments.calibration.forecast_totals import add_dates
from experiments.cli.commands import app
from experiments.report.language import use
from sim.aggregation import daily_table
from sim.engine import simulate
from sim.metrics import daily_metrics
from tests.experiments.calibration.shops import START, calibrated_shop, export_orders, shop_scenario

runner = CliRunner()
GAP_NOTE = "2 day(s) without new_users: replayed as 0 arrivals"
MERGED_NOTE = ("1 record(s) on a day the same user already bought were merged into that day's "
               "transaction (one transaction per user-day)")
# the screen's notes under --lang zh; files and JSON keep the English ones
GAP_NOTE_ZH = "2 天没有 new_users（新增用户）：按 0 个新用户回放"
MERGED_NOTE_ZH = "1 条记录与同一用户当天已有的购买合并为当天的一笔交易（每用户每天一笔）"


def gappy_table(path: Path, collapse: bool = False) -> Path:
    """70 simulated days as a daily table without 2025-01-11 and 2025-01-12 (a gap in the
    dates: two days without new_users); with `collapse`, no repeat orders in week 8."""
    frame = daily_metrics(daily_table(simulate(shop_scenario(9), 0)))
    frame.insert(0, "date", pd.date_range(START, periods=len(frame)).strftime("%Y-%m-%d"))
    if collapse:
        frame.loc[49:55, "repeat_purchases"] = 0.0
    frame = frame.drop(index=[10, 11])
    frame[["date", "new_users", "purchases", "repeat_purchases"]].to_csv(path, index=False)
    return path


# --- forecast: Chinese on screen, English in the files ---------------------------------------


def test_forecast_lines_speak_chinese_and_say_the_gap_once(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(shop_scenario(6).to_yaml())
    observed = gappy_table(tmp_path / "obs.csv", collapse=True)
    args = ["forecast", str(spec), "--days", "7", "--draws", "6", "--replicates", "3",
            "--metrics", "repeat_purchases", "--observed", str(observed)]
    zh = runner.invoke(app, ["--lang", "zh", *args, "--out", str(tmp_path / "zh")])
    assert zh.exit_code == 0, zh.output
    assert "预测：拟合场景旁没有后验抽样：区间只含模拟噪声" in zh.stderr
    assert "预警：复购订单量 第 8 周（2025-02-19 起） = 0，低于 90% 区间 [" in zh.stderr
    assert "1 个指标共" in zh.stderr and "个已观测周中有" in zh.stderr and "条预警" in zh.stderr
    assert zh.stderr.count("预测：说明：" + GAP_NOTE_ZH) == 1 and GAP_NOTE not in zh.stderr
    assert "early warning" not in zh.stderr and "no posterior" not in zh.stderr
    doc = json.loads((tmp_path / "zh" / "summary.json").read_text("utf-8"))
    assert doc["notes"] == [GAP_NOTE]
    assert any(w.startswith("early warning: repeat_purchases week 8 (from 2025-02-19) = 0 "
                            "is below the 90% band [") for w in doc["warnings"])
    en = runner.invoke(app, [*args, "--out", str(tmp_path / "en"), "--json"])
    assert en.exit_code == 0, en.output
    assert en.stderr.count("forecast: note: " + GAP_NOTE) == 1
    seen = int(pd.read_parquet(tmp_path / "en" / "forecast.parquet")["observed"].notna().sum())
    assert f"of {seen} observed week(s) outside the band (over 1 metric(s))" in en.stderr
    assert json.loads(en.stdout)["notes"] == [GAP_NOTE]
    shown = [line for line in en.stderr.splitlines() if line.startswith("early warning:")]
    assert shown == doc["warnings"][:len(shown)] and shown  # the same sentences as the file
    zh_page = (tmp_path / "zh" / "forecast.html").read_text("utf-8")
    en_page = (tmp_path / "en" / "forecast.html").read_text("utf-8")
    for words in ('<html lang="zh-CN">', "<h1>预测：", "逐周预测：6 个后验抽样", "预警</h2>"):
        assert words in zh_page, words
    for words in ("复购订单量", "中位数"):  # in the figure's JSON, which escapes non-ASCII
        assert json.dumps(words)[1:-1] in zh_page or words in zh_page, words
    for words in ("Weekly forecast", "Early warnings", '"name":"median"'):
        assert words not in zh_page and words in en_page, words


def test_misspecification_and_early_warnings_in_both_languages() -> None:
    table = pd.DataFrame({"metric": "repeat_purchases", "week": range(1, 21),
                          "first_day": range(0, 140, 7), "observed": 1234.5, "lo": 2000.0,
                          "hi": 3000.0, "flag": ["below"] * 9 + [""] * 11,
                          "warning": [True] * 9 + [False] * 11})
    (en,) = misspecification(table, 0.9)
    assert en.startswith("misspecification: repeat_purchases: 9 of 20 observed weeks")
    dated = table.copy()
    add_dates(dated, START)  # week_start: the date a warning names
    with use("zh"):
        (zh,) = misspecification(table, 0.9)
        warned = early_warnings(dated, 0.9)
    assert zh.startswith("模型设定偏差：复购订单量：20 个有实际值的周中有 9 周落在 90% 区间外"
                         "（按随机波动预期约 2 周）")
    assert warned[0] == "预警：复购订单量 第 1 周（2025-01-01 起） = 1,234.5，低于 90% 区间 " \
                        "[2,000, 3,000]"
    assert early_warnings(table, 0.9)[1] == ("early warning: repeat_purchases week 2 = "
                                             "1,234.5 is below the 90% band [2,000, 3,000]")


# --- calibrate: the note on screen once, and in summary.json ---------------------------------


def test_calibrate_says_each_note_once(tmp_path: Path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(shop_scenario(1).to_yaml())
    observed = gappy_table(tmp_path / "obs.csv")
    args = ["calibrate", str(spec), "--observed", str(observed), "--fit",
            "mechanics.purchase.dropout.a=0.1..5", "--targets", "repeat_purchases", "--trials",
            "2", "--replicates", "1", "--design", "6", "--stages", "1", "--draws", "10",
            "--noise-replicates", "2"]
    done = runner.invoke(app, [*args, "--out", str(tmp_path / "cal"), "--json"])
    assert done.exit_code == 0, done.output
    assert done.stderr.count("calibrate: note: " + GAP_NOTE) == 1
    assert json.loads(done.stdout)["notes"] == [GAP_NOTE]
    summary = next((tmp_path / "cal").glob("fit-*/summary.json"))
    assert json.loads(summary.read_text("utf-8"))["notes"] == [GAP_NOTE]
    zh = runner.invoke(app, ["--lang", "zh", *args, "--out", str(tmp_path / "zh")])
    assert zh.exit_code == 0, zh.output
    assert zh.stderr.count("校准：说明：" + GAP_NOTE_ZH) == 1


# --- customers: the table in Chinese, the later export's note --------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1,000 simulated customers' orders over 18 weeks, calibrated by likelihood on the first
    12; the later export repeats one order row (two records of one user-day: a note)."""
    folder = tmp_path_factory.mktemp("shop")
    orders, fitted = calibrated_shop(folder)
    later = export_orders(pd.concat([orders, orders.iloc[[0]]]), folder / "later.csv")
    return {"folder": folder, "fitted": fitted, "later": later}


def test_customers_table_speaks_chinese_and_the_files_do_not(shop: dict[str, Path]) -> None:
    args = ["customers", str(shop["fitted"]), "--days", "28", "--observed", str(shop["later"])]
    zh = runner.invoke(app, ["--lang", "zh", *args, "--out", str(shop["folder"] / "zh.csv")],
                       env={"COLUMNS": "200"})
    assert zh.exit_code == 0, zh.output
    for words in ("位顾客：未来 28 天的预期订单", "流失风险", "顾客数", "平均存活概率",
                  "预期订单", "对比实际：顾客之后的订单（每位顾客）", "模型", "预测订单", "实际",
                  "表按流失风险从高到低排列", "顾客：说明：" + MERGED_NOTE_ZH):
        assert words in zh.stderr, words
    assert "customers" not in zh.stderr and "vs what" not in zh.stderr
    assert zh.stderr.count(MERGED_NOTE_ZH) == 1 and MERGED_NOTE not in zh.stderr
    table = pd.read_csv(shop["folder"] / "zh.csv", encoding="utf-8-sig")
    assert set(table["risk"]) <= {"high", "medium", "low"}  # the file keeps its words
    en = runner.invoke(app, [*args, "--out", str(shop["folder"] / "en.csv"), "--json"],
                       env={"COLUMNS": "200"})
    assert en.exit_code == 0, en.output
    assert "vs what the customers then ordered (per customer)" in en.stderr
    assert "orders predicted" in en.stderr and "growthsim" in en.stderr and "bgnbd" in en.stderr
    assert en.stderr.count("customers: note: " + MERGED_NOTE) == 1
    report = json.loads(en.stdout)
    assert report["notes"] == [MERGED_NOTE] and set(report["risk"]) <= {"high", "medium", "low"}


def test_customers_tiers_read_the_same_numbers_in_both_languages(shop: dict[str, Path]) -> None:
    args = ["customers", str(shop["fitted"]), "--days", "28", "--out",
            str(shop["folder"] / "tiers.csv")]
    en = runner.invoke(app, args, env={"COLUMNS": "200"}).stderr
    zh = runner.invoke(app, ["--lang", "zh", *args], env={"COLUMNS": "200"}).stderr

    def numbers(text: str) -> list[list[str]]:
        """The table's cells after the tier, row by row."""
        return [[cell.strip() for cell in row.split("│")[2:]] for row in text.splitlines()
                if row.startswith("│") and any(c.isdigit() for c in row)]

    assert numbers(en) and numbers(en) == numbers(zh)
    assert any(f"│ {tier} " in zh for tier in "高中低")
    assert not any(f"│ {tier} " in zh for tier in ("high", "medium", "low"))

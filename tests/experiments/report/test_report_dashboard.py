"""The operations dashboard: its sections, the numbers they show, graceful absence of what a
scenario does not model, the early-warning panel and `simctl dashboard` for a set of runs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import sim
from experiments.calibration.forecast import Forecast, load_forecast, write_forecast
from experiments.cli import app
from experiments.report.operations import (
    attribution_section,
    growth_figure,
    growth_periods,
    operations_section,
)
from experiments.report.parts import kpi_tiles, kpi_value_and_trend, mean_daily, metric_group
from experiments.runs.outputs import write_run
from sim.errors import InputError
from tests.conftest import ROOT
from tests.experiments.report.test_report import _run
from tests.sim.test_touchpoints import LOOP  # content -> live -> order -> WeCom service

DASHBOARD_SECTIONS = ("summary", "health", "growth", "funnel", "channels", "retention",
                      "inventory", "operations", "attribution", "money", "warnings", "daily",
                      "scenario")
runner = CliRunner()


def section_html(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[sim.Result, Path]:
    return _run(tmp_path_factory.mktemp("runs"), "cold_start.yaml",
                ["market.size=3000", "replicates=2", "days=150",
                 "growth_accounting.period_days=14"])


def test_every_section_is_there_and_unmodelled_ones_say_so(
        cold_start: tuple[sim.Result, Path]) -> None:
    _, run_dir = cold_start
    page = (run_dir / "report.html").read_text()
    for anchor in DASHBOARD_SECTIONS:
        assert f'id="{anchor}"' in page, anchor
    for anchor in ("inventory", "attribution"):  # cold start has no stock, no touch points
        assert "not modelled in this scenario" in section_html(page, anchor), anchor
    assert "--forecast DIR" in section_html(page, "warnings")
    assert "Paid membership" not in section_html(page, "operations")  # groups not modelled
    growth = section_html(page, "growth")
    assert "Plotly.newPlot" in growth and "14-day period" in growth
    health = section_html(page, "health")
    for kpi in ("gmv", "net_revenue", "contribution", "new_users", "dau_mau", "churned_users"):
        assert f"data-metric='{kpi}'" in health, kpi


def test_growth_periods_are_the_period_end_values(cold_start: tuple[sim.Result, Path]) -> None:
    result, _ = cold_start
    daily = mean_daily(result.metrics)
    periods = growth_periods(daily, 14)
    assert len(periods) == 150 // 14  # complete periods only
    ends = np.arange(13, 150, 14)[: len(periods)]
    assert periods["ga_active_users"].to_numpy() == pytest.approx(
        daily["ga_active_users"].to_numpy()[ends])
    assert periods.index[0] == "days 0–13"
    # identities survive averaging over replicates
    assert (periods["ga_new_users"] + periods["ga_retained_users"]
            + periods["ga_resurrected_users"]).to_numpy() == pytest.approx(
        periods["ga_active_users"].to_numpy())
    fig = growth_figure(periods)
    churned = next(t for t in fig["data"] if t["name"] == "churned")
    assert list(churned["y"]) == pytest.approx(list(-periods["ga_churned_users"]))
    assert periods["ga_churned_users"].sum() > 0


def test_kpi_trend_compares_the_last_window_with_the_one_before() -> None:
    days = np.arange(60)
    daily = pd.DataFrame({"order_amount": np.where(days < 30, 1.0, 3.0)})
    from sim.metrics import daily_metrics

    daily = daily_metrics(daily.assign(order=1.0))
    value, change = kpi_value_and_trend(daily, "gmv")
    assert value == pytest.approx(120.0) and change == pytest.approx(2.0)  # 90 against 30
    churn = pd.DataFrame({"churned_users": np.where(days < 30, 1.0, 2.0)})
    tiles = kpi_tiles(churn, ("churned_users", "not_a_metric_here"))
    assert "class='down'" in tiles and "+100.0%" in tiles  # more churn is bad
    assert "not_a_metric_here" not in tiles


def test_growth_ratio_tiles_show_the_horizon_value_and_the_latest_period_as_trend() -> None:
    ratio = pd.DataFrame({"ga_later_gained_users": [0.0, 4.0, 0.0, 3.0],
                          "ga_churned_users": [0.0, 2.0, 0.0, 2.0],
                          "ga_quick_ratio": [np.nan, 2.0, np.nan, 1.5]})
    value, change = kpi_value_and_trend(ratio, "ga_quick_ratio")
    assert value == pytest.approx(7 / 4) and change == pytest.approx(-0.25)  # 1.5 against 2


def test_the_quick_ratio_tile_shows_the_number_the_screen_and_summary_show(
        cold_start: tuple[sim.Result, Path]) -> None:
    """One name, one number on the page: the tile read the latest period (0.9476) beside the
    every-metric table's and simctl's horizon value (1.399); its trend compares the latest
    period with the one before, as the growth table's last two rows (ratios of the replicate
    means, which the tile once averaged per replicate instead: 1.434 against 1.423)."""
    result, run_dir = cold_start
    summary = result.summary()
    daily = mean_daily(result.metrics)
    tiles = kpi_tiles(daily, ("ga_quick_ratio",), summary)
    shown = re.search(r"<div class='value'>([^ <]+)", tiles).group(1)
    assert shown == _fmt(summary["ga_quick_ratio"]["mean"])
    periods = growth_periods(daily, 14)["ga_quick_ratio"].dropna()
    _, change = kpi_value_and_trend(daily, "ga_quick_ratio")
    assert change == pytest.approx((periods.iloc[-1] - periods.iloc[-2]) / periods.iloc[-2])
    assert shown in section_html((run_dir / "report.html").read_text(), "health")


def test_attribution_tables_are_rendered_generically_with_their_labels() -> None:
    tables = {"omni.attributed_orders": [[1.0, 2.0], [3.0, 4.5]],
              "omni.attribution_models": ["first_touch", "last_touch"],
              "omni.touchpoint_names": ["official_account", "live"],
              "omni.touchpoint_reach": [[9.0, 9.0]], "crm.rule_sends": [[1.0]]}
    body = attribution_section(tables)
    assert "attributed_orders (omni)" in body and "not modelled" not in body
    assert "<tr><td>last_touch</td><td>3</td><td>4.5</td></tr>" in body
    assert "<th>official_account</th><th>live</th>" in body
    assert "touchpoint_reach" not in body and "rule_sends" not in body
    assert "not modelled" in attribution_section({"crm.rule_sends": [[1.0]]})


def test_retention_operations_show_rules_rfm_tiers_points_members_and_groups(
        tmp_path: Path) -> None:
    result, run_dir = _run(tmp_path, "retention.yaml",
                           ["market.size=5000", "mechanics.existing.count=5000", "days=70",
                            "replicates=1"])
    body = section_html((run_dir / "report.html").read_text(), "operations")
    for title in ("Automation rules (crm)", "RFM transitions", "Segment sizes",
                  "Membership tiers", "Points", "Paid membership",
                  "Community groups vs other users", "Live streams", "Recommendations"):
        assert title in body, title
    sends = np.asarray(result.counters[0].extras["crm.rule_sends"]).sum(axis=1)
    names = result.counters[0].extras["crm.rule_names"]
    assert sends.sum() > 0
    for name, total in zip(names, sends, strict=True):
        assert re.search(rf"<tr><td>{name}</td><td>{re.escape(_fmt(total))}</td>", body), name


def _fmt(x: float) -> str:
    from experiments.report.parts import fmt

    return fmt(float(x))


def test_operations_without_any_retention_mechanic_say_so() -> None:
    assert "not modelled" in operations_section(pd.DataFrame({"gmv": [1.0]}), {})


def _forecast(tmp: Path) -> Path:
    table = pd.DataFrame({
        "metric": ["purchases", "purchases", "churned_users"], "week": [1, 2, 1],
        "first_day": [0, 7, 0], "period": ["fit", "fit", "fit"], "mean": [10.0, 10.0, 5.0],
        "lo": [8.0, 8.0, 4.0], "median": [10.0, 10.0, 5.0], "hi": [12.0, 12.0, 6.0],
        "observed": [10.0, 3.0, 7.5], "flag": ["", "below", "above"],
        "warning": [False, True, True]})
    doc = {"kind": "forecast", "scenario": "s", "level": 0.9, "draws": 2, "replicates": 1,
           "parameter_uncertainty": False, "warnings": [], "flagged": 2}
    return write_forecast(Forecast(table, [], None, doc), tmp / "fc")


def test_forecast_attaches_to_the_run_dashboard(tmp_path: Path) -> None:
    folder = _forecast(tmp_path)
    loaded = load_forecast(folder)
    assert [(f["metric"], f["week"]) for f in loaded["flags"]] == [("purchases", 2),
                                                                   ("churned_users", 1)]
    page = (folder / "forecast.html").read_text()
    assert 'id="warnings"' in page and page.count("warn-row") == 2
    run = runner.invoke(app, ["run", str(ROOT / "scenarios" / "reference.yaml"),
                              "market.size=500", "--days", "20", "--quiet", "--out",
                              str(tmp_path / "runs"), "--forecast", str(folder)])
    assert run.exit_code == 0, run.output
    report = Path(run.stdout.strip().splitlines()[-1]) / "report.html"
    panel = section_html(report.read_text(), "warnings")
    assert "purchases" in panel and "churned_users" in panel and "warn-row" in panel


def test_a_folder_that_is_not_a_forecast_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        load_forecast(tmp_path)
    (problem,) = caught.value.problems
    assert str(problem).startswith(f"{tmp_path}: --forecast: not a forecast folder")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("pair")
    return [_run(root, "cold_start.yaml", ["market.size=2000", "days=120", f"seed={seed}"])[1]
            for seed in (1, 2)]


def test_dashboard_of_several_runs_puts_them_side_by_side(two_runs: list[Path],
                                                          tmp_path: Path) -> None:
    out = tmp_path / "board.html"
    done = runner.invoke(app, ["dashboard", *map(str, two_runs), "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert done.stdout.strip().splitlines()[-1] == str(out)
    page = out.read_text()
    for anchor in ("runs", "health", "growth", "warnings"):
        assert f'id="{anchor}"' in page, anchor
    runs = section_html(page, "runs")
    assert "#1 seed=1" in runs and "#2 seed=2" in runs  # what differs, in one short label
    health = section_html(page, "health")
    assert health.count("data-metric='gmv'") == 2
    assert section_html(page, "growth").count("Plotly.newPlot") == 3  # ratios + one per run


def test_dashboard_refuses_a_folder_that_is_not_a_run(two_runs: list[Path],
                                                      tmp_path: Path) -> None:
    out = tmp_path / "board.html"
    empty = tmp_path / "empty"
    empty.mkdir()
    done = runner.invoke(app, ["dashboard", str(two_runs[0]), str(empty),
                               str(tmp_path / "missing"), "--out", str(out)])
    assert done.exit_code == 2
    lines = [line for line in done.stderr.splitlines() if line]
    assert lines == [
        f"{empty}: not a run folder (no summary.json, metrics.parquet, scenario.resolved.yaml)"
        "; give a folder written by simctl run (runs/<scenario>/<time>-<hash>/)",
        f"{tmp_path / 'missing'}: no such folder; give a folder written by simctl run "
        "(runs/<scenario>/<time>-<hash>/)"]
    assert not out.exists() and list(tmp_path.glob(".partial-*")) == []


def test_a_run_with_an_experiment_renders(tmp_path: Path) -> None:
    """Arms have no channel costs (ad spend belongs to a channel, not an arm): the daily charts
    by arm leave them out instead of failing."""
    result, run_dir = _run(tmp_path, "ab_referral.yaml",
                           ["market.size=3000", "days=70", "experiment.duration_days=30"])
    assert "ad_spend" in result.metrics.columns and "ad_spend" not in result.arm_metrics.columns
    page = (run_dir / "report.html").read_text()
    for anchor in DASHBOARD_SECTIONS:
        assert f'id="{anchor}"' in page, anchor


def full_scenario(size: int = 5000, days: int = 70) -> sim.Scenario:
    """retention.yaml (segments, automations, tiers, points, paid membership, community, live)
    plus touch points with attribution, a catalogue and an inventory: every section drawn."""
    import yaml

    from sim.scenario import validate_scenario

    data = yaml.safe_load((ROOT / "scenarios" / "retention.yaml").read_text())
    data.update(days=days, replicates=1)
    data["market"]["size"] = size
    existing = data["mechanics"]["existing"]  # seed users: at most the (smaller) market
    existing["count"] = min(existing["count"], size)
    data["mechanics"].update(
        omni=LOOP,
        goods={"type": "catalogue", "sku_groups": [
            {"name": "rice", "role": "hero", "cogs_ratio": 0.7, "share": 0.6},
            {"name": "tea", "cogs_ratio": 0.4, "private_label": True, "share": 0.4}]},
        stock={"type": "inventory", "policy": "reorder_point", "initial_stock": 300,
               "lead_time": {"distribution": "gamma", "mean_days": 7, "cv": 0.3}})
    return validate_scenario(data, "<test>")


def test_full_run_draws_inventory_attribution_and_live(tmp_path: Path) -> None:
    result = sim.run(full_scenario())
    page = (write_run(result, tmp_path, 0.0) / "report.html").read_text()
    for anchor in ("inventory", "operations", "attribution"):
        assert "not modelled" not in section_html(page, anchor), anchor
    inventory = section_html(page, "inventory")
    for kpi in ("units_in_stock", "fill_rate", "stockout_days", "days_of_cover",
                "inventory_turnover"):
        assert f"data-metric='{kpi}'" in inventory, kpi
    assert "Live streams" in section_html(page, "operations")
    attribution = section_html(page, "attribution")
    extras = result.counters[0].extras
    models = list(extras["omni.attribution_models"])
    orders = np.asarray(extras["omni.attributed_orders"])
    assert orders.sum() > 0
    row = models.index("last_touch")
    cells = "".join(f"<td>{_fmt(v)}</td>" for v in orders[row])
    assert f"<tr><td>last_touch</td>{cells}</tr>" in attribution


def test_a_value_that_rounds_away_is_escaped_on_the_page() -> None:
    tiny = pd.DataFrame({"gmv": [0.00001, 0.00002]})
    assert "&lt;0.0001" in kpi_tiles(tiny, ("gmv",))
    assert "&lt;0.0001" in metric_group(tiny, "money", ("gmv",))
    assert "<0.0001" not in kpi_tiles(tiny, ("gmv",)) + metric_group(tiny, "money", ("gmv",))

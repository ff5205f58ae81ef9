"""A forecast's weekly values and totals mean what each metric means over a period (a flow's
sum, a ratio of its parts' sums, a stock's last day: docs/metrics.md), an actual only where
the data can give the metric, and the totals cover the forecast days only.

Every number is checked against its rebuild: the same simulations re-run here (the forecast's
replicate numbers) and aggregated by hand, or a hand-made transactions log summed by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.calibration.forecast import forecast
from experiments.calibration.observed import load_observed
from experiments.cli.commands import app
from experiments.runs.design import point_scenario
from experiments.runs.executors import make_executor
from sim.aggregation import daily_table
from sim.engine import simulate
from sim.errors import InputError
from sim.metrics import daily_metrics
from sim.scenario import Scenario
from tests.experiments.calibration.shops import shop_scenario

FIT_DAYS, DAYS = 24, 26  # the fit ends mid-week 4 (days 21-27); horizon 50: 7 full weeks + 1 day
HORIZON = FIT_DAYS + DAYS
DRAWS, REPLICATES = 3, 2
METRICS = ["aov", "alive_users", "gmv", "purchases", "repurchase_rate_30d"]
WEEKS = [(a, min(a + 7, HORIZON)) for a in range(0, HORIZON, 7)]
# A transactions log (no event column) from 2025-01-01: (customer, day, amount). Two records of
# c1 on day 0 are one transaction of 15; c3's day-22 order is in the fitted days of week 4.
LOG = [("c1", 0, 10.0), ("c1", 0, 5.0), ("c2", 2, 8.0), ("c3", 4, 40.0), ("c1", 8, 20.0),
       ("c3", 22, 7.0), ("c2", 26, 12.0), ("c1", 31, 30.0), ("c2", 49, 4.0)]


def shop(days: int = FIT_DAYS) -> Scenario:
    return shop_scenario(5, name="kinds", days=days, size=600, arrivals=[60] * 10, a=1.0)


def write_log(path: Path) -> Path:
    dates = pd.Timestamp("2025-01-01") + pd.to_timedelta([d for _, d, _ in LOG], unit="D")
    pd.DataFrame({"customer_id": [c for c, _, _ in LOG], "date": dates.strftime("%Y-%m-%d"),
                  "amount": [a for _, _, a in LOG]}).to_csv(path, index=False)
    return path


def by_hand(daily: pd.DataFrame, name: str, a: int, b: int) -> float:
    """docs/metrics.md's definitions over days [a, b), written out."""
    if name in ("gmv", "purchases"):
        return float(daily[name].iloc[a:b].sum())
    if name == "alive_users":
        return float(daily[name].iloc[b - 1])
    num, den = {"aov": ("gmv", "purchases"),
                "repurchase_rate_30d": ("repurchases_30d", "first_purchases")}[name]
    if name == "repurchase_rate_30d" and b + 30 > len(daily):
        return math.nan  # its 30-day windows are still open at the horizon
    bottom = daily[den].iloc[a:b].sum()
    return float(daily[num].iloc[a:b].sum() / bottom) if bottom else math.nan


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory):
    log = write_log(tmp_path_factory.mktemp("log") / "orders.csv")
    with make_executor("serial") as pool:
        return forecast(shop(), pd.DataFrame(), DAYS, pool, draws=DRAWS, replicates=REPLICATES,
                        observed=load_observed(log), metrics=METRICS)


@pytest.fixture(scope="module")
def rebuilt() -> list[pd.DataFrame]:
    """The forecast's simulations again (no posterior: the scenario itself, replicate numbers
    50,000 + k R + r)."""
    longer = point_scenario(shop(), {"days": HORIZON})
    return [daily_metrics(daily_table(simulate(longer, 50_000 + i)))
            for i in range(DRAWS * REPLICATES)]


def test_each_week_is_the_metric_over_the_week_not_a_sum_of_days(result, rebuilt) -> None:
    """aov a ratio of the week's sums (was the sum of 7 daily ratios), alive_users the level on
    the week's last day (was 7 levels added up), the 30-day repurchase rate undefined where the
    week has no first orders or its windows are still open at the horizon (was 0)."""
    sims = result.simulations
    for name in METRICS:
        expected = np.array([[by_hand(d, name, a, b) for a, b in WEEKS] for d in rebuilt])
        got = (sims[sims["metric"] == name].pivot(index="simulation", columns="week",
                                                  values="value").to_numpy())
        np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True, err_msg=name)
        rows = result.table[result.table["metric"] == name]
        for k, row in enumerate(rows.itertuples()):
            finite = expected[:, k][np.isfinite(expected[:, k])]
            if not finite.size:
                assert math.isnan(row.median) and math.isnan(row.lo), (name, k)
                continue
            assert (row.lo, row.median, row.hi) == pytest.approx(
                tuple(np.quantile(finite, [0.05, 0.5, 0.95])), rel=1e-12), (name, k)
    rate = result.table[result.table["metric"] == "repurchase_rate_30d"]
    assert rate["median"].notna().tolist() == [True, True] + [False] * (len(WEEKS) - 2)


def test_actuals_only_where_the_log_sees_the_metric(result) -> None:
    """A transactions log gives orders and money: aov's week is its gmv over its orders; it
    cannot see churn, so alive_users has no actual and no warning (it had the log's count of
    everyone ever acquired, summed over 7 days); the log has no 30-day repurchase counter."""
    table = result.table.set_index(["metric", "week"])
    # weeks: 1 {15, 8, 40}, 2 {20}, 3 none, 4 {7, 12}, 5 {30}, 6-7 none, 8 {4}
    expected_aov = [63 / 3, 20.0, math.nan, 19 / 2, 30.0, math.nan, math.nan, 4.0]
    assert table.loc["aov", "observed"].tolist() == pytest.approx(expected_aov, nan_ok=True)
    assert table.loc["gmv", "observed"].tolist() == [63, 20, 0, 19, 30, 0, 0, 4]
    for blind in ("alive_users", "repurchase_rate_30d"):
        assert table.loc[blind, "observed"].isna().all()
        assert (table.loc[blind, "flag"] == "").all()
        assert not any(blind in w for w in result.warnings)


def test_a_daily_table_s_stock_is_data(tmp_path: Path) -> None:
    """A daily metrics table that gives alive_users is what the shop counted: its actual is the
    week's last day (only a log without churn events cannot see churn)."""
    alive = np.arange(100, 100 + HORIZON)
    path = tmp_path / "daily.csv"
    pd.DataFrame({"date": pd.date_range("2025-01-01", periods=HORIZON).strftime("%Y-%m-%d"),
                  "alive_users": alive}).to_csv(path, index=False)
    with make_executor("serial") as pool:
        done = forecast(shop(), pd.DataFrame(), DAYS, pool, draws=1, replicates=1,
                        observed=load_observed(path), metrics=["alive_users"])
    assert done.table["observed"].tolist() == [alive[b - 1] for _, b in WEEKS]


def test_totals_cover_the_forecast_days_only(result, rebuilt) -> None:
    """The fit ends on day 24, in week 4: the total and the cumulative curve count days 24-49
    (26 days), not weeks 4-8 with the fitted days 21-23 in them."""
    gmv = result.doc["totals"]["gmv"]
    assert gmv["median"] == pytest.approx(
        np.median([d["gmv"].iloc[FIT_DAYS:].sum() for d in rebuilt]), rel=1e-12)
    assert gmv["observed"] == 12 + 30 + 4  # not c3's 7 on fitted day 22
    assert (gmv["days"], gmv["first_day"]) == (DAYS, FIT_DAYS)
    rows = result.table[result.table["metric"] == "gmv"]
    assert rows["forecast_days"].tolist() == [0, 0, 0, 4, 7, 7, 7, 1]
    week4 = [d["gmv"].iloc[FIT_DAYS:28].sum() for d in rebuilt]
    assert rows["cum_median"].iloc[3] == pytest.approx(np.median(week4), rel=1e-12)
    assert rows["cum_observed"].tolist()[3:] == [12, 42, 42, 42, 46]


def test_a_ratio_total_is_the_ratio_over_the_window_and_a_stock_has_none(result,
                                                                          rebuilt) -> None:
    """aov over the forecast days is their gmv over their orders (it was the sum of 13 weeks'
    sums of daily ratios); alive_users is a level, with no total; the repurchase rate, with no
    first orders in those days, is undefined (NaN, null in summary.json; it read 0)."""
    totals = result.doc["totals"]
    assert set(totals) == {"aov", "gmv", "purchases", "repurchase_rate_30d"}
    aov = [d["gmv"].iloc[FIT_DAYS:].sum() / d["purchases"].iloc[FIT_DAYS:].sum()
           for d in rebuilt]
    assert totals["aov"]["median"] == pytest.approx(np.median(aov), rel=1e-12)
    assert totals["aov"]["observed"] == pytest.approx(46 / 3, rel=1e-12)
    assert math.isnan(totals["repurchase_rate_30d"]["median"])
    assert totals["repurchase_rate_30d"]["observed"] is None


def test_cli_says_n_a_and_prints_valid_json(tmp_path: Path) -> None:
    spec = tmp_path / "kinds.yaml"
    spec.write_text(shop().to_yaml())
    made = CliRunner().invoke(app, [
        "forecast", str(spec), "--days", str(DAYS), "--observed", str(write_log(tmp_path /
                                                                              "o.csv")),
        "--metrics", ",".join(METRICS), "--draws", "2", "--replicates", "1",
        "--out", str(tmp_path / "fc"), "--json"])
    assert made.exit_code == 0, made.output
    doc = json.loads(made.stdout, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))
    assert doc["totals"]["repurchase_rate_30d"]["median"] is None
    lines = made.stderr.splitlines()
    days = f"over the {DAYS} forecast days, 2025-01-25 to 2025-02-19: "
    assert any(line.startswith(f"forecast: gmv {days}") and line.endswith("; actual 46")
               for line in lines), made.stderr
    assert f"forecast: alive_users {days}n/a (a level" in made.stderr
    assert f"forecast: repurchase_rate_30d {days}n/a" in made.stderr
    assert "early warning: alive_users" not in made.stderr


def test_observed_data_of_another_period_is_refused_before_any_simulation(
        tmp_path: Path) -> None:
    """A fit that starts 1997-01-01 checked against 2026 orders: every week was unobserved and
    the check said "0 weeks outside the band". Refused, naming both periods, before the
    executor is asked for anything (None here)."""
    daily = pd.DataFrame({"date": pd.date_range("2026-01-01", periods=30).strftime("%Y-%m-%d"),
                          "new_users": 5.0})
    daily.to_csv(tmp_path / "later.csv", index=False)
    observed = load_observed(tmp_path / "later.csv", start="1997-01-01")
    with pytest.raises(InputError) as caught:
        forecast(shop(), pd.DataFrame(), 14, None, observed=observed,  # type: ignore[arg-type]
                 fit_days=28, start="1997-01-01")
    assert str(caught.value) == (f"{tmp_path / 'later.csv'}: no observed value falls in the "
                                 "forecast's days 1997-01-01..1997-02-11 (the file covers "
                                 "2026-01-01..2026-01-30); give the data of the fitted period")

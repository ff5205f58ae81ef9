"""simctl power --from-run: inputs are the run's own numbers, computed independently here."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli import app
from experiments.planning.run_inputs import RunInputError, inputs_from_run
from tests.conftest import ROOT

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    result = runner.invoke(app, ["run", str(ROOT / "scenarios" / "cold_start.yaml"),
                                 "market.size=6000", "days=120", "mechanics.ads.window.last_day=60",
                                 "--events", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


def test_proportion_baseline_and_traffic_come_from_the_run(run_dir: Path) -> None:
    found = inputs_from_run(run_dir, "proportion", "registration_rate")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert found["baseline"] == summary["metrics"]["registration_rate"]["mean"]
    daily = pd.read_parquet(run_dir / "metrics.parquet")
    # a share of visits is planned with visits a day (before: new users a day, half as many)
    assert found["daily-traffic"] == pytest.approx(daily["visits"].sum() / len(daily))
    repurchase = inputs_from_run(run_dir, "proportion", "repurchase_rate_30d")
    assert repurchase["daily-traffic"] == pytest.approx(daily["first_purchases"].mean())
    # dau_mau is a share of MAU, a stock: no daily traffic to plan a duration with
    assert inputs_from_run(run_dir, "proportion", "dau_mau")["daily-traffic"] is None
    per_user = inputs_from_run(run_dir, "mean", "gmv")
    assert per_user["daily-traffic"] == pytest.approx(daily["new_users"].mean())


def test_mean_and_count_moments_are_per_acquired_user(run_dir: Path) -> None:
    events = pd.read_parquet(run_dir / "events.parquet")
    users = events.loc[events.event == "acquired", "user"].unique()
    orders = events[events.event == "order"]
    gmv = orders.groupby("user").amount.sum().reindex(users, fill_value=0.0)
    count = orders.groupby("user").size().reindex(users, fill_value=0).astype(float)
    mean = inputs_from_run(run_dir, "mean", "gmv")
    assert mean["baseline"] == pytest.approx(gmv.mean())
    assert mean["sd"] == pytest.approx(gmv.std(ddof=1))
    counts = inputs_from_run(run_dir, "count", "purchases")
    assert counts["baseline"] == pytest.approx(count.mean())
    if count.var(ddof=1) > count.mean():
        k = count.mean() ** 2 / (count.var(ddof=1) - count.mean())
        assert counts["count-model"] == "negbin" and counts["dispersion"] == pytest.approx(k)


def test_ratio_inputs_for_aov(run_dir: Path) -> None:
    found = inputs_from_run(run_dir, "ratio", "aov")
    events = pd.read_parquet(run_dir / "events.parquet")
    orders = events[events.event == "order"].groupby("user").amount.agg(["sum", "size"])
    cov = np.cov(orders["sum"], orders["size"].astype(float), ddof=1)
    assert found["num-mean"] == pytest.approx(orders["sum"].mean())
    assert found["num-den-cov"] == pytest.approx(cov[0, 1])


def test_cli_sizes_from_a_run_and_typed_values_win(run_dir: Path) -> None:
    base = ["power", "--metric", "proportion", "--from-run", str(run_dir), "--run-metric",
            "registration_rate", "--mde", "0.05", "--relative", "--power", "0.8", "--json"]
    auto = json.loads(runner.invoke(app, base).stdout)
    typed = json.loads(runner.invoke(app, [*base, "--daily-traffic", "1000"]).stdout)
    assert auto["n_control"] == typed["n_control"]
    assert typed["days"] < auto["days"]
    visits = pd.read_parquet(run_dir / "metrics.parquet")["visits"].mean()
    assert auto["days"] == pytest.approx(2 * math.ceil(auto["n_control"]) / visits)
    assert any(f"{visits:,.1f} visits a day" in note for note in auto["notes"])
    assert not any("daily traffic from the run" in note for note in typed["notes"])


@pytest.mark.parametrize(("kind", "name", "fragment"), [
    ("proportion", "gmv", "is not a share in this run"),
    ("ratio", "gmv", "ratio inputs from a run support"),
])
def test_bad_run_metric(run_dir: Path, kind: str, name: str, fragment: str) -> None:
    with pytest.raises(RunInputError, match=fragment):
        inputs_from_run(run_dir, kind, name)


def test_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["power", "--metric", "proportion", "--from-run", str(tmp_path),
                                 "--run-metric", "registration_rate", "--mde", "0.01",
                                 "--power", "0.8"])
    assert result.exit_code == 2 and "is not a run folder" in result.stderr


def test_a_run_without_orders_gives_no_moments_and_says_why(tmp_path: Path) -> None:
    """30 days of a 5,000-user cold start sells nothing: gmv is 0 for every user and aov has no
    order (numpy warned on stderr, then the calculator refused 'sd 0' or a covariance)."""
    made = runner.invoke(app, ["run", str(ROOT / "scenarios" / "cold_start.yaml"),
                               "market.size=5000", "days=30", "--events", "--quiet", "--out",
                               str(tmp_path)])
    assert made.exit_code == 0, made.output
    run = made.stdout.strip()
    for kind, name, fragment in (("mean", "gmv", "whose gmv is the same for all"),
                                 ("ratio", "aov", "0 user(s) with an order")):
        result = runner.invoke(app, ["power", "--metric", kind, "--from-run", run,
                                     "--run-metric", name, "--mde", "0.05", "--relative",
                                     "--power", "0.8"])
        assert result.exit_code == 2 and fragment in result.stderr, result.stderr
        assert "RuntimeWarning" not in result.stderr

"""Per-customer forecasts (P(alive), expected orders, churn-risk table) and calibration by the
exact likelihood of the daily purchase model.

The checks compare with what the engine itself does at known parameters: customers are
independent (no referral, q = 0), so the sum over customers of (what followed - its conditional
expectation) has a standard error sqrt(n) x the sample SD of those differences; we allow Z = 4.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.calibration import bgnbd
from experiments.calibration.bgnbd import BGNBD
from experiments.calibration.customers import daily_conditional, history, point
from experiments.calibration.likelihood import maximum_likelihood
from experiments.calibration.objective import parse_fit
from experiments.calibration.observed import customer_table
from experiments.calibration.recovery import DAILY_FIT as FIT
from experiments.calibration.recovery import DAILY_TRUTH, daily_truth_scenario
from experiments.cli.commands import app
from sim.engine import simulate
from sim.events import event_table
from sim.planning import layout_of
from sim.scenario import Scenario, validate_scenario

Z = 4.0
TRUE = DAILY_TRUTH


def market(size: int, seed: int, days: int = 126) -> Scenario:
    return daily_truth_scenario(size, seed, days)


def orders_and_churn(scenario: Scenario) -> tuple[pd.DataFrame, pd.DataFrame]:
    events = event_table(simulate(scenario, log_events=True), layout_of(scenario))
    return events[events["event"] == "order"], events[events["event"] == "churned"]


def customers_until(orders: pd.DataFrame, day: int) -> pd.DataFrame:
    """The calibration's per-customer table as of the end of day `day - 1`."""
    return customer_table(orders[orders["day"] < day], day)


def _z(actual: np.ndarray, predicted: np.ndarray) -> float:
    diff = actual - predicted
    return float(diff.sum() / (diff.std(ddof=1) * math.sqrt(len(diff))))


def test_conditional_expectations_match_what_the_engine_does_next() -> None:
    """55,000 simulated customers seen to day 84: their expected orders in the next 42 days
    sum to the orders they then placed, and P(alive) to those not yet gone, overall and for
    light (x = 1, 2) and heavy (x >= 3) buyers."""
    scenario = market(60000, 5)
    orders, churned = orders_and_churn(scenario)
    table = customers_until(orders, 84)
    later = orders[orders["day"] >= 84].groupby("user").size().reindex(table["user"])
    future = later.fillna(0).to_numpy(dtype=float)
    gone = table["user"].isin(churned.loc[churned["day"] < 84, "user"]).to_numpy()
    past = history(table)
    alive, expected = daily_conditional(point(scenario), 7.0, past["x"].to_numpy(),
                                        past["trials_to_last"].to_numpy(),
                                        past["trials"].to_numpy(), 42)
    assert np.allclose(alive[past["x"] == 0], 1.0, rtol=0, atol=1e-12)  # no repeat: alive
    for rows in (past["x"] >= 0, past["x"].between(1, 2), past["x"] >= 3):
        keep = rows.to_numpy()
        assert abs(_z(future[keep], expected[keep])) < Z
        if (past["x"][keep] > 0).all():
            assert abs(_z((~gone[keep]).astype(float), alive[keep])) < Z


def test_daily_model_tends_to_the_continuous_bgnbd_when_days_are_short() -> None:
    """With a time unit of 700 days an alive customer buys on under 1% of days, so the daily
    model is the continuous BG/NBD to within about that share."""
    model = BGNBD(TRUE["r"], TRUE["alpha"], TRUE["a"], TRUE["b"], math.nan)
    x = np.array([0.0, 1, 2, 5, 9, 3])
    last = np.array([0.0, 700, 1400, 2100, 2800, 350])
    n = np.array([2800.0, 2800, 2800, 3500, 2800, 4200])
    alive, expected = daily_conditional(model, 700.0, x, last, n, 1400)
    closed_alive = bgnbd.p_alive(model, x, last / 700, n / 700)
    closed = bgnbd.expected_orders(model, x, last / 700, n / 700, 2.0)
    assert np.allclose(alive, closed_alive, rtol=0.01)
    assert np.allclose(expected, closed, rtol=0.01)


def test_maximum_likelihood_recovers_the_parameters_the_engine_ran() -> None:
    """The exact likelihood of 12,000 simulated customers: each estimate within 4 of its
    asymptotic standard errors of the truth."""
    scenario = market(12000, 7, days=182)
    orders, _ = orders_and_churn(scenario)

    params = parse_fit(scenario, FIT)
    best, draws, doc = maximum_likelihood(scenario, params, customers_until(orders, 182), 400,
                                          1)
    assert len(draws) == 400
    for p in params:
        key = p.path.rsplit(".", 1)[-1]
        sd = doc["params"][p.path]["sd_transformed"]  # log scale: the box is wide
        assert abs(math.log(best[p.path]) - math.log(TRUE[key])) < Z * sd, (key, best)


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """An order export of 3,000 simulated customers (26 weeks), a scenario to fit."""
    folder = tmp_path_factory.mktemp("shop")
    orders, _ = orders_and_churn(market(3000, 11, days=182))
    dates = pd.Timestamp("2025-01-01") + pd.to_timedelta(orders["day"], unit="D")
    export = folder / "orders.csv"
    pd.DataFrame({"customer_id": orders["user"], "date": dates.dt.strftime("%Y-%m-%d"),
                  "amount": orders["amount"].round(2)}).to_csv(export, index=False)
    spec = folder / "shop.yaml"
    data = market(3000, 11, days=126).model_dump(mode="python")
    data["calibration"] = {"targets": {"repeat_purchases": 1}, "fit": FIT,
                           "method": "likelihood"}
    spec.write_text(validate_scenario(data, "<test>").to_yaml())
    return {"folder": folder, "export": export, "scenario": spec}


def test_cli_likelihood_calibration_and_churn_risk_table(shop: dict[str, Path]) -> None:
    """calibrate by likelihood (the scenario says so) on the first 18 weeks, then the risk
    table for the next 56 days, compared with what the export shows happened."""
    runner = CliRunner()
    out = shop["folder"] / "cal"
    done = runner.invoke(app, ["calibrate", str(shop["scenario"]), "--observed",
                               str(shop["export"]), "--until", "2025-05-06", "--out", str(out),
                               "--noise-replicates", "2", "--draws", "60", "--quiet"])
    assert done.exit_code == 0, done.output
    fitted = Path(done.stdout.strip())
    summary = json.loads((fitted.parent / "summary.json").read_text())
    assert summary["method"] == "likelihood" and summary["posterior"]["draws"] == 60
    risk = shop["folder"] / "risk.csv"
    made = runner.invoke(app, ["customers", str(fitted), "--days", "56", "--observed",
                               str(shop["export"]), "--out", str(risk), "--json"])
    assert made.exit_code == 0, made.output
    report = json.loads(made.stdout)
    table = pd.read_csv(risk, encoding="utf-8-sig")
    assert len(table) == report["customers"] and table["p_alive"].is_monotonic_increasing
    assert {"p_alive_lo", "orders_hi", "risk", "first_date"} <= set(table.columns)
    assert (table["orders_lo"] <= table["expected_orders"] + 1e-12).all()
    holdout = report["holdout"]
    assert holdout["growthsim"]["actual_total"] == holdout["bgnbd"]["actual_total"] > 0
    too_far = runner.invoke(app, ["customers", str(fitted), "--days", "400", "--observed",
                                  str(shop["export"])])
    assert too_far.exit_code == 2 and "give --days" in too_far.output


def test_likelihood_refuses_what_it_cannot_fit(shop: dict[str, Path]) -> None:
    runner = CliRunner()
    done = runner.invoke(app, ["calibrate", str(shop["scenario"]), "--observed",
                               str(shop["export"]), "--fit",
                               "mechanics.purchase.order_value.scale=5..50",
                               "--out", str(shop["folder"] / "refused")])
    assert done.exit_code == 2 and "--method msm" in done.output
    assert not (shop["folder"] / "refused").exists()


def test_a_likelihood_flat_along_a_parameter_is_refused_in_one_line() -> None:
    """Histories that do not pin down a fitted parameter leave a singular information matrix
    (numpy's inverse failed, or returned nonsense): the fit is refused with what would help."""
    from experiments.calibration.likelihood import _inverse_information
    from experiments.calibration.objective import FitParam
    from sim.errors import InputError

    params = [FitParam("r", 0.05, 2.0, True), FitParam("b", 0.05, 5.0, True)]
    curved = _inverse_information(params, lambda u: float(u[0] ** 2 + 2 * u[1] ** 2),
                                  np.zeros(2))
    assert np.allclose(curved, np.diag([0.5, 0.25]), rtol=1e-6)  # 1 / second derivative
    with pytest.raises(InputError, match="b: the customers' histories do not pin down every "
                                         "fitted parameter"):
        _inverse_information(params, lambda u: float(u[0] ** 2), np.zeros(2))


@pytest.fixture(scope="module")
def fitted(shop: dict[str, Path]) -> Path:
    done = CliRunner().invoke(app, ["calibrate", str(shop["scenario"]), "--observed",
                                    str(shop["export"]), "--until", "2025-05-06", "--out",
                                    str(shop["folder"] / "fit"), "--noise-replicates", "2",
                                    "--draws", "20", "--quiet"])
    assert done.exit_code == 0, done.output
    return Path(done.stdout.strip())


def test_the_churn_table_never_replaces_the_data(shop: dict[str, Path], fitted: Path) -> None:
    """--out naming the export the fit read, or a read-only file (as root too: os.access says
    yes to root), is refused and leaves the file as it was."""
    runner = CliRunner()
    before = shop["export"].read_bytes()
    done = runner.invoke(app, ["customers", str(fitted), "--out", str(shop["export"])])
    assert done.exit_code == 2 and "is what this command reads" in done.output
    assert shop["export"].read_bytes() == before
    kept = shop["folder"] / "kept.csv"
    kept.write_text("keep me\n")
    kept.chmod(0o444)
    done = runner.invoke(app, ["customers", str(fitted), "--out", str(kept)])
    assert done.exit_code == 2 and "read-only" in done.output
    assert kept.read_text() == "keep me\n"


def test_a_later_export_must_hold_the_calibrations_customers_from_its_start(
        shop: dict[str, Path], fitted: Path) -> None:
    """An export of only the later days read as new customers and days without orders (actual
    687 of 7,195 on CDNOW), and one of other customers as customers who never ordered again."""
    runner = CliRunner()
    export = pd.read_csv(shop["export"])
    later = shop["folder"] / "later_only.csv"
    export[export["date"] > "2025-05-06"].to_csv(later, index=False)
    for command in (["customers", str(fitted), "--days", "30"],
                    ["forecast", str(fitted), "--days", "30"]):
        done = runner.invoke(app, [*command, "--observed", str(later)])
        assert done.exit_code == 2, done.output
        assert "after the calibration's first day 2025-01-01" in done.output
    others = shop["folder"] / "others.csv"
    pd.DataFrame({"customer_id": ["a", "b"], "date": ["2025-01-01", "2025-06-20"],
                  "amount": [10.0, 12.0]}).to_csv(others, index=False)
    done = runner.invoke(app, ["customers", str(fitted), "--days", "30", "--observed",
                               str(others)])
    assert done.exit_code == 2 and "customers are not in it" in done.output

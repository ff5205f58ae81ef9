"""`simctl customers --observed`: valid JSON and no numpy warnings where the holdout's
correlation is undefined (nobody ordered again, one customer), and one clear refusal for a later
export that ends before the fit does."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from experiments.cli.commands import app
from experiments.cli.customers_cli import compare_holdout
from experiments.runs.outputs import json_safe
from tests.experiments.calibration.shops import calibrated_shop, export_orders


def strict(text: str) -> dict:
    """JSON as any reader takes it: NaN is not JSON."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """1,000 simulated customers' orders over 18 weeks, calibrated by likelihood on the first
    12 (to FIT_UNTIL)."""
    folder = tmp_path_factory.mktemp("shop")
    orders, fitted = calibrated_shop(folder)
    fitted_orders = orders[orders["day"] <= 84]
    assert fitted_orders["day"].max() == 84 and (orders["day"] == 59).any()
    # a later export in which nobody orders again: the fit's orders and a stranger's on day 125
    stranger = pd.DataFrame({"user": [10**6], "day": [125], "amount": [5.0]})
    quiet = pd.concat([fitted_orders[["user", "day", "amount"]], stranger])
    return {"folder": folder, "fitted": fitted,
            "quiet": export_orders(quiet, folder / "quiet.csv"),
            "short": export_orders(orders[orders["day"] < 60], folder / "short.csv"),
            "same": export_orders(fitted_orders, folder / "same.csv")}


def test_nobody_ordering_again_gives_null_correlation_not_nan(shop: dict[str, Path]) -> None:
    """Every actual is 0, so the correlation is undefined: null in the JSON (it was NaN, which
    no JSON reader takes), n/a in the table, no numpy warning; MAE and RMSE are then the mean
    and root mean square of the predictions."""
    risk = shop["folder"] / "quiet-risk.csv"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value" would stop the command
        made = CliRunner().invoke(app, ["customers", str(shop["fitted"]), "--days", "28",
                                        "--observed", str(shop["quiet"]), "--out", str(risk),
                                        "--json"])
    assert made.exit_code == 0, made.output
    holdout = strict(made.stdout)["holdout"]
    predicted = pd.read_csv(risk, encoding="utf-8-sig")["expected_orders"].to_numpy()
    mine = holdout["growthsim"]
    assert mine["correlation"] is None and holdout["bgnbd"]["correlation"] is None
    assert mine["actual_total"] == 0
    assert mine["mae"] == pytest.approx(predicted.mean(), rel=1e-12)
    assert mine["rmse"] == pytest.approx(math.sqrt((predicted**2).mean()), rel=1e-12)
    assert "n/a" in made.stderr and "Warning" not in made.stderr


def test_one_customer_has_no_correlation_and_no_warning() -> None:
    """One customer: r is undefined (numpy warned 'Degrees of freedom <= 0' and gave NaN);
    the errors are |prediction - actual|; BG/NBD fitted to one history forecasts nothing
    usable, which json_safe writes as null."""
    history = pd.DataFrame({"user": ["u"], "first_day": [0], "x": [2], "last_day": [20],
                            "observed_days": [50]})
    later = history.assign(x=[3], last_day=[60], observed_days=[100])
    table = pd.DataFrame({"customer": ["u"], "expected_orders": [0.7]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        holdout = compare_holdout(table, history, later, 30)
    mine = holdout["growthsim"]
    assert mine["correlation"] is None and holdout["bgnbd"]["correlation"] is None
    assert mine["mae"] == mine["rmse"] == pytest.approx(0.3, rel=1e-12)
    json.dumps(json_safe(holdout), allow_nan=False)  # raises on NaN


@pytest.mark.parametrize(("name", "where", "ends"), [("short", "before", "2025-03-01"),
                                                      ("same", "on", "2025-03-26")])
def test_a_later_export_that_ends_by_the_fit_is_refused_in_one_line(
        shop: dict[str, Path], name: str, where: str, ends: str) -> None:
    """No --days helps, so none is suggested (it said 'covers -24 days ...; give --days 1',
    and --days 1 failed the same way); both dates named, exit 2, nothing written."""
    risk = shop["folder"] / f"{name}-risk.csv"
    made = CliRunner().invoke(app, ["customers", str(shop["fitted"]), "--days", "1",
                                    "--observed", str(shop[name]), "--out", str(risk)])
    assert made.exit_code == 2
    line = made.stderr.strip()
    assert "\n" not in line and "--days" not in line, line
    assert line.endswith(f"{shop[name]}: ends on {ends}, {where} the calibration's last day "
                         f"2025-03-26: nothing after the fit to compare with; give an export "
                         "that runs past 2025-03-26"), line
    assert not risk.exists()


def test_correlation_where_defined_is_pearsons() -> None:
    from experiments.calibration.customers import accuracy

    x, y = np.array([0.1, 0.5, 2.0, 0.0]), np.array([0.0, 1.0, 3.0, 0.0])
    assert accuracy(x, y)["correlation"] == pytest.approx(np.corrcoef(x, y)[0, 1], rel=1e-12)


def test_the_holdout_errors_have_a_table_of_their_own() -> None:
    """RMSE of orders per customer stood under 'mean P(alive)'; in one cell beside the totals
    it wrapped at 80 columns. Now: model, predicted, actual, MAE, RMSE, r."""
    from experiments.cli.customers_cli import summary_table

    table = pd.DataFrame({"risk": ["high", "low"], "p_alive": [0.2, 0.9],
                          "expected_orders": [0.1, 2.0]})
    fit = {"mae": 0.25, "rmse": 0.5, "correlation": None, "predicted_total": 2.1,
           "actual_total": 3.0}
    tiers, versus = summary_table(table, {"customers": 2, "days": 30, "holdout": {
        "growthsim": fit, "bgnbd": fit}}).renderables
    assert [c.header for c in tiers.columns][2] == "mean P(alive)" and tiers.row_count == 2
    assert [list(c._cells) for c in versus.columns][1:] == [
        ["2", "2"], ["3", "3"], ["0.2500"] * 2, ["0.5000"] * 2, ["n/a"] * 2]

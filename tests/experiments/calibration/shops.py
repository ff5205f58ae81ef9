"""Small synthetic shops the calibration tests fit, forecast and read back: one purchase and
dropout scenario with replayed arrivals, a simulated order log written as a shop's export, and
a likelihood calibration of a 1,000-customer shop on its first 12 weeks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from experiments.calibration.recovery import DAILY_FIT, daily_truth_scenario
from experiments.cli.commands import app
from sim.engine import simulate
from sim.events import event_table
from sim.planning import layout_of
from sim.scenario import Scenario, validate_scenario

START = pd.Timestamp("2025-01-01")  # day 0 of every export here
FIT_UNTIL = "2025-03-26"  # day 84: the last fitted day of `calibrated_shop`


def shop_scenario(seed: int, *, name: str = "synth", days: int = 70, size: int = 1500,
                  arrivals: list[int] | None = None, a: float = 0.8) -> Scenario:
    """Arrivals replayed ([100] * 15 by default), orders at a gamma-distributed rate with a
    beta dropout after each (a, b = 3)."""
    return validate_scenario({
        "name": name, "seed": seed, "days": days, "market": {"size": size},
        "mechanics": {
            "arrivals": {"type": "observed_arrivals", "counts": arrivals or [100] * 15},
            "purchase": {"type": "purchase_dropout", "purchase_rate": {"r": 0.5, "alpha": 10.0},
                         "dropout": {"a": a, "b": 3.0},
                         "order_value": {"model": "gamma", "shape": 2.0, "scale": 10.0},
                         "purchase_on_acquisition": True}}}, "<test>")


def export_orders(orders: pd.DataFrame, path: Path) -> Path:
    """Simulated orders (user, day, amount) as a shop exports them: customer_id, date, amount."""
    dates = START + pd.to_timedelta(orders["day"], unit="D")
    pd.DataFrame({"customer_id": orders["user"].to_numpy(), "date": dates.dt.strftime("%Y-%m-%d"),
                  "amount": orders["amount"].round(2).to_numpy()}).to_csv(path, index=False)
    return path


def calibrated_shop(folder: Path) -> tuple[pd.DataFrame, Path]:
    """1,000 simulated customers' orders over 18 weeks (all of them), and the fitted.yaml of
    a likelihood calibration on the first 12 (to FIT_UNTIL)."""
    truth = daily_truth_scenario(1000, 7, 126)
    events = event_table(simulate(truth, log_events=True), layout_of(truth))
    orders = events[events["event"] == "order"]
    data = daily_truth_scenario(1000, 7, 84).model_dump(mode="python")
    data["calibration"] = {"targets": {"repeat_purchases": 1}, "fit": DAILY_FIT,
                           "method": "likelihood"}
    spec = folder / "shop.yaml"
    spec.write_text(validate_scenario(data, "<test>").to_yaml())
    done = CliRunner().invoke(app, ["calibrate", str(spec), "--observed",
                                    str(export_orders(orders, folder / "orders.csv")),
                                    "--until", FIT_UNTIL, "--out", str(folder / "cal"),
                                    "--noise-replicates", "1", "--draws", "20", "--quiet"])
    assert done.exit_code == 0, done.output
    return orders, Path(done.stdout.strip())

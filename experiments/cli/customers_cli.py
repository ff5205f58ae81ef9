"""`simctl customers FITTED` (流失风险): per-customer P(alive) and expected orders from a
calibration, a churn-risk table for a CRM or a retention automation, and (with --observed, a
later export of the same shop) how the predictions did against what customers then ordered, next
to the closed-form BG/NBD's. Registered by experiments/cli/commands.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer
from rich.console import Group
from rich.table import Table

from experiments.calibration import bgnbd
from experiments.calibration.customers import (
    RISK_NAMES,
    accuracy,
    holdout_orders,
    risk_table,
    tier_label,
    write_risk,
)
from experiments.calibration.dates import calendar_dates
from experiments.calibration.forecast import load_posterior
from experiments.calibration.observed import load_observed
from experiments.calibration.pseudonyms import SALT_FILE, salt_folder_of
from experiments.cli.cli_common import check_writable_file, cli_errors, err, say_data_notes
from experiments.report.language import t
from experiments.runs.folders import atomic_write
from experiments.runs.outputs import json_safe
from sim.errors import InputError, Problem
from sim.scenario import load_scenario


def customers(
    fitted: Annotated[Path, typer.Argument(help="fitted.yaml written by simctl calibrate "
                                           "from an event log.")],
    days: Annotated[int, typer.Option(help="Days ahead to predict orders for.")] = 90,
    observed: Annotated[Path | None, typer.Option(
        help="A later event log of the same customers: compare the predictions with what "
        "they then ordered (and with BG/NBD's).")] = None,
    level: Annotated[float, typer.Option(help="Band over posterior draws, e.g. 0.9.")] = 0.9,
    out: Annotated[Path | None, typer.Option(help="Churn-risk table, .csv or .parquet "
                                             "(default: churn_risk.csv beside FITTED).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    quiet: Annotated[bool, typer.Option(help="Nothing on stderr but errors.")] = False,
) -> None:
    """Per-customer P(alive) and expected orders, and a churn-risk table (流失风险)."""
    with cli_errors():
        if days < 1 or not 0 < level < 1:
            raise InputError([Problem("--days/--level", None, "", "--days must be >= 1 and "
                                      "--level a share in (0, 1)")])
        scenario = load_scenario(fitted)
        folder = Path(fitted).parent
        if not (folder / "customers.parquet").is_file():
            raise InputError([Problem(str(fitted), None, "", "no customers.parquet beside it: "
                                      "calibrate from an event log (one row per order) to "
                                      "get per-customer forecasts")])
        posterior, doc = load_posterior(fitted, scenario)
        target = out or folder / "churn_risk.csv"
        # the event log the fit read too: an --out naming it would replace the customers' data
        check_writable_file(target, inputs=(fitted, observed, folder / "customers.parquet",
                                            doc.get("observed_path")),
                            suffixes=(".csv", ".parquet"), example="churn_risk.csv")
        history = pd.read_parquet(folder / "customers.parquet")
        table = risk_table(scenario, history, posterior, days, level)
        add_dates(table, doc.get("observed_start"))
        report: dict[str, Any] = {"customers": len(table), "days": days, "level": level,
                                  "expected_orders": float(table["expected_orders"].sum()),
                                  "risk": table["risk"].value_counts().to_dict(),
                                  "notes": []}  # on --observed, the later export
        if observed is not None:
            later = load_observed(observed, start=doc.get("observed_start"),
                                  salt_folder=salt_folder(folder))
            report["holdout"] = compare_holdout(table, history, later.customers, days,
                                                start=doc.get("observed_start"),
                                                source=str(observed))
            report["notes"] = list(dict.fromkeys(later.notes))
        atomic_write(target, lambda partial: write_risk(table, partial, target.suffix))
        report["table"] = str(target)
        if not quiet:
            err.print(summary_table(table, report))
        say_data_notes(t("customers", "顾客"), report["notes"], quiet)
        typer.echo(json.dumps(json_safe(report), default=float) if as_json else str(target))


def salt_folder(folder: Path) -> Path:
    """The calibration's salt folder, so a later export links to the same customers."""
    found = salt_folder_of(folder)
    if found is None:
        raise InputError([Problem(str(folder), None, "", f"no {SALT_FILE} in or above it: the "
                                  "customers cannot be linked to a later export (set "
                                  "GROWTHSIM_ID_SALT as when calibrating)")])
    return found


def add_dates(table: pd.DataFrame, start: str | None) -> None:
    """first_date and last_order_date beside the day numbers (day 0 = the data's start)."""
    if start is None:
        return
    for column, days in (("first_date", "first_day"), ("last_order_date", "last_day")):
        table[column] = calendar_dates(start, table[days])


def compare_holdout(table: pd.DataFrame, history: pd.DataFrame, later: pd.DataFrame | None,
                    days: int, start: str | None = None,
                    source: str = "--observed") -> dict[str, Any]:
    """MAE, RMSE and correlation of expected orders against the orders that followed, for
    this model and for the closed-form BG/NBD fitted by maximum likelihood on the same
    histories; refused when the later data do not cover the days predicted."""
    if later is None:
        raise InputError([Problem("--observed", None, "", "a daily table has no customers; "
                                  "give the later event log (one row per order)")])
    seen = int(history["observed_days"].iloc[0])
    covered = int(later["observed_days"].iloc[0]) - seen
    if covered < 1:  # no day after the fit: no --days would do
        ends, fit_end = _day(start, seen + covered - 1), _day(start, seen - 1)
        raise InputError([Problem(source, None, "", f"ends on {ends}, "
                                  f"{'on' if covered == 0 else 'before'} the calibration's "
                                  f"last day {fit_end}: nothing after the fit to compare "
                                  f"with; give an export that runs past {fit_end}")])
    if covered < days:
        raise InputError([Problem(source, None, "", f"covers {covered} days after the "
                                  f"calibration's {seen}; give --days {covered} or a longer "
                                  "export")])
    missing = int((~history["user"].isin(later["user"])).sum())
    if missing:  # holdout_orders would count each of them as ordering nothing
        raise InputError([Problem(source, None, "", f"{missing:,} of the calibration's "
                                  f"{len(history):,} customers are not in it: give the same "
                                  "shop's whole export, pseudonymised with the calibration's "
                                  "salt (GROWTHSIM_ID_SALT as when calibrating)")])
    ordered = history.set_index("user").loc[table["customer"]].reset_index()
    truth = holdout_orders(ordered, later)
    rfm = bgnbd.rfm(ordered)
    model = bgnbd.fit(rfm["x"].to_numpy(), rfm["t_x"].to_numpy(), rfm["T"].to_numpy())
    closed = bgnbd.expected_orders(model, rfm["x"].to_numpy(), rfm["t_x"].to_numpy(),
                                   rfm["T"].to_numpy(), days / bgnbd.WEEK)
    return {"growthsim": accuracy(table["expected_orders"].to_numpy(), truth),
            "bgnbd": accuracy(closed, truth),
            "bgnbd_params": {"r": model.r, "alpha": model.alpha, "a": model.a, "b": model.b}}


def summary_table(table: pd.DataFrame, report: dict[str, Any]) -> Group:
    """Customers, mean P(alive) and expected orders per churn-risk tier, and with --observed
    a table of how the predictions did (orders per customer: MAE, RMSE, r; it once stood under
    "mean P(alive)"); in the language in force (the numbers read the same)."""
    out = Table(t("churn risk", "流失风险"), t("customers", "顾客数"),
                t("mean P(alive)", "平均存活概率"), t("expected orders", "预期订单"),
                title=t(f"{report['customers']:,} customers: orders expected in the next "
                        f"{report['days']} days",
                        f"{report['customers']:,} 位顾客：未来 {report['days']} 天的预期订单"))
    for tier in RISK_NAMES:
        rows = table[table["risk"] == tier]
        if len(rows):
            out.add_row(tier_label(tier), f"{len(rows):,}", f"{rows['p_alive'].mean():.2f}",
                        f"{rows['expected_orders'].sum():,.0f}")
    out.caption = t("P(alive) < 0.3: high, < 0.7: medium; the table is sorted riskiest first",
                    "存活概率 P(alive) < 0.3：高，< 0.7：中；表按流失风险从高到低排列")
    holdout = report.get("holdout")
    if not holdout:
        return Group(out)
    versus = Table(t("model", "模型"), t("orders predicted", "预测订单"),
                   t("actual", "实际"), t("MAE", "MAE"), t("RMSE", "RMSE"), "r",
                   title=t("vs what the customers then ordered (per customer)",
                           "对比实际：顾客之后的订单（每位顾客）"))
    for name in ("growthsim", "bgnbd"):
        a = holdout[name]
        versus.add_row(name, _shown(a["predicted_total"]), _shown(a["actual_total"]),
                       _shown(a["mae"], ".4f"), _shown(a["rmse"], ".4f"),
                       _shown(a["correlation"], ".3f"))
    return Group(out, versus)


def _day(start: str | None, day: int) -> str:
    """A day number as its date when the calibration's first date is known."""
    return f"day {day}" if start is None else calendar_dates(start, pd.Series([day])).iloc[0]


def _shown(value: float | None, spec: str = ",.0f") -> str:
    """A number for the table; n/a where it is undefined (None or NaN: a correlation when
    nobody ordered again, BG/NBD fitted to a single customer)."""
    return "n/a" if value is None or value != value else format(value, spec)

"""Power-calculator inputs taken from a simulated run instead of typed numbers.

`simctl power --from-run RUN_DIR --run-metric NAME` fills what the chosen metric type needs:
- daily eligible traffic: the run's mean new users per day (users who could enter a test);
- proportion: the baseline is the run's value of a share metric over the horizon (e.g.
  registration_rate, repurchase_rate_30d) or of a unit-economics share (conversion_30d);
- mean / count / ratio: per-user moments from the run's event log (`simctl run --events`):
  a money metric (e.g. gmv) gives the mean and SD of each acquired user's total; a count metric
  (e.g. purchases) gives the mean count per user and a negative-binomial dispersion when the
  counts are over-dispersed; aov gives the delta-method inputs of gmv per purchase.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.metrics import METRICS

RATIOS = {"aov": (("order", "amount"), ("order", "count"))}


class RunInputError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def inputs_from_run(run_dir: Path, metric_type: str, run_metric: str) -> dict[str, Any]:
    """Values for the power calculator, keyed by its option names."""
    summary_path, metrics_path = run_dir / "summary.json", run_dir / "metrics.parquet"
    if not summary_path.is_file() or not metrics_path.is_file():
        raise RunInputError("from-run", f"{run_dir} is not a run folder (expected summary.json "
                            "and metrics.parquet from simctl run)")
    summary = json.loads(summary_path.read_text())
    daily = pd.read_parquet(metrics_path)
    out: dict[str, Any] = {"daily-traffic": float(daily["new_users"].mean())}
    if metric_type == "proportion":
        out["baseline"] = _share(summary, run_metric)
        return out
    users = _per_user(run_dir, run_metric, metric_type)
    if metric_type == "mean":
        out.update(baseline=float(users["num"].mean()), sd=float(users["num"].std(ddof=1)))
    elif metric_type == "count":
        mu, var = float(users["num"].mean()), float(users["num"].var(ddof=1))
        out["baseline"] = mu
        if var > mu > 0:
            out.update({"count-model": "negbin", "dispersion": mu**2 / (var - mu)})
        else:
            out["count-model"] = "poisson"
    else:  # ratio
        cov = np.cov(users["num"], users["den"], ddof=1)
        out.update({"num-mean": float(users["num"].mean()), "den-mean": float(users["den"].mean()),
                    "num-var": float(cov[0, 0]), "den-var": float(cov[1, 1]),
                    "num-den-cov": float(cov[0, 1])})
    return out


def _share(summary: dict[str, Any], name: str) -> float:
    value = None
    if name in summary.get("metrics", {}) and METRICS.get(name) and METRICS[name].unit == "share":
        value = summary["metrics"][name]["mean"]
    elif name in summary.get("unit_economics", {}).get("all", {}):
        value = summary["unit_economics"]["all"][name]["mean"]
    shares = sorted(n for n, m in METRICS.items() if m.unit == "share")
    if value is None:
        raise RunInputError("run-metric", f"{name!r} is not a share in this run; a proportion "
                            f"needs one of: {', '.join(shares)}, conversion_7d, conversion_30d")
    if not 0 < value < 1:
        raise RunInputError("run-metric", f"{name} is {value} in this run; a proportion "
                            "baseline must lie strictly between 0 and 1")
    return float(value)


def _per_user(run_dir: Path, name: str, metric_type: str) -> pd.DataFrame:
    """Per acquired user: the metric's total (num) and, for a ratio, its denominator (den)."""
    path = run_dir / "events.parquet"
    if not path.is_file():
        raise RunInputError("from-run", f"{run_dir} has no events.parquet; per-user moments "
                            "need a run made with `simctl run ... --events`")
    if metric_type == "ratio":
        if name not in RATIOS:
            raise RunInputError("run-metric", f"ratio inputs from a run support: "
                                f"{', '.join(RATIOS)}")
        (num_event, num_kind), (den_event, den_kind) = RATIOS[name]
    else:
        metric = METRICS.get(name)
        needs = [n for n in (metric.needs if metric else ()) if n not in ("ad_spend", "kol_spend")]
        if metric is None or metric.kind != "flow" or not needs:
            raise RunInputError("run-metric", f"{name!r} is not a per-user flow metric "
                                "(e.g. gmv, purchases, first_purchases)")
        event = needs[0]
        num_kind = "amount" if event.endswith("_amount") else "count"
        num_event = event.removesuffix("_amount")
        den_event, den_kind = num_event, "count"
    events = pd.read_parquet(path, columns=["user", "event", "amount", "replicate"])
    users = events.loc[events["event"] == "acquired", ["replicate", "user"]].drop_duplicates()

    def total(event: str, kind: str) -> pd.Series:
        rows = events[events["event"] == event]
        grouped = rows.groupby(["replicate", "user"])["amount"]
        return grouped.sum() if kind == "amount" else grouped.size().astype(float)

    table = users.set_index(["replicate", "user"])
    table["num"] = total(num_event, num_kind).reindex(table.index).fillna(0.0)
    table["den"] = total(den_event, den_kind).reindex(table.index).fillna(0.0)
    if len(table) < 2:
        raise RunInputError("from-run", "the run has fewer than 2 acquired users")
    if metric_type == "ratio":
        table = table[table["den"] > 0]
    return table

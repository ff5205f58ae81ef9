"""Power-calculator inputs taken from a simulated run instead of typed numbers.

`simctl power --from-run RUN_DIR --run-metric NAME` fills what the chosen metric type needs:
- daily eligible traffic, in the units the metric is a share or a mean of: for a share of a
  catalogue ratio the run's mean daily denominator (registration_rate: visits a day;
  repurchase_rate_30d: first orders; group_success_rate: groups opened), none where the
  denominator is a stock or money (dau_mau, private_label_share: type --daily-traffic); for
  everything per user (means, counts, aov, conversion_30d) the run's mean new users per day.
  Before, every metric took new users a day, so registration_rate's test read twice as long;
- proportion: the baseline is the run's value of a share metric over the horizon (e.g.
  registration_rate, repurchase_rate_30d) or of a unit-economics share (conversion_30d);
- mean / count / ratio: per-user moments from the run's event log (`simctl run --events`):
  a money metric (e.g. gmv) gives the mean and SD of each acquired user's total; a count metric
  (e.g. purchases) gives the mean count per user and a negative-binomial dispersion when the
  counts are over-dispersed; aov gives the delta-method inputs of gmv per purchase.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from experiments.report.language import t
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
        out["daily-traffic"] = _share_traffic(daily, run_metric)
        return out
    users = _per_user(run_dir, run_metric, metric_type)
    _check_spread(users, run_dir, run_metric, metric_type)
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


def _check_spread(users: pd.DataFrame, run_dir: Path, name: str, metric_type: str) -> None:
    """Moments need two users and some spread: a run without orders has neither (numpy would
    warn and the calculator would refuse an SD of 0 without saying where it came from)."""
    if len(users) >= 2 and users["num"].std(ddof=1) > 0:
        return
    who = (f"{len(users):,} user(s) with an order (a ratio per order needs 2)"
           if metric_type == "ratio" else
           f"{len(users):,} acquired user(s) whose {name} is the same for all")
    raise RunInputError("run-metric", f"{name}: {run_dir} has {who}; no spread to plan with: "
                        "run longer or with a larger market")


def traffic_unit(metric_type: str, name: str) -> str:
    """The daily count `--from-run` plans a duration with: for a share of a catalogue ratio,
    what it is a share of (its denominator); for everything per user, new users."""
    metric = METRICS.get(name)
    if metric_type == "proportion" and metric is not None and metric.kind == "ratio":
        return metric.denominator or "new_users"
    return "new_users"


def _share_traffic(daily: pd.DataFrame, name: str) -> float | None:
    """A share's daily traffic: the mean per day of `traffic_unit`'s count, none when that is
    a stock or money (no traffic to plan a duration with)."""
    unit = traffic_unit("proportion", name)
    counted = METRICS.get(unit)
    if unit not in daily or counted is None or counted.kind != "flow" or \
            counted.unit.startswith("yuan"):
        return None
    return float(daily[unit].mean())


def traffic_note(metric_type: str, name: str, per_day: float) -> str:
    """The line that says which daily traffic a duration from a run was planned with."""
    unit = traffic_unit(metric_type, name)
    return t(f"daily traffic from the run: {per_day:,.1f} {unit} a day (what {name} is "
             "counted over)",
             f"来自运行的每日流量：每天 {per_day:,.1f} {unit}（{name} 的统计单位）")


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


def inputs_from_ab(ab_dir: Path, metric: str | None, unit: str | None) -> dict[str, Any]:
    """A mean metric planned with what `simctl ab` measured for one design: the control mean,
    the per-user SD implied by the standard error the design really had (interference and
    clusters included), and the effect the design estimates (its bias included) as the MDE;
    also the true effect, for the note that compares them."""
    path = ab_dir / "summary.json"
    if not path.is_file():
        raise RunInputError("from-ab", f"{ab_dir} is not an A/B folder (expected summary.json "
                            "from simctl ab)")
    summary = json.loads(path.read_text())
    name = metric or summary["primary_metric"]
    rows = [d for d in summary["designs"] if d["metric"] == name]
    if not rows:
        known = sorted({d["metric"] for d in summary["designs"]})
        raise RunInputError("run-metric", f"{name!r} was not simulated; {', '.join(known)}")
    chosen = unit or summary.get("recommendation", {}).get("unit") or rows[0]["unit"]
    rows = [d for d in rows if d["unit"] == chosen]
    if not rows:
        raise RunInputError("ab-unit", f"{chosen!r} was not simulated in {ab_dir.name}")
    first = rows[0].get("arm")  # several treatments: the first one's comparison
    rows = [d for d in rows if d.get("arm") == first]
    row = max(rows, key=lambda d: (d["size"], d["duration"]))  # the best-measured design
    if row.get("mean_se") is None or not row.get("n_control") or not row.get("n_treatment") \
            or row.get("estimate") is None:
        raise RunInputError("from-ab", f"{ab_dir.name}: {name} by {chosen} has no spread to "
                            "plan from (no users in an arm, or too few replicates); simulate a "
                            "larger market or more replicates with simctl ab")
    sd = row["mean_se"] / math.sqrt(1 / row["n_control"] + 1 / row["n_treatment"])
    return {"baseline": row["control_mean"], "sd": sd, "mde": row["estimate"],
            "true_effect": row["true_effect"], "relative_bias": row["relative_bias"],
            "unit": chosen, "metric": name, "duration": row["duration"], "arm": first}


def merge_ab_inputs(inputs: dict[str, Any], mde: float | None, from_ab: Path | None,
                    unit: str | None, run_metric: str | None,
                    metric_type: str) -> tuple[dict[str, Any], float | None, list[str]]:
    """Typed values win; `--from-ab` fills baseline, SD and MDE of a mean metric and says how
    the effect it plans for differs from the true one."""
    if from_ab is None:
        if unit is not None:
            raise RunInputError("ab-unit", "--ab-unit goes with --from-ab AB_DIR")
        return inputs, mde, []
    if metric_type != "mean":
        raise RunInputError("from-ab", "plans a mean per user (the A/B simulation measures "
                            "each metric as one); use --metric mean")
    found = inputs_from_ab(from_ab, run_metric, unit)
    merged = {**inputs, **{k: found[k] for k in ("baseline", "sd") if inputs.get(k) is None}}
    planned = mde if mde is not None else found["mde"]
    note = t(f"from {from_ab.name}: {found['metric']} ({found['arm']} vs control) by "
             f"{found['unit']} over "
             f"{found['duration']} days estimates {found['mde']:.4g} where the true effect is "
             f"{found['true_effect']:.4g} ({_bias(found['relative_bias'])}); SD "
             f"{merged['sd']:.4g} per user includes what the design's clusters and spillover "
             "cost",
             f"来自 {from_ab.name}：{found['metric']}（{found['arm']} 对比对照组）按 "
             f"{found['unit']} 随机、历时 {found['duration']} 天，估计效应 {found['mde']:.4g}，"
             f"真实效应 {found['true_effect']:.4g}（{_bias(found['relative_bias'])}）；每用户"
             f"标准差 {merged['sd']:.4g} 已计入该设计的簇与溢出效应的代价")
    return merged, planned, [note]


def _bias(relative_bias: float | None) -> str:
    """The design's relative bias, or why there is none (a true effect of 0 has no ratio)."""
    if relative_bias is None:
        return t("bias n/a: the true effect is 0", "偏差不适用：真实效应为 0")
    return t(f"bias {relative_bias:+.0%}", f"偏差 {relative_bias:+.0%}")

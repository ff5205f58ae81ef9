"""What a calibration writes: the fitted scenario, the study's trials, posterior draws, observed
data (pseudonymised), the weekly fit and a report, in one folder per observed data set that is
swapped in whole."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from experiments.calibration.objective import Distance, FitParam, weekly
from experiments.calibration.observed import Observed
from experiments.report.pages import page
from experiments.report.parts import embed
from experiments.runs.folders import atomic_folder
from experiments.runs.outputs import json_safe
from sim.scenario import Scenario

FITTED = "fitted.yaml"
POSTERIOR = "posterior.parquet"
SUMMARY = "summary.json"


def write_fit(folder: Path, fitted: Scenario, table: pd.DataFrame, posterior: pd.DataFrame,
              observed: Observed, distance: Distance, sims: list[np.ndarray],
              doc: dict[str, Any], params: list[FitParam]) -> None:
    """Write into a hidden sibling, then swap it in: a reader never sees half a folder."""
    with atomic_folder(folder) as partial:
        _write_outputs(partial, fitted, table, posterior, observed, distance, sims, doc, params)


def _write_outputs(folder: Path, fitted: Scenario, table: pd.DataFrame, posterior: pd.DataFrame,
                   observed: Observed, distance: Distance, sims: list[np.ndarray],
                   doc: dict[str, Any], params: list[FitParam]) -> None:
    (folder / FITTED).write_text(fitted.to_yaml(), "utf-8")
    table.to_parquet(folder / "trials.parquet", index=False)
    posterior.to_parquet(folder / POSTERIOR, index=False)
    observed.daily.reset_index().to_parquet(folder / "observed.parquet", index=False)
    if observed.customers is not None:  # pseudonymised ids only
        observed.customers.to_parquet(folder / "customers.parquet", index=False)
    weekly_fit = fit_table(distance, sims)
    weekly_fit.to_parquet(folder / "fit.parquet", index=False)
    (folder / SUMMARY).write_text(json.dumps(json_safe(doc), indent=2), "utf-8")
    (folder / "report.html").write_text(fit_report(fitted, table, weekly_fit, doc, params),
                                        "utf-8")


def fit_table(distance: Distance, sims: list[np.ndarray]) -> pd.DataFrame:
    """Weekly observed vs simulated (mean, 5% and 95% across replicates at the fit)."""
    sim = np.array([weekly(np.nan_to_num(s[: distance.mask.shape[0]]), distance.mask,
                           distance.flows) for s in sims])
    rows = []
    for j, metric in enumerate(distance.metrics):
        for k in range(distance.obs_weekly.shape[0]):
            rows.append({"metric": metric, "week": k + 1,
                         "observed": distance.obs_weekly[k, j],
                         "sim_mean": float(np.mean(sim[:, k, j])),
                         "sim_q05": float(np.quantile(sim[:, k, j], 0.05)),
                         "sim_q95": float(np.quantile(sim[:, k, j], 0.95))})
    frame = pd.DataFrame(rows)
    frame["residual"] = frame["observed"] - frame["sim_mean"]
    return frame


def fit_report(fitted: Scenario, trials: pd.DataFrame, weekly_fit: pd.DataFrame,
               doc: dict[str, Any], params: list[FitParam]) -> str:
    """Observed vs simulated with bands, parameter traces over trials, residuals over time."""
    metrics = list(dict.fromkeys(weekly_fit["metric"]))
    fig = make_subplots(rows=len(metrics), cols=2, subplot_titles=[
        t for m in metrics for t in (f"{m}: observed vs simulated (weekly)",
                                     f"{m}: residual observed - simulated")])
    for i, m in enumerate(metrics, start=1):
        g = weekly_fit[weekly_fit["metric"] == m]
        fig.add_trace(go.Scatter(x=list(g["week"]) + list(g["week"][::-1]),
                                 y=list(g["sim_q95"]) + list(g["sim_q05"][::-1]), fill="toself",
                                 fillcolor="rgba(31,119,180,0.2)", line={"width": 0},
                                 name="simulated 90% band", showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Scatter(x=g["week"], y=g["sim_mean"], name="simulated mean",
                                 line={"color": "#1f77b4"}, showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Scatter(x=g["week"], y=g["observed"], name="observed", mode="markers",
                                 marker={"color": "#d62728"}, showlegend=i == 1), row=i, col=1)
        fig.add_trace(go.Bar(x=g["week"], y=g["residual"], marker_color="#888", showlegend=False),
                      row=i, col=2)
    fig.update_layout(height=330 * len(metrics))
    trace = make_subplots(rows=1, cols=len(params) + 1,
                          subplot_titles=[p.path.split(".", 2)[-1] for p in params]
                          + ["distance"])
    ok = trials[trials["state"] == "COMPLETE"]
    for i, p in enumerate(params, start=1):
        trace.add_trace(go.Scatter(x=ok["trial"], y=ok[p.path], mode="markers",
                                   marker={"size": 5}, showlegend=False), row=1, col=i)
    trace.add_trace(go.Scatter(x=ok["trial"], y=ok["distance"], mode="markers",
                               marker={"size": 5}, showlegend=False), row=1, col=len(params) + 1)
    trace.update_yaxes(type="log", row=1, col=len(params) + 1)
    trace.update_layout(height=320, title="Parameter traces over trials")
    intro = (f"Fitted {', '.join(p.path for p in params)} to {doc['observed']} "
             f"({doc['observed_days']} days from {doc['observed_start']}) on weekly "
             f"{', '.join(metrics)}, standardised by the observed scale; {doc['optimizer']}, "
             f"{doc['trials_in_study']} trials in study {doc['study']}"
             f"{' (resumed)' if doc['resumed'] else ''}"
             f"{', warm-started from ' + doc['warm_start_from'] if doc['warm_start_from'] else ''}"
             f"; {doc['replicates']} replicates per trial with common random numbers. Relative "
             f"RMSE at the fit {doc['relative_rmse']:.3f}. Bands: 90% of "
             f"{doc['posterior']['noise_replicates']} replicates at the fit (simulation noise).")
    post = pd.DataFrame([{"parameter": k, "estimate": v["estimate"],
                          "posterior mean": v["mean"],
                          "90% low": v["interval90"][0], "50% low": v["interval50"][0],
                          "50% high": v["interval50"][1], "90% high": v["interval90"][1]}
                         for k, v in doc["posterior"]["params"].items()])
    body = (embed(fig)
            + embed(trace)
            + "<h2>Approximate posterior (projected regression; 50% and 90% intervals)</h2>"
            + post.to_html(index=False, float_format=lambda v: f"{v:.5g}")
            + f"<h2>Fitted scenario</h2><pre>{html.escape(fitted.to_yaml()[:4000])}</pre>")
    return page(f"Calibration: {fitted.name}", intro, body)

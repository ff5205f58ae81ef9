"""Run folders: `runs/<scenario>/<timestamp>-<hash>/`, written atomically.

Everything is written into a hidden `.partial-...` sibling first and renamed into place only when
complete, so an interrupted or killed run never leaves a folder that looks finished.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from experiments.report.report import write_report
from experiments.runs.folders import claim_folder
from sim.aggregation import Result
from sim.events import write_event_log
from sim.mechanics import REGISTRY
from sim.metrics import METRICS
from sim.planning import layout_of


def run_folder_name(result: Result, now: datetime | None = None) -> str:
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    digest = hashlib.sha256(result.scenario.to_yaml().encode()).hexdigest()[:8]
    return f"{stamp}-{digest}"


def summary_document(result: Result, wall_seconds: float) -> dict[str, Any]:
    scenario = result.scenario
    doc: dict[str, Any] = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "replicates": scenario.replicates,
        "days": scenario.days,
        "market_size": scenario.market.size,
        "arms": scenario.arm_names,
        "growthsim_version": version("growthsim"),
        "wall_seconds": round(wall_seconds, 3),
        "metrics": {
            name: {**values, "unit": METRICS[name].unit}
            for name, values in result.summary().items()
        },
    }
    if scenario.experiment is not None:
        doc["by_arm"] = result.arm_summary()
    # per acquisition channel: the horizon metrics, and CAC/LTV/payback (with "all")
    doc["by_channel"] = {} if result.channel_metrics.empty else result.channel_summary()
    doc["unit_economics"] = result.unit_economics_summary() if result.counters else {}
    doc["tables"] = end_of_run_tables(result)
    return json_safe(doc)


def end_of_run_tables(result: Result) -> dict[str, list]:
    """Mechanics' end-of-run tables (referral-tree depths, RFM transitions, per-rule results),
    averaged over replicates; tables of records (supplier deliveries) are listed instead, each
    row led by its replicate."""
    tables: dict[str, list] = {}
    names = sorted({k for c in result.counters.values() for k in c.extras})
    records = {f"{name}.{table}" for name, params in result.scenario.mechanics.items()
               for table in REGISTRY[params.type][1].records}
    for name in names:
        if name in records:
            tables[name] = [[replicate, *row] for replicate, c in result.counters.items()
                            if name in c.extras for row in np.asarray(c.extras[name]).tolist()]
            continue
        arrays = [np.asarray(c.extras[name]) for c in result.counters.values()
                  if name in c.extras]
        if not np.issubdtype(arrays[0].dtype, np.number):  # labels (e.g. rule names)
            tables[name] = arrays[0].tolist()
            continue
        # zeros where a replicate's table is shorter (a referral tree of fewer levels); only
        # the last axis may differ: a table whose rows differ is a log (declare it `records`)
        width = max(a.shape[-1] for a in arrays) if arrays[0].ndim else 0
        padded = [np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, width - a.shape[-1])])
                  if a.ndim else a for a in arrays]
        tables[name] = np.mean(padded, axis=0).tolist()
    return tables


def write_run(result: Result, out_root: Path, wall_seconds: float, events: bool = False,
              forecast: dict[str, Any] | None = None) -> Path:
    """Write the run folder and return its final path: the name is claimed when the folder is
    complete, so a parallel identical run gets `-2` rather than a crash (`forecast`, from
    `experiments.calibration.forecast.load_forecast`, fills the dashboard's early-warning panel)."""
    return claim_folder(Path(out_root) / result.scenario.name, run_folder_name(result),
                        lambda partial: _fill_run(partial, result, wall_seconds, events,
                                                  forecast))


def _fill_run(partial: Path, result: Result, wall_seconds: float, events: bool,
              forecast: dict[str, Any] | None) -> None:
    """Everything a run folder holds, written into the hidden folder that becomes it."""
    (partial / "scenario.resolved.yaml").write_text(result.scenario.to_yaml(), "utf-8")
    result.metrics.to_parquet(partial / "metrics.parquet", index=False)
    if result.scenario.experiment is not None:
        result.arm_metrics.to_parquet(partial / "arm_metrics.parquet", index=False)
    if not result.channel_metrics.empty:
        result.channel_metrics.to_parquet(partial / "channel_metrics.parquet", index=False)
    if events:
        write_event_log(result.counters, layout_of(result.scenario),
                        partial / "events.parquet")
    summary = summary_document(result, wall_seconds)
    (partial / "summary.json").write_text(json.dumps(summary, indent=2), "utf-8")
    write_report(result, summary, partial / "report.html", forecast)


def json_safe(value: Any) -> Any:
    """NaN and infinity become null so summary.json is valid JSON for every reader."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value

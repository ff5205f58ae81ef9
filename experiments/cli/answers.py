"""The answer on screen at the end of a sweep, a sensitivity study or an optimisation, so that
"which reward pays back?" is read in the terminal, not in Parquet: the points with their
intervals and the best one marked, the indices that matter, the best trial; and a warning
where the statistics are too thin to trust (too few replicates for an interval, too few base
samples for Sobol indices, an objective that only saturates)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
from rich.table import Table

from experiments.report.language import metric_label, t
from experiments.report.parts import fmt
from experiments.runs.produced import why_undefined
from sim.metrics import METRICS

SHOWN_METRICS = ("acquired_users", "gmv", "contribution", "roi")
MAX_ROWS = 12


def _interval(row: pd.Series) -> str:
    if not math.isfinite(row["ci_low"]):
        return fmt(row["mean"])
    return f"{fmt(row['mean'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def sweep_answer(run_dir: Path, shown: tuple[str, ...] = SHOWN_METRICS
                 ) -> tuple[Table | None, list[str]]:
    """Points × a few headline metrics (mean and 95% interval), the best of each metric
    starred; a warning when one replicate gives no interval."""
    path = Path(run_dir) / "summary.parquet"
    if not path.is_file():
        return None, []
    summary = pd.read_parquet(path)
    params = list(summary.columns[1:summary.columns.get_loc("metric")])
    finite = summary[summary["mean"].notna()]
    metrics = [m for m in shown if m in set(finite["metric"])]
    wide = {m: summary[summary["metric"] == m].set_index("point") for m in metrics}
    table = Table(*short_names(params).values(),
                  *(metric_label(m) for m in metrics),
                  title=t("sweep: mean [95% interval] per point; ★ best",
                          "参数扫描：各点均值 [95% 区间]；★ 最优"))
    best = {m: (frame["mean"].idxmin() if METRICS[m].good == "down" else frame["mean"].idxmax())
            for m, frame in wide.items()
            if frame["mean"].notna().any() and frame["mean"].nunique() > 1}  # a tie: no best
    points = sorted(set(summary["point"]))
    for point in points[:MAX_ROWS]:
        first = summary[summary["point"] == point].iloc[0]
        cells = [f"{first[p]:g}" if isinstance(first[p], float) else str(first[p])
                 for p in params]
        cells += [_interval(wide[m].loc[point]) + (" ★" if best.get(m) == point else "")
                  for m in metrics]
        table.add_row(*cells)
    warnings = []
    if len(points) > MAX_ROWS:
        warnings.append(t(f"{len(points) - MAX_ROWS} more points in summary.parquet",
                          f"另有 {len(points) - MAX_ROWS} 个点见 summary.parquet"))
    if finite[finite["metric"].isin(metrics)]["n"].min() < 2:
        warnings.append(t("thin: one replicate per point gives no interval; use --replicates 3 "
                          "or more before choosing between close points",
                          "样本不足：每点一次重复没有区间；在相近的点之间取舍前请用 --replicates 3 "
                          "或更多"))
    return table, warnings


def sensitivity_answer(doc: dict[str, Any]) -> tuple[Table, list[str]]:
    """Total-order Sobol indices (else Morris mu*) per metric, largest first."""
    rows = [r for r in doc["indices"] if r["method"] == "sobol"] or doc["indices"]
    sobol = rows[0]["method"] == "sobol" if rows else doc["method"] != "morris"
    value, conf = ("ST", "ST_conf") if sobol else ("mu_star", "mu_star_conf")
    table = Table(t("metric", "指标"), t("parameter", "参数"),
                  t("total index ST ± 95%", "总效应指数 ST ± 95%") if sobol
                  else "Morris mu* ± 95%",
                  *([t("first order S1 ± 95%", "一阶指数 S1 ± 95%")] if sobol else []),
                  title=t("sensitivity: what moves each output", "敏感性：什么在推动各项结果"))
    names = short_names(doc["params"])
    for row in sorted(rows, key=lambda r: (r["metric"], -r[value])):
        table.add_row(metric_label(row["metric"]), names[row["param"]],
                      f"{row[value]:.3g} ± {row[conf]:.2g}",
                      *([f"{row['S1']:.3g} ± {row['S1_conf']:.2g}"] if sobol else []))
    warnings = []
    if sobol:
        thin = [r for r in rows if r["ST_conf"] > abs(r["ST"]) or r["S1"] < -r["S1_conf"]
                or r["S1"] < -0.05 or max(r["S1"], r["ST"]) > 1]  # a share above 1: noise
        if thin:
            warnings.append(t(
                f"thin: {len(thin)} of {len(rows)} Sobol indices are smaller than their "
                f"interval, negative or above 1 (from {doc['points']} base samples); raise "
                "--points (64 or more) before reading them",
                f"样本不足：{len(rows)} 个 Sobol 指数中有 {len(thin)} 个小于其区间、为负或大于 1"
                f"（来自 {doc['points']} 个基础样本）；请把 --points 提高到 64 或更多再解读"))
    warnings += _flat_outputs(doc.get("spread", {}))
    sampled = doc["simulations"] // max(doc.get("replicates", 1), 1)
    for metric, missing in doc.get("undefined", {}).items():
        why, why_zh = why_undefined(metric)
        warnings.append(t(
            f"undefined: {metric} has no value at {missing} of {sampled} sampled points "
            f"({why}): no index for it",
            f"无定义：{metric_label(metric)} 在 {sampled} 个采样点中有 {missing} 个没有数值"
            f"（{why_zh}）：不给出指数"))
    return table, warnings


def _at_an_edge(doc: dict[str, Any]) -> list[str]:
    """A best value within 2% of an end of its range: the optimum may lie beyond it (a gift of
    0.0034 on 0..30 read as settled)."""
    out = []
    for path, (low, high) in doc.get("bounds", {}).items():
        value = doc["best_params"].get(path)
        if value is None or high <= low:
            continue
        end = low if value - low <= 0.02 * (high - low) else high \
            if high - value <= 0.02 * (high - low) else None
        if end is None:
            continue
        side, side_zh = ("low", "下") if end == low else ("high", "上")
        out.append(t(
            f"edge: the best {path} {_setting(value, False)} is at the {side} end of its range "
            f"{low:g}..{high:g}: where values beyond it are possible, widen the range, the "
            "optimum may lie there",
            f"边界：最优的 {path} {_setting(value, False)} 位于范围 {low:g}..{high:g} "
            f"的{side_zh}端：若范围之外的取值可行，请放宽范围，最优值可能在那里"))
    return out


def _flat_outputs(spread: dict[str, dict[str, float]]) -> list[str]:
    """Outputs that barely move over the sampled box (within 0.1% of their mean, or not at
    all): their indices split noise, e.g. acquired users saturated at the whole market."""
    out = []
    for metric, s in spread.items():
        if s["max"] - s["min"] > 1e-3 * max(abs(s["mean"]), 1e-12):
            continue
        low, high = f"{s['min']:,.6g}", f"{s['max']:,.6g}"
        out.append(t(
            f"flat: {metric} stays between {low} and {high} over every sample (saturated or "
            "constant): its indices split noise, not influence; widen the ranges or read "
            "another output",
            f"几乎不变：{metric_label(metric)} 在所有样本中都在 {low} 到 {high} 之间"
            "（饱和或恒定）：其指数分配的是噪声而非影响；请放宽参数范围或改看其他指标"))
    return out


def short_names(params: list[str]) -> dict[str, str]:
    """Parameters by their last two parts (acquisition.q), whole where two would collide."""
    short = {p: ".".join(p.split(".")[-2:]) for p in params}
    clash = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {p: p if s in clash else s for p, s in short.items()}


def _setting(value: Any, chosen: bool) -> str:
    """A best setting: a value within bounds to 4 significant digits, a listed choice as
    typed (0.012345, true)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if chosen or not isinstance(value, int | float):
        return str(value)
    return f"{value:.4g}"


def optimize_answer(doc: dict[str, Any], market_size: int) -> tuple[Table | None, list[str]]:
    """The best trial, and a warning when the objective merely saturates (nothing when no
    trial met the constraints: the headline says so)."""
    if doc["best_params"] is None:
        return None, []
    # a row per parameter: a column each cut long paths to "mechanics.p…" beyond four or five
    table = Table("", t("best", "最优"), title=t("optimize: best trial", "优化：最优试验"))
    table.add_row(f"{doc['direction']} {metric_label(doc['objective'])}",
                  f"{doc['best_value']:,.6g}", end_section=True)
    for path, value in doc["best_params"].items():
        table.add_row(path, _setting(value, path in doc.get("choices", ())))
    warnings = _at_an_edge(doc)
    objective = METRICS.get(doc["objective"])  # None: a cohort metric (LTV, payback ...)
    if objective is not None and objective.unit == "users" and \
            doc["best_value"] >= 0.98 * market_size:
        warnings.append(t(
            f"saturates: {doc['objective']} {doc['best_value']:,.0f} is the whole market "
            f"({market_size:,}); every setting near the best gives the same answer. Optimise "
            "money (contribution, roi) or a rate instead",
            f"已饱和：{doc['objective']} {doc['best_value']:,.0f} 就是整个市场（{market_size:,}）；"
            "最优附近的每个设置给出同样答案。请改为优化资金（contribution、roi）或比率"))
    return table, warnings

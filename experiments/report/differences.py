"""What differs between runs: every headline metric of each run against the first, with a 95%
interval, in a table and a chart (the dashboard's "differences" section).

Each run's replicates give one value per metric over the horizon. Runs with the same seed and
replicate count share random numbers replicate by replicate (common random numbers): their
difference is read replicate by replicate with a paired t interval (scipy's ttest_rel), which
sees that a change of the gift's value leaves the user counts exactly as they were. Runs with
different seeds are independent: Welch's t interval (experiments.analysis.comparisons.
welch_ttest, the test `simctl analyze` uses for means). With one replicate a run has no spread
and no interval is shown.
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from experiments.analysis.comparisons import welch_ttest
from experiments.analysis.statistics import SampleMeanStatistic
from experiments.report.language import metric_label, metric_unit, t
from experiments.report.parts import PALETTE, embed, fmt_html, section
from sim.metrics import HEADLINE, HEALTH, METRICS

if TYPE_CHECKING:
    from experiments.report.dashboard import RunFolder

COMPARED = tuple(dict.fromkeys((*HEADLINE, *HEALTH)))  # every headline and health metric


@dataclass(frozen=True)
class Difference:
    """Run minus the first run, for one metric; NaN where undefined (no interval with one
    replicate, no relative change from a zero baseline)."""

    metric: str
    baseline: float
    value: float
    absolute: float
    low: float
    high: float
    relative: float
    relative_low: float
    relative_high: float

    @property
    def verdict(self) -> str:
        """'better', 'worse' or '' (the interval covers 0, or the metric has no good side)."""
        if math.isnan(self.low) or self.low <= 0 <= self.high:
            return ""
        good = METRICS[self.metric].good
        if good == "neither":
            return ""
        return "better" if (self.low > 0) == (good == "up") else "worse"


def difference(metric: str, baseline: pd.Series, other: pd.Series) -> Difference:
    """Welch difference of two runs' replicate values of one metric."""
    a, b = (SampleMeanStatistic.from_values(x.dropna().to_numpy()) for x in (baseline, other))
    nan = math.nan
    if a.n == 0 or b.n == 0:
        return Difference(metric, *[nan] * 8)  # a run without this metric: nothing to say
    effect = b.mean - a.mean
    relative = effect / abs(a.mean) if a.mean else nan
    if a.n < 2 or b.n < 2 or a.variance + b.variance == 0:
        exact = a.n >= 2 and b.n >= 2  # no spread at all: the difference is exact
        low, high = (effect, effect) if exact else (nan, nan)
        rel = (relative, relative) if exact else (nan, nan)
        return Difference(metric, a.mean, b.mean, effect, low, high, relative, *rel)
    test = welch_ttest(a, b)
    rel_low, rel_high = ((test.relative_ci_lower, test.relative_ci_upper) if a.mean > 0
                         else (nan, nan))
    return Difference(metric, a.mean, b.mean, effect, test.ci_lower, test.ci_upper, relative,
                      rel_low, rel_high)


def paired_difference(metric: str, baseline: pd.Series, other: pd.Series) -> Difference:
    """Replicate i of one run against replicate i of the other (common random numbers)."""
    a, b = baseline.to_numpy(dtype=float), other.to_numpy(dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 2:
        return difference(metric, pd.Series(a), pd.Series(b))
    base, effect = float(a.mean()), float((b - a).mean())
    if np.all(b - a == b[0] - a[0]):  # no spread at all: the difference is exact
        low = high = effect
    else:
        from scipy import stats  # here, not at the top: `simctl run` never needs it

        ci = stats.ttest_rel(b, a).confidence_interval(0.95)
        low, high = float(ci.low), float(ci.high)
    scale = abs(base) if base else math.nan
    return Difference(metric, base, float(b.mean()), effect, low, high, effect / scale,
                      low / scale, high / scale)


def _paired(first: RunFolder, run: RunFolder) -> bool:
    """Same seed and replicates: replicate i of both used the same random streams."""
    return (first.scenario.get("seed") == run.scenario.get("seed")
            and len(first.horizon) == len(run.horizon))


def run_differences(runs: list[RunFolder]) -> dict[str, list[Difference]]:
    """For each run after the first (by label): its differences from the first run, for
    every compared metric both runs produce (paired when they share seeds)."""
    first = runs[0].horizon
    out = {}
    for run in runs[1:]:
        compare = paired_difference if _paired(runs[0], run) else difference
        out[run.label] = [compare(m, first[m], run.horizon[m]) for m in COMPARED
                          if m in first.columns and m in run.horizon.columns]
    return out


def _cell(d: Difference) -> str:
    css = {"better": "up", "worse": "down"}.get(d.verdict, "flat")
    interval = ("" if math.isnan(d.low) else
                f"<br><small>[{fmt_html(d.low)}, {fmt_html(d.high)}]</small>")
    rel = "" if math.isnan(d.relative) else f" ({d.relative:+.1%})"
    return (f"<td class='{css}' data-metric='{d.metric}'>{fmt_html(d.absolute)}{rel}"
            f"{interval}</td>")


def differences_figure(table: dict[str, list[Difference]]) -> go.Figure:
    """Relative difference from the first run, per metric, with its 95% interval."""
    fig = go.Figure()
    for i, (label, diffs) in enumerate(table.items()):
        shown = [d for d in diffs if not math.isnan(d.relative)]
        fig.add_trace(go.Scatter(
            x=[d.relative for d in shown], y=[metric_label(d.metric) for d in shown],
            mode="markers", name=label, marker={"color": PALETTE[(i + 1) % len(PALETTE)],
                                                "size": 9},
            error_x={"type": "data", "symmetric": False, "thickness": 1,
                     "array": [0 if math.isnan(d.relative_high) else d.relative_high - d.relative
                               for d in shown],
                     "arrayminus": [0 if math.isnan(d.relative_low) else d.relative - d.relative_low
                                    for d in shown]}))
    fig.add_vline(x=0, line_dash="dash", line_color="#888")
    rows = len({d.metric for diffs in table.values() for d in diffs})
    fig.update_layout(height=120 + 26 * rows,
                      xaxis={"tickformat": "+.0%", "title": t("relative to run #1",
                                                              "相对运行 #1 的变化")},
                      yaxis={"autorange": "reversed"}, legend={"orientation": "h", "y": -0.15},
                      margin={"t": 20, "l": 160, "r": 20, "b": 60})
    return fig


def differences_section(runs: list[RunFolder]) -> str:
    title = t("Differences from run #1", "与运行 #1 的差异")
    if len(runs) < 2:
        return section("differences", title, "<p class='note'>" + t(
            "One run: nothing to compare.", "只有一个运行，无可比较。") + "</p>")
    table = run_differences(runs)
    metrics = list(dict.fromkeys(d.metric for diffs in table.values() for d in diffs))
    head = "".join(f"<th>{html.escape(label)}</th>" for label in table)
    body = []
    for metric in metrics:
        found = {label: next((d for d in diffs if d.metric == metric), None)
                 for label, diffs in table.items()}
        base = next(d.baseline for d in found.values() if d is not None)
        cells = "".join(_cell(d) if d is not None else "<td>–</td>" for d in found.values())
        body.append(f"<tr><td title='{html.escape(METRICS[metric].description)}'>"
                    f"{html.escape(metric_label(metric))} <small>{html.escape(metric_unit(metric))}"
                    f"</small></td><td>{fmt_html(base)}</td>{cells}</tr>")
    thin = [r.label for r in runs if len(r.horizon) < 2]
    note = ("<p class='warn'>" + t(
        f"No interval for {', '.join(thin)}: one replicate has no spread; run with "
        "--replicates 3 or more before reading a difference.",
        f"{', '.join(thin)} 没有区间：一次重复没有离散度；请用 --replicates 3 或更多再看差异。")
        + "</p>") if thin else ""
    intro = t(
        "Each run minus run #1, over the horizon: difference of the means across replicates, "
        "relative change, and below it the 95% interval: paired replicate by replicate when "
        "the runs share their seed (common random numbers), Welch's otherwise. Green: the "
        "interval leaves 0 on the good side; red: on the bad side; grey: no clear difference "
        "(or a metric with no good side).",
        "各运行减去运行 #1 的全周期差异：各次重复均值之差、相对变化，下方为 95% 区间："
        "随机种子相同的运行逐次重复配对比较（共用随机数），否则用 Welch 区间。"
        "绿色：区间在向好一侧不含 0；红色：在变差一侧；灰色：无明显差异（或指标无好坏方向）。")
    return section("differences", title,
                   f"<p>{intro}</p>{note}<div class='wide'><table><thead><tr>"
                   f"<th>{t('metric', '指标')}</th><th>#1</th>{head}</tr></thead>"
                   f"<tbody>{''.join(body)}</tbody></table></div>"
                   + embed(differences_figure(table)))

"""`simctl ab`: simulate a scenario's A/B test in the market, R times, per randomisation unit.

Registered by experiments/cli/commands.py. Prints the run folder (or,
with --json, summary.json) on stdout; the folder holds results.csv (one row per design x
duration x metric x replicate), summary.csv, summary.json and a self-contained report.html.
"""

from __future__ import annotations

import html
import json
import math
import time
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import plotly.graph_objects as go
import typer
from rich.table import Table

from experiments.cli.cli_common import (
    DaysOption,
    LazyProgress,
    OverridesArg,
    SeedOption,
    check_writable_folder,
    cli_errors,
    command_line_overrides,
    err,
    say_notes,
)
from experiments.planning.ab_summary import recommend, summarise
from experiments.planning.abtest import UNITS, simulate_ab
from experiments.report.language import current, html_lang, metric_label, metric_title, t, use
from experiments.report.pages import page
from experiments.report.parts import embed, fmt
from experiments.runs.executors import make_executor
from experiments.runs.folders import new_folder
from sim.errors import InputError, Problem
from sim.scenario import Scenario, load_scenario


def _usage(message: str) -> InputError:
    return InputError([Problem("simctl ab", None, "", message)])


def _ints(text: str | None, option: str) -> list[int] | None:
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise _usage(f"{option}: expected whole numbers separated by commas, got {text!r}") \
            from None
    if not values or min(values) < 1:
        raise _usage(f"{option}: expected whole numbers >= 1, got {text!r}")
    return values


def ab(
    scenario_file: Annotated[Path, typer.Argument(help="Scenario YAML with an experiment: "
                                                  "block.")],
    overrides: OverridesArg = None,
    days: DaysOption = None,
    seed: SeedOption = None,
    replicates: Annotated[int, typer.Option(help="Replicates R per design.")] = 100,
    units: Annotated[str | None, typer.Option(
        help="Randomisation units to compare, e.g. user,cluster (default: user, cluster and "
        "ego side by side, so the recommendation can say which to run).")] = None,
    durations: Annotated[str | None, typer.Option(
        help="Test durations in days to read, e.g. 14,28,56 (default: the scenario's).")] = None,
    sizes: Annotated[str | None, typer.Option(
        help="Market sizes to simulate, e.g. 20000,100000 (default: the scenario's).")] = None,
    executor: Annotated[str, typer.Option(help="serial, processes:N, dask-local:N or "
                                          "dask://HOST:PORT.")] = "serial",
    out: Annotated[Path, typer.Option(help="Root folder for run folders.")] = Path("runs"),
    json_out: Annotated[bool, typer.Option("--json", help="Print summary.json on stdout.")
                        ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress bar on stderr.")] = False,
    power: Annotated[float, typer.Option(help="Target power of the recommendation.")] = 0.8,
    bias_tolerance: Annotated[float, typer.Option(
        help="Largest |bias| accepted, as a share of the true effect.")] = 0.1,
    alpha: Annotated[float, typer.Option(help="Two-sided significance level.")] = 0.05,
) -> None:
    """Simulate the A/B test R times: estimated vs true effect, bias, power, A/A, coverage."""
    with cli_errors():
        check_writable_folder(out)
        _check_numbers(replicates, power, alpha, bias_tolerance)
        scenario = say_notes(load_scenario(scenario_file, command_line_overrides(
            scenario_file, overrides, days=days, seed=seed)))
        chosen = [u.strip() for u in units.split(",")] if units else None
        if chosen is not None and (not chosen or any(u not in UNITS for u in chosen)):
            raise _usage(f"--units: expected some of {','.join(UNITS)}, got {units!r}")
        if chosen is None:
            chosen = list(UNITS)
        size_list, duration_list = _ints(sizes, "--sizes"), _ints(durations, "--durations")
        started = time.perf_counter()
        total = replicates * len(chosen) * len(size_list or [1])
        bar = LazyProgress(total, "A/B replicates", not quiet)
        with make_executor(executor) as ex:
            try:
                rows = simulate_ab(scenario, ex, units=chosen, sizes=size_list,
                                   durations=duration_list, replicates=replicates, alpha=alpha,
                                   progress=bar, say=say_notes)
            finally:
                bar.close()
        wall = time.perf_counter() - started
        table = summarise(rows, alpha, power)
        primary = scenario.experiment.primary_metric  # type: ignore[union-attr]
        advice = recommend(table, primary, power, bias_tolerance)  # type: ignore[arg-type]
        said = advice if current() == "en" else recommend(  # the screen's and page's words
            table, primary, power, bias_tolerance, lang=current())  # type: ignore[arg-type]
        doc = summary_document(scenario, table, advice, wall, executor, replicates, alpha,
                               power, bias_tolerance)
        folder = new_folder(scenario, "ab",
                            lambda d: _write(d, scenario, rows, table, doc, said), out)
        if json_out:
            print(json.dumps({**doc, "run_dir": str(folder)}, indent=2, allow_nan=False))
        else:
            print(folder)
            if not quiet:
                say_answer(table, primary, said, replicates)  # type: ignore[arg-type]


def _check_numbers(replicates: int, power: float, alpha: float, tolerance: float) -> None:
    """Refuse, by option, a number the simulation cannot use, before anything runs."""
    if not 1 <= replicates <= 100_000:
        raise _usage(f"--replicates: expected 1..100000, got {replicates}")
    for name, value in (("--power", power), ("--alpha", alpha)):
        if not 0 < value < 1:
            raise _usage(f"{name}: expected a probability in (0, 1), got {value:g}")
    if not tolerance >= 0:
        raise _usage(f"--bias-tolerance: expected >= 0, got {tolerance:g}")


def say_answer(table: pd.DataFrame, primary: str, said: dict[str, Any],
               replicates: int) -> None:
    """The designs and the advice on stderr, in the language in force (`said`: the advice in
    those words; summary.json keeps the English)."""
    err.print(designs_table(table, primary))
    err.print(f"{t('recommendation: ', '推荐：')}{said['text']}", markup=False, soft_wrap=True)
    for reason in said["reasons"]:
        err.print(f"  {reason}", markup=False, soft_wrap=True)
    if replicates < THIN_REPLICATES:
        err.print(thin_words(replicates), markup=False, soft_wrap=True)


THIN_REPLICATES = 30  # a simulated power's s.e. is at most 0.5 / sqrt(R): 0.09 at 30


def thin_words(replicates: int) -> str:
    """A power from few replicates reads "1.00 ± 0.00" at 0 or 1 rejections: say how thin."""
    worst = 0.5 / math.sqrt(replicates)
    return t(f"warning: thin: {replicates} replicate(s) per design; a simulated power has a "
             f"standard error up to ±{worst:.2f} (a power of 0 or 1 shows ± 0.00); use "
             "--replicates 100 or more before choosing a design",
             f"警告：样本不足：每个设计仅 {replicates} 次重复；模拟功效的标准误可达 ±{worst:.2f}"
             "（功效为 0 或 1 时显示 ± 0.00）；选择设计前请用 --replicates 100 或更多")


def designs_table(table: pd.DataFrame, primary: str) -> Table:
    """Each simulated design on the primary metric: what it estimates against the truth, and
    its power simulated, analytic at the true effect and analytic at what it estimates."""
    rows = table[table["metric"] == primary]
    several = rows["arm"].nunique() > 1
    out = Table(t("unit", "随机单位"), *([t("arm", "实验组")] if several else []),
                t("days", "天数"), t("users", "用户"), t("estimate", "估计"), t("truth", "真值"),
                t("bias", "偏差"), t("power", "功效"), t("at truth", "按真值"),
                t("at estimate", "按估计"), t("users needed", "所需用户"),
                title=t(f"A/B designs on {primary}: simulated power, analytic power at the "
                        "true launch effect and at the effect each test estimates, and the "
                        "users each needs for the target power",
                        f"{metric_label(primary)} 的 A/B 设计：模拟功效、按真实上线效应与按各"
                        "测试估计效应的解析功效，以及达到目标功效所需的用户数"))
    for row in rows.itertuples():
        needed = f"{row.users_needed:,.0f}" if math.isfinite(row.users_needed) else "–"
        out.add_row(str(row.unit), *([str(row.arm)] if several else []), str(row.duration),
                    f"{row.users:,.0f}", f"{row.estimate:.4g}", f"{row.true_effect:.4g}",
                    f"{row.relative_bias:+.0%}", f"{row.power:.2f} ± {row.power_se:.2f}",
                    f"{row.analytic_power:.2f}", f"{row.analytic_power_at_estimate:.2f}",
                    needed)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _plain(value.item())
    return value


def correction_words(treatments: int, alpha: float) -> str:
    """How the comparisons are read (alpha per comparison), in the language in force."""
    if treatments == 1:
        return t("no correction: one treatment against the control",
                 "无需校正：只有一个实验组与对照组比较")
    return t(f"Bonferroni over {treatments} treatments: each compared with the control at "
             f"alpha {alpha / treatments:.4g}",
             f"对 {treatments} 个实验组做 Bonferroni 校正：每组与对照组比较时 alpha 为 "
             f"{alpha / treatments:.4g}")


def summary_document(scenario: Scenario, table: pd.DataFrame, advice: dict[str, Any],
                     wall: float, executor: str, replicates: int, alpha: float, power: float,
                     tolerance: float) -> dict[str, Any]:
    """summary.json (and --json): data, so English whatever the language in force."""
    exp = scenario.experiment
    assert exp is not None
    with use("en"):
        correction = correction_words(len(exp.arms) - 1, alpha)
    return {
        "kind": "ab", "scenario": scenario.name, "replicates": replicates, "alpha": alpha,
        "target_power": power, "bias_tolerance": tolerance, "executor": executor,
        "wall_seconds": wall, "primary_metric": exp.primary_metric,
        "guardrail_metrics": exp.guardrail_metrics, "start_day": exp.start_day,
        "eligibility": exp.eligibility, "enrolment": exp.enrolment,
        "correction": correction,
        "arms": [{"name": a.name, "share": a.share, "set": a.set} for a in exp.arms],
        "designs": [{k: _plain(v) for k, v in row.items()} for row in
                    table.to_dict(orient="records")],
        "recommendation": {k: _plain(v) for k, v in advice.items()},
    }


def _write(folder: Path, scenario: Scenario, rows: pd.DataFrame, table: pd.DataFrame,
           doc: dict[str, Any], said: dict[str, Any]) -> None:
    rows.to_csv(folder / "results.csv", index=False)
    table.to_csv(folder / "summary.csv", index=False)
    (folder / "summary.json").write_text(json.dumps(doc, indent=2, allow_nan=False))
    (folder / "scenario.yaml").write_text(scenario.to_yaml(), encoding="utf-8")
    write_report(folder / "report.html", scenario, table, doc, said)


def _pm(value: float, se: float) -> str:
    return f"{fmt(value)} ± {fmt(se)}"


def _labels(rows: pd.DataFrame) -> list[str]:
    """Design labels; the arm only when there are several treatments."""
    several = rows["arm"].nunique() > 1
    return [f"{r.unit}{' ' + str(r.arm) if several else ''}, {r.duration} {t('d', '天')}, "
            f"{r.size:,}" for r in rows.itertuples()]


def effects_figure(table: pd.DataFrame, metric: str) -> go.Figure:
    """Estimated vs true effect per design (bars with 2 Monte Carlo SE)."""
    rows = table[table["metric"] == metric]
    labels = _labels(rows)
    fig = go.Figure()
    fig.add_bar(name=t("estimated (user-level comparison)", "估计（按用户比较两组）"),
                x=labels, y=rows["estimate"],
                error_y={"type": "data", "array": 2 * rows["estimate_se"]})
    fig.add_bar(name=t("true (all-treatment - all-control)", "真值（全实验 - 全对照）"),
                x=labels, y=rows["true_effect"],
                error_y={"type": "data", "array": 2 * rows["true_effect_se"]})
    fig.update_layout(barmode="group", height=380, margin={"t": 50, "b": 40},
                      title=t(f"{metric}: effect per user (±2 MC SE)",
                              f"{metric_title(metric)}：每用户效应（±2 倍蒙特卡洛标准误）"))
    return fig


def power_figure(table: pd.DataFrame, metric: str) -> go.Figure:
    rows = table[table["metric"] == metric]
    labels = _labels(rows)
    fig = go.Figure()
    fig.add_bar(name=t("simulated power", "模拟功效"), x=labels, y=rows["power"],
                error_y={"type": "data", "array": 2 * rows["power_se"]})
    fig.add_bar(name=t("analytic power (power.py)", "解析功效（power.py）"), x=labels,
                y=rows["analytic_power"])
    fig.add_bar(name=t("A/A rejection rate", "A/A 拒绝率"), x=labels, y=rows["aa_rate"],
                error_y={"type": "data", "array": 2 * rows["aa_se"]})
    fig.update_layout(barmode="group", height=380, yaxis={"range": [0, 1]},
                      margin={"t": 50, "b": 40},
                      title=t(f"{metric}: power and A/A (±2 MC SE)",
                              f"{metric_title(metric)}：功效与 A/A（±2 倍蒙特卡洛标准误）"))
    return fig


def _metric_tables(table: pd.DataFrame) -> list[str]:
    """Per metric: each design's figures (± Monte Carlo SE) and the two figures."""
    header = (t("design", "设计"), t("users", "用户"), t("control mean", "对照组均值"),
              t("estimated", "估计"), t("true", "真值"), t("bias", "偏差"),
              t("bias / true", "偏差 / 真值"), t("power", "功效"),
              t("analytic power", "解析功效"), t("A/A rate", "A/A 拒绝率"),
              t("coverage", "覆盖率"))
    body = []
    for metric, rows in table.groupby("metric", sort=False):
        body.append(f"<h2>{html.escape(metric_title(str(metric)))}</h2><table><tr>"
                    + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
        for r in rows.itertuples():
            arm = f" {r.arm}" if rows["arm"].nunique() > 1 else ""
            cells = [f"{r.unit}{arm}, {r.duration} {t('d', '天')}, "
                     f"{t('market', '市场')} {r.size:,}", fmt(r.users),
                     fmt(r.control_mean), _pm(r.estimate, r.estimate_se),
                     _pm(r.true_effect, r.true_effect_se), _pm(r.bias, r.bias_se),
                     f"{r.relative_bias:+.1%}" if math.isfinite(r.relative_bias) else "–",
                     _pm(r.power, r.power_se), fmt(r.analytic_power), _pm(r.aa_rate, r.aa_se),
                     _pm(r.coverage, r.coverage_se)]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        body.append("</table>")
        for fig in (effects_figure(table, str(metric)), power_figure(table, str(metric))):
            body.append(embed(fig))
    return body


def write_report(path: Path, scenario: Scenario, table: pd.DataFrame, doc: dict[str, Any],
                 said: dict[str, Any] | None = None) -> None:
    """report.html in the language in force, as the other reports: `said` is the
    recommendation in that language (summary.json's `doc` keeps the English one)."""
    advice = said or doc["recommendation"]
    intro = t(f"{doc['replicates']} replicates per design; alpha {doc['alpha']}; primary metric "
              f"{doc['primary_metric']} per eligible user ({doc['eligibility']}), read from day "
              f"{doc['start_day']}. Estimated = the user-level comparison of the arms in one "
              "market; true = an all-treatment market minus an all-control market with common "
              "random numbers; bias = estimated - true. ± are Monte Carlo standard errors; the "
              "A/A rate must be near alpha. See docs/experiments.md.",
              f"每个设计 {doc['replicates']} 次重复；alpha {doc['alpha']}；主要指标 "
              f"{metric_title(doc['primary_metric'])}，按每名符合条件的用户计"
              f"（{doc['eligibility']}），从第 {doc['start_day']} 天起读取。估计 = 同一市场中"
              "按用户比较各组；真值 = 全部实验的市场减去全部对照的市场（共同随机数）；偏差 = "
              "估计 - 真值。± 为蒙特卡洛标准误；A/A 拒绝率应接近 alpha。见 docs/experiments.md。")
    reasons = "".join(f"<li>{html.escape(r)}</li>" for r in advice.get("reasons", []))
    correction = correction_words(len(doc["arms"]) - 1, doc["alpha"])
    rec = (f"<h2>{t('Recommendation', '推荐')}</h2><p><b>{html.escape(advice['text'])}</b></p>"
           f"<ul>{reasons}</ul><p>{t('Rule: ', '规则：')}{html.escape(advice['rule'])}"
           f"{t('. ', '。')}{html.escape(correction)}{t('.', '。')}</p>")
    path.write_text(page(t("A/B simulation: ", "A/B 模拟：") + scenario.name, intro,
                         rec + "".join(_metric_tables(table)) + f"<h2>{t('Scenario', '场景')}"
                         f"</h2><pre>{html.escape(scenario.to_yaml())}</pre>",
                         lang=html_lang()), encoding="utf-8")

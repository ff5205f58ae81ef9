"""`simctl analyze` reads a real experiment (读实验), and `simctl units` writes the export a
simulated one would give. Registered by experiments/cli/commands.py. The decision is printed
first (a sample-ratio mismatch before any effect), then one row per arm and metric; `--json`
prints the whole reading on stdout; `--out` writes it as a self-contained HTML page."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Annotated

import plotly.graph_objects as go
import typer
from rich.table import Table

from experiments.analysis.plan import (
    CORRECTIONS,
    Plan,
    check_peeking,
    load_plan,
    parse_shares,
    with_options,
)
from experiments.analysis.readout import Readout, read_experiment
from experiments.analysis.table_file import check_table_path
from experiments.analysis.units import (
    MetricSpec,
    load_arms,
    parse_covariates,
    parse_metric,
)
from experiments.cli.checks_cli import srm_head
from experiments.cli.cli_common import (
    OverridesArg,
    check_writable_file,
    cli_errors,
    command_line_overrides,
    err,
    renamed_option,
    say_renamed,
)
from experiments.report.language import current, html_lang, t, use
from experiments.report.pages import page
from experiments.report.parts import embed
from experiments.runs.folders import atomic_file, atomic_write
from sim.errors import InputError, Problem

ALLOCATION_RENAMED = ("the arms' split, as srm's --shares; power's --allocation is the share "
                      "of traffic enrolled")
ALLOCATION_RENAMED_ZH = ("各组分流比例，与 srm 的 --shares 同名；power 的 --allocation "
                         "指进入实验的流量占比")


def _specs(texts: list[str], option: str, covariates: dict[str, str]) -> list[MetricSpec]:
    """Each metric once: a repeated --metric would join the correction's family twice and
    double its p-value."""
    once: dict[str, MetricSpec] = {}
    for text in texts:
        spec = parse_metric(text, option, covariates)
        once.setdefault(spec.name, spec)
    return list(once.values())


def _plan(plan_file: Path | None, control: str | None, shares: dict[str, float] | None,
          alpha: float | None, correction: str | None, look: int | None,
          always: bool) -> Plan:
    if alpha is not None and not 0 < alpha < 1:
        raise InputError([Problem("--alpha", None, "", f"{alpha:g}; expected 0 < alpha < 1")])
    if correction is not None and correction not in CORRECTIONS:
        raise InputError([Problem("--correction", None, "", f"{correction!r}; expected one "
                                  f"of {', '.join(CORRECTIONS)}")])
    plan = load_plan(plan_file) if plan_file is not None else Plan()
    plan = with_options(plan, control=control, shares=shares, alpha=alpha,
                        correction=correction, look=look, always_valid=always or None)
    check_peeking(plan)
    return plan


def analyze(
    data_file: Annotated[Path, typer.Argument(help="Units (one row per user: arm, metric "
                                              "columns) or statistics per arm (arm, metric, n, "
                                              "sum, sum_squares): CSV (UTF-8 or GBK), Excel "
                                              ".xlsx or Parquet.")],
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="Primary metric: a column (gmv, converted), a ratio (gmv/orders), "
        "maybe :lower when a decrease is good. Repeat for several; default: the plan's.")] = None,
    guardrail: Annotated[list[str] | None, typer.Option(
        "--guardrail", help="Metric that must not get worse (same syntax); vetoes the "
        "decision when significantly worse. A column that is not a growthsim metric says "
        "which way is worse: refund_amt:lower or rating:higher.")] = None,
    cuped: Annotated[list[str] | None, typer.Option(
        "--cuped", help="METRIC=COVARIATE: adjust a metric by its pre-period column.")] = None,
    plan_file: Annotated[Path | None, typer.Option(
        "--plan", help="`simctl power --json` output or the scenario that ran the test: alpha, "
        "sides, control, arms' shares, correction and metrics are read from it.")] = None,
    control: Annotated[str | None, typer.Option(help="The control arm's label.")] = None,
    shares: Annotated[str | None, typer.Option(
        help="Planned split of units between arms as ARM=WEIGHT pairs, e.g. "
        "control=50,treatment=50 (default: the plan's, else equal). srm's --shares gives the "
        "weights alone, in the order of its counts.")] = None,
    old_allocation: Annotated[str | None, typer.Option(
        "--allocation", hidden=True, help="Old name of --shares.")] = None,
    alpha: Annotated[float | None, typer.Option(help="Significance level (default 0.05).")
                     ] = None,
    correction: Annotated[str | None, typer.Option(
        help="For several primary comparisons: none, bonferroni, holm (default), sidak, "
        "bh (Benjamini-Hochberg) or dunnett.")] = None,
    look: Annotated[int | None, typer.Option(
        help="This reading is look K of the plan's group-sequential design (--plan from "
        "`simctl power --sequential ... --json`).")] = None,
    always_valid: Annotated[bool, typer.Option(
        "--always-valid", help="Intervals and p-values valid at every look (for teams that "
        "peek daily): confidence sequences tuned to the plan's n.")] = False,
    arm_column: Annotated[str, typer.Option(help="Column holding each row's arm.")] = "arm",
    cluster: Annotated[str | None, typer.Option(
        help="Column of the randomisation cluster: errors robust to clusters.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the reading as HTML here.")
                   ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")
                       ] = False,
) -> None:
    """Read a finished experiment (读实验): sample-ratio check, effects with intervals, the
    correction applied, guardrails, and a decision per arm."""
    with cli_errors():
        check_table_path(data_file)  # a wrong path first: it is the likelier mistake
        if out is not None:
            check_writable_file(out, inputs=(data_file, plan_file), suffixes=(".html", ".htm"),
                                example="reading.html")
        split = renamed_option("--shares", "--allocation", shares, old_allocation)
        arm_shares = None if split is None else parse_shares(
            split, "--shares" if shares is not None else "--allocation")
        plan = _plan(plan_file, control, arm_shares, alpha, correction, look, always_valid)
        say_renamed("--shares", "--allocation", old_allocation, ALLOCATION_RENAMED,
                    ALLOCATION_RENAMED_ZH)
        covariates = parse_covariates(cuped or [])
        primary = _specs(metric or list(plan.primary), "--metric", covariates)
        guards = _specs(guardrail or list(plan.guardrails), "--guardrail", covariates)
        if not primary:
            raise InputError([Problem("--metric", None, "", "no primary metric; give --metric "
                                      "COLUMN or a --plan scenario with primary_metric")])
        data = load_arms(data_file, primary + guards, arm_column, cluster or plan.cluster)
        readout = read_experiment(data, primary, guards, plan)
        _print(readout)
        if out is not None:
            atomic_file(out, readout_page(readout))
        if as_json:  # in English, as power --json: scripts read the sentences and plan notes
            english = readout
            if current() != "en":  # read again in English: the same numbers (Dunnett seeded)
                with use("en"):
                    english = read_experiment(data, primary, guards, _plan(
                        plan_file, control, arm_shares, alpha, correction, look, always_valid))
            print(json.dumps(english.as_json(), indent=2, ensure_ascii=False, allow_nan=False))


def _print(readout: Readout) -> None:
    srm = readout.srm
    units = ", ".join(f"{a} {n:,}" for a, n in readout.units.items())
    err.print(f"[bold]{readout.source}[/bold]: "
              + t(f"control {readout.control!r}, units {units}",
                  f"对照组 {readout.control!r}，各组人数 {units}"), soft_wrap=True)
    err.print(srm_words(srm.mismatch, srm.p_value, srm.threshold), soft_wrap=True)
    for note in readout.plan.notes:
        err.print(f"{t('plan', '计划')}: {note}", soft_wrap=True, markup=False)
    for decision in readout.decisions.values():
        err.print(f"[bold]{t('decision', '决策')}[/bold]: {decision}", soft_wrap=True)
    several = len(readout.decisions) > 1
    table = Table(*([t("arm", "组别")] if several else []), t("metric", "指标"),
                  t("control", "对照组"), t("treatment", "实验组"),
                  t("lift [interval]", "提升 [区间]"), t("p adj.", "校正后 p"),
                  t("verdict", "结论"))
    for c in readout.comparisons:
        test = c.test
        name = c.metric + (t(" (guardrail)", "（护栏）") if c.role == "guardrail" else "")
        table.add_row(*([c.arm] if several else []), name, f"{test.control_estimate:.4g}",
                      f"{test.treatment_estimate:.4g}",
                      test.lift(interval=True), f"{c.p_adjusted:.2g}", verdict_words(c.verdict))
    err.print(table)
    for line in readout.corrections:
        err.print(f"{t('correction', '校正')}: {line}", soft_wrap=True)


def srm_words(mismatch: bool, p_value: float, threshold: float) -> str:
    """The sample-ratio line of `analyze`."""
    return srm_head(mismatch) + t(f" (chi-square p = {p_value:.3g}, threshold {threshold:g})",
                    f"（卡方 p = {p_value:.3g}，阈值 {threshold:g}）")


def verdict_words(verdict: str) -> str:
    return t(verdict, {"better": "更好", "worse": "更差"}.get(verdict, "无差异"))


def readout_page(readout: Readout) -> str:
    """The reading as a page, in the language in force: decisions, a forest plot of relative
    lifts, the table, the corrections."""
    rows = readout.comparisons
    header = (t("arm", "组别"), t("metric", "指标"), t("role", "角色"), t("method", "方法"),
              t("control", "对照组"), t("treatment", "实验组"), t("effect", "效应"),
              t("interval", "区间"), t("lift", "提升"), "p", t("p adj.", "校正后 p"),
              t("verdict", "结论"))
    body_rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in (
            c.arm, c.metric, _role(c.role), c.method, f"{c.test.control_estimate:.4g}",
            f"{c.test.treatment_estimate:.4g}", f"{c.test.absolute_effect:+.4g}",
            f"[{c.test.ci_lower:.4g}, {c.test.ci_upper:.4g}]",
            c.test.lift(2), f"{c.test.p_value:.3g}", f"{c.p_adjusted:.3g}",
            verdict_words(c.verdict))) + "</tr>" for c in rows)
    decisions = "".join(f"<li><b>{html.escape(a)}</b>: {html.escape(d)}</li>"
                        for a, d in readout.decisions.items())
    srm = readout.srm
    body = (f"<h2>{t('Decision', '决策')}</h2><ul>{decisions}</ul>"
            f"<p>{html.escape(_plain(srm_words(srm.mismatch, srm.p_value, srm.threshold)))}; "
            + t("units ", "各组人数 ") + f"{html.escape(str(readout.units))}</p>"
            + embed(_forest(readout))
            + f"<h2>{t('Every comparison', '全部比较')}</h2><table><tr>"
            + "".join(f"<th>{h}</th>" for h in header) + f"</tr>{body_rows}</table>"
            + f"<h2>{t('Corrections applied', '已应用的校正')}</h2><ul>"
            + "".join(f"<li>{html.escape(c)}</li>" for c in readout.corrections) + "</ul>")
    plan = readout.plan
    return page(t("Experiment reading: ", "实验解读：") + Path(readout.source).name,
                t(f"Control {readout.control}; alpha {plan.alpha:g}; plan: {plan.source}",
                  f"对照组 {readout.control}；显著性水平 α {plan.alpha:g}；计划：{plan.source}"),
                body, lang=html_lang())


def _forest(readout: Readout) -> go.Figure:
    """Each comparison's relative lift with its interval, coloured by its verdict."""
    rows = readout.comparisons
    fig = go.Figure(go.Scatter(
        x=[c.test.relative_effect for c in rows],
        y=[f"{c.arm}: {c.metric} ({_role(c.role)})" for c in rows], mode="markers",
        error_x={"type": "data", "symmetric": False,
                 "array": [c.test.relative_ci_upper - c.test.relative_effect for c in rows],
                 "arrayminus": [c.test.relative_effect - c.test.relative_ci_lower for c in rows]},
        marker={"color": ["#2ca02c" if c.verdict == "better" else "#d62728"
                          if c.verdict == "worse" else "#555" for c in rows]}))
    fig.add_vline(x=0, line_dash="dot")
    fig.update_layout(title=t("Relative lift (treatment / control - 1) with its interval",
                              "相对提升（实验组 / 对照组 - 1）及其区间"),
                      xaxis_tickformat="+.0%", height=160 + 40 * len(rows))
    return fig


def _plain(markup: str) -> str:
    """A screen line's text without its rich colour tags."""
    from rich.text import Text

    return Text.from_markup(markup).plain


def _role(role: str) -> str:
    return t(role, {"primary": "主要指标", "guardrail": "护栏指标"}.get(role, role))


def units(
    scenario_file: Annotated[Path, typer.Argument(help="A scenario with an experiment block.")],
    overrides: OverridesArg = None,
    out: Annotated[Path, typer.Option(help="Units file to write (.csv or .parquet).")] = Path(
        "units.parquet"),
    replicate: Annotated[int, typer.Option(min=0, help="Which replicate's market.")] = 0,
    metric: Annotated[list[str] | None, typer.Option(
        "--metric", help="Metric columns (default: the experiment's primary and guardrails).")
    ] = None,
) -> None:
    """Write the units file a simulated test would export (one row per user in the test),
    to try `simctl analyze` on data whose truth is known."""
    from experiments.analysis.simulated_units import simulated_units
    from sim.scenario import load_scenario

    with cli_errors():
        check_writable_file(out, inputs=(scenario_file,), suffixes=(".csv", ".parquet"),
                            example="units.parquet")
        frame = simulated_units(load_scenario(scenario_file, command_line_overrides(
            scenario_file, overrides)), replicate,
                                metric or None)
        if out.suffix.lower() == ".csv":
            atomic_write(out, lambda partial: frame.to_csv(partial, index=False))
        else:
            atomic_write(out, lambda partial: frame.to_parquet(partial, index=False))
        arms = frame["arm"].value_counts().to_dict()
        err.print(t(f"{len(frame):,} units, arms {arms}", f"{len(frame):,} 个单位，各组 {arms}"),
                  markup=False, soft_wrap=True)
        print(out)

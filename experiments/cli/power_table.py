"""The power calculator's answer on screen: one table of what was tested and what it takes,
the group-sequential boundaries when the plan has looks, then notes and warnings. Every label
follows `--lang` (`t`, experiments/report/language.py); numbers read the same in both."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from experiments.planning.result import PowerResult
from experiments.report.language import t

# The metric kinds of `--metric` in Chinese; the option's value stays beside it.
_KIND_ZH = {"proportion": "比例", "mean": "均值", "ratio": "比率", "count": "计数"}
_SOLVED = {"n": ("sample size", "样本量"), "power": ("power", "功效"),
           "mde": ("mde", "最小可检测效应 MDE")}


def fmt_value(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


Row = tuple[str, str, bool]  # (quantity, value, whether it was solved for)


def _kind(metric: str) -> str:
    return t(metric, f"{_KIND_ZH[metric]}（{metric}）" if metric in _KIND_ZH else metric)


def _effect_rows(result: PowerResult) -> list[Row]:
    """What is tested: the metric, its effect, power and error rates."""
    solved = result.solved_for
    rows: list[Row] = [(t("metric", "指标类型"), _kind(result.metric), False),
                       (t("variance formula", "方差公式"), result.variance_formula, False)]
    if result.baseline is not None:
        rows.append((t("baseline", "基线"), fmt_value(result.baseline, 6), False))
    rows.append((t("MDE (absolute)", "最小可检测效应 MDE（绝对）"),
                 fmt_value(result.mde_absolute, 6), solved == "mde"))
    if result.mde_relative is not None:
        rows.append((t("MDE (relative)", "最小可检测效应 MDE（相对）"),
                     f"{result.mde_relative:+.4%}", solved == "mde"))
    if result.non_inferiority_margin is not None:
        rows.append((t("non-inferiority margin (absolute)", "非劣效界值（绝对）"),
                     fmt_value(result.non_inferiority_margin, 6), False))
    rows.append((t("power", "功效"), f"{result.power:.4f}", solved == "power"))
    if result.power_per_test != result.power:
        rows.append((t("power per test (guardrail split)", "每个检验的功效（按护栏分摊）"),
                     f"{result.power_per_test:.4f}", False))
    rows.append((t("alpha / sides", "显著性水平 α / 侧数"), f"{result.alpha:g} / {result.sides}",
                 False))
    if result.arms > 2:
        rows.append((t(f"correction ({result.arms - 1} comparisons)",
                       f"多重比较校正（{result.arms - 1} 个比较）"), result.correction, False))
    rows += [(t("alpha per comparison", "每个比较的 α"), f"{result.alpha_per_comparison:.4g}",
              False),
             (t("critical value (z)", "临界值（z）"), f"{result.critical_value:.4f}", False)]
    return rows


def _size_rows(result: PowerResult) -> list[Row]:
    """How many units, clusters and days it takes."""
    by_n = result.solved_for == "n"
    rows: list[Row] = [
        (t("treatment / control ratio", "实验组 / 对照组 比例"), f"{result.treatment_ratio:.4g}",
         False),
        (t("n control", "对照组样本量"),
         f"{result.n_control_units:,} ({result.n_control:.2f})", by_n),
        (t("n per treatment arm", "每个实验组样本量"), f"{result.n_treatment_units:,}", by_n),
        (t("n total (all arms)", "总样本量（所有组）"), f"{result.n_total_units:,}", by_n)]
    if result.cuped_variance_factor != 1:
        rows.append((t("CUPED variance factor 1-r^2", "CUPED 方差因子 1-r^2"),
                     f"{result.cuped_variance_factor:.4f}", False))
    if result.clusters_control is not None:
        rows += [(t("design effect", "设计效应"), f"{result.design_effect:.4f}", False),
                 (t("clusters control / treatment", "簇数 对照组 / 实验组"),
                  f"{result.clusters_control:,} / {result.clusters_treatment:,}", False)]
    if result.days is not None:
        rows += [(t("days (exact)", "天数（精确）"), f"{result.days:.2f}", by_n),
                 (t("days (planned)", "天数（计划）"), f"{result.days_rounded}", False)]
    if result.power_at_rounded_days is not None:
        rows.append((t("power at planned days", "计划天数下的功效"),
                     f"{result.power_at_rounded_days:.4f}", False))
    return rows + _sequential_rows(result)


def _sequential_rows(result: PowerResult) -> list[Row]:
    """What a group-sequential plan costs and saves."""
    seq = result.sequential
    if seq is None:
        return []
    return [(t("sequential", "序贯检验"),
             t(f"{seq.method}, {seq.looks} looks", f"{seq.method}，{seq.looks} 次查看"), False),
            (t("inflation factor n_max / n_fixed", "样本量膨胀因子 n_max / n_fixed"),
             f"{seq.inflation_factor:.4f}", False),
            (t("n fixed design (control)", "固定样本设计的样本量（对照组）"),
             f"{result.n_fixed_control:.2f}", False),
            (t("expected n / n_max under H1", "H1 下期望 n / n_max"),
             f"{seq.expected_fraction_h1:.4f}", False),
            (t("expected n / n_max under H0", "H0 下期望 n / n_max"),
             f"{seq.expected_fraction_h0:.4f}", False)]


def _boundaries(result: PowerResult) -> Table:
    seq = result.sequential
    assert seq is not None
    bounds = Table(title=t("group-sequential boundaries (reject when |z| >= critical)",
                           "成组序贯检验边界（|z| >= 临界值时拒绝原假设）"))
    for name in (t("look", "第几次查看"), t("information", "信息比例"),
                 t("critical z", "临界 z"), t("nominal p", "名义 p"),
                 t("cumulative alpha", "累计 α")):
        bounds.add_column(name, justify="right")
    for k in range(seq.looks):
        bounds.add_row(str(k + 1), f"{seq.information_fractions[k]:.3f}",
                       f"{seq.critical_values[k]:.4f}", f"{seq.nominal_alpha[k]:.3g}",
                       f"{seq.cumulative_alpha[k]:.4g}")
    return bounds


def render_power(result: PowerResult, console: Console, people: Console | None = None) -> None:
    """The answer (table, boundaries, notes) on `console`; warnings on `people` (stderr, as
    every command's warnings: `power ... > plan.txt` keeps the plan, the screen the warnings),
    or on `console` when none is given."""
    en, zh = _SOLVED[result.solved_for]
    table = Table(title=t(f"simctl power: solved for {en}", f"simctl power：求解{zh}"))
    table.add_column(t("quantity", "项目"))
    table.add_column(t("value", "数值"), justify="right")
    solved = t(" (solved)", "（求解）")
    for name, value, is_solved in _effect_rows(result) + _size_rows(result):
        table.add_row(f"[bold]{name}[/bold]{solved}" if is_solved else name, value)
    console.print(table)
    if result.sequential is not None:
        console.print(_boundaries(result))
    for note in result.notes:
        console.print(f"{t('note', '注')}: {note}")
    for warning in result.warnings:
        (people or console).print(f"{t('warning', '警告')}: {warning}")

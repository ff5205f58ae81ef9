"""The power calculator's answer on screen: one table of what was tested and what it takes,
the group-sequential boundaries when the plan has looks, then notes and warnings."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from experiments.planning.result import PowerResult


def fmt_value(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 1):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


Row = tuple[str, str, bool]  # (quantity, value, whether it was solved for)


def _effect_rows(result: PowerResult) -> list[Row]:
    """What is tested: the metric, its effect, power and error rates."""
    solved = result.solved_for
    rows: list[Row] = [("metric", result.metric, False),
                       ("variance formula", result.variance_formula, False)]
    if result.baseline is not None:
        rows.append(("baseline", fmt_value(result.baseline, 6), False))
    rows.append(("MDE (absolute)", fmt_value(result.mde_absolute, 6), solved == "mde"))
    if result.mde_relative is not None:
        rows.append(("MDE (relative)", f"{result.mde_relative:+.4%}", solved == "mde"))
    if result.non_inferiority_margin is not None:
        rows.append(("non-inferiority margin (absolute)",
                     fmt_value(result.non_inferiority_margin, 6), False))
    rows.append(("power", f"{result.power:.4f}", solved == "power"))
    if result.power_per_test != result.power:
        rows.append(("power per test (guardrail split)", f"{result.power_per_test:.4f}", False))
    rows.append(("alpha / sides", f"{result.alpha:g} / {result.sides}", False))
    if result.arms > 2:
        rows.append((f"correction ({result.arms - 1} comparisons)", result.correction, False))
    rows += [("alpha per comparison", f"{result.alpha_per_comparison:.4g}", False),
             ("critical value (z)", f"{result.critical_value:.4f}", False)]
    return rows


def _size_rows(result: PowerResult) -> list[Row]:
    """How many units, clusters and days it takes."""
    by_n = result.solved_for == "n"
    rows: list[Row] = [
        ("treatment / control ratio", f"{result.treatment_ratio:.4g}", False),
        ("n control", f"{result.n_control_units:,} ({result.n_control:.2f})", by_n),
        ("n per treatment arm", f"{result.n_treatment_units:,}", by_n),
        ("n total (all arms)", f"{result.n_total_units:,}", by_n)]
    if result.cuped_variance_factor != 1:
        rows.append(("CUPED variance factor 1-r^2", f"{result.cuped_variance_factor:.4f}", False))
    if result.clusters_control is not None:
        rows += [("design effect", f"{result.design_effect:.4f}", False),
                 ("clusters control / treatment",
                  f"{result.clusters_control:,} / {result.clusters_treatment:,}", False)]
    if result.days is not None:
        rows += [("days (exact)", f"{result.days:.2f}", by_n),
                 ("days (planned)", f"{result.days_rounded}", False)]
    if result.power_at_rounded_days is not None:
        rows.append(("power at planned days", f"{result.power_at_rounded_days:.4f}", False))
    seq = result.sequential
    if seq is not None:
        rows += [("sequential", f"{seq.method}, {seq.looks} looks", False),
                 ("inflation factor n_max / n_fixed", f"{seq.inflation_factor:.4f}", False),
                 ("n fixed design (control)", f"{result.n_fixed_control:.2f}", False),
                 ("expected n / n_max under H1", f"{seq.expected_fraction_h1:.4f}", False),
                 ("expected n / n_max under H0", f"{seq.expected_fraction_h0:.4f}", False)]
    return rows


def _boundaries(result: PowerResult) -> Table:
    seq = result.sequential
    assert seq is not None
    bounds = Table(title="group-sequential boundaries (reject when |z| >= critical)")
    for name in ("look", "information", "critical z", "nominal p", "cumulative alpha"):
        bounds.add_column(name, justify="right")
    for k in range(seq.looks):
        bounds.add_row(str(k + 1), f"{seq.information_fractions[k]:.3f}",
                       f"{seq.critical_values[k]:.4f}", f"{seq.nominal_alpha[k]:.3g}",
                       f"{seq.cumulative_alpha[k]:.4g}")
    return bounds


def render_power(result: PowerResult, console: Console) -> None:
    solved = result.solved_for
    table = Table(title=f"simctl power: solved for {'sample size' if solved == 'n' else solved}")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value, is_solved in _effect_rows(result) + _size_rows(result):
        table.add_row(f"[bold]{name}[/bold] (solved)" if is_solved else name, value)
    console.print(table)
    if result.sequential is not None:
        console.print(_boundaries(result))
    for note in result.notes:
        console.print(f"note: {note}")
    for warning in result.warnings:
        console.print(f"warning: {warning}")

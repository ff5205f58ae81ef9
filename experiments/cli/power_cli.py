"""`simctl power`: the command-line face of the power calculator (experiments.planning).

Registered by experiments/cli/commands.py. Leave out
exactly one of sample size (--n or --days), --power and --mde; it is solved for. Errors are one
line on stderr (``simctl power: <field>: <message>``) and exit code 2.
"""

from __future__ import annotations

import json
import math
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from experiments.analysis.confidence_sequences import critical_z, n_factor
from experiments.cli.cli_common import cli_errors
from experiments.cli.power_choices import (
    CorrectionChoice,
    CountModelChoice,
    GuardrailPowerChoice,
    MetricType,
    ReturningChoice,
    SequentialChoice,
    TestType,
    VarianceFormula,
)
from experiments.cli.power_table import render_power
from experiments.planning.design import Design
from experiments.planning.duration import Traffic
from experiments.planning.errors import PowerInputError
from experiments.planning.metrics import (
    CountMetric,
    MeanMetric,
    Metric,
    ProportionMetric,
    RatioMetric,
)
from experiments.planning.result import PowerResult
from experiments.planning.run_inputs import RunInputError, inputs_from_run, merge_ab_inputs
from experiments.planning.solver import solve
from experiments.report.language import t, use

_METRIC_OPTIONS: dict[str, set[str]] = {
    "proportion": {"baseline", "variance", "continuity-correction"},
    "mean": {"baseline", "sd", "sd-treatment", "test"},
    "ratio": {"num-mean", "den-mean", "num-var", "den-var", "num-den-cov"},
    "count": {"baseline", "count-model", "dispersion", "variance"},
}
_REQUIRED: dict[str, tuple[str, ...]] = {
    "proportion": ("baseline",),
    "mean": ("sd",),
    "ratio": ("num-mean", "den-mean", "num-var", "den-var", "num-den-cov"),
    "count": ("baseline",),
}


class _CliError(Exception):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")


def _build_metric(metric: MetricType, given: dict[str, Any]) -> Metric:
    """Turn the metric options into a metric object, rejecting options of other metrics."""
    kind = metric.value
    for name, value in given.items():
        if value is not None and name not in _METRIC_OPTIONS[kind]:
            raise _CliError(name, f"does not apply to --metric {kind}; remove it")
    for name in _REQUIRED[kind]:
        if given.get(name) is None:
            raise _CliError(name, f"required for --metric {kind}")
    variance = given.get("variance")
    if kind == "proportion":
        return ProportionMetric(
            baseline=given["baseline"],
            variance=(variance or VarianceFormula.pooled).value,
            continuity_correction=bool(given.get("continuity-correction")),
        )
    if kind == "mean":
        return MeanMetric(
            sd=given["sd"],
            sd_treatment=given.get("sd-treatment"),
            baseline=given.get("baseline"),
            test=(given.get("test") or TestType.z).value,
        )
    if kind == "ratio":
        return RatioMetric(
            numerator_mean=given["num-mean"],
            denominator_mean=given["den-mean"],
            numerator_variance=given["num-var"],
            denominator_variance=given["den-var"],
            covariance=given["num-den-cov"],
        )
    if variance is not None and variance.value in ("arcsine", "baseline"):
        raise _CliError("variance", "counts take pooled or unpooled")
    model = given.get("count-model") or CountModelChoice.poisson
    return CountMetric(
        baseline=given["baseline"],
        model=model.value,
        dispersion=given.get("dispersion"),
        variance=variance.value if variance is not None else "unpooled",
    )


def _parse_ratio(text: str) -> float | str:
    if text.strip().lower() == "optimal":
        return "optimal"
    try:
        value = float(text)
    except ValueError:
        raise _CliError("treatment-ratio", f"a number > 0 or 'optimal', got {text!r}") from None
    return value


def always_valid_sizing(result: PowerResult) -> dict[str, Any]:
    """What peeking at will costs: the |z| the confidence sequence needs at the planned n and
    the users the same power needs with it (one two-sided comparison)."""
    if result.sides != 2 or result.arms != 2:
        sys.stderr.write("simctl power: always-valid: sized for one two-sided comparison "
                         "(--arms 2 --sides 2)\n")
        raise typer.Exit(2)
    factor = n_factor(result.alpha, result.power_per_test)
    n_control = math.ceil(result.n_control * factor)
    note = t(f"always valid (peek at will): at the planned n the sequence needs |z| >= "
             f"{critical_z(result.alpha):.3f} instead of {result.critical_value:.3f}; the same "
             f"power needs {factor:.2f}x the users: {n_control:,} per arm",
             f"随时有效（可随时查看）：在计划样本量下置信序列需 |z| >= "
             f"{critical_z(result.alpha):.3f}，而非 {result.critical_value:.3f}；达到同样的功效"
             f"需 {factor:.2f} 倍用户：每组 {n_control:,}")
    return {"critical_z": critical_z(result.alpha), "n_factor": factor,
            "n_control_units": n_control,
            "n_total_units": n_control + math.ceil(result.n_treatment * factor), "note": note}


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf; numpy scalars become plain floats."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _with_run_inputs(inputs: dict[str, Any], from_run: Path | None, run_metric: str | None,
                     metric: MetricType) -> dict[str, Any]:
    """Inputs measured in a run folder (`--from-run`) fill what was not typed; typed values
    win."""
    if from_run is None:
        if run_metric is not None:
            raise _CliError("run-metric", "--run-metric goes with --from-run RUN_DIR")
        return inputs
    if run_metric is None:
        raise _CliError("run-metric", "--from-run needs --run-metric NAME")
    try:
        found = inputs_from_run(from_run, metric.value, run_metric)
    except RunInputError as exc:
        raise _CliError(exc.field, str(exc)) from None
    merged = dict(inputs)
    for key, value in found.items():
        if merged.get(key) is None:
            merged[key] = CountModelChoice(value) if key == "count-model" else value
    return merged


def _check_options(daily_traffic: float | None, traffic_options: dict[str, tuple[Any, Any]],
                   sequential: SequentialChoice, looks: int) -> None:
    """Options that only mean something with others: traffic options need --daily-traffic,
    a sequential plan needs two looks or more."""
    if daily_traffic is None:
        for name, (value, default) in traffic_options.items():
            if value != default:
                raise _CliError(name, "needs --daily-traffic")
    if sequential is not SequentialChoice.none and looks < 2:
        raise _CliError("looks", f"--sequential {sequential.value} needs --looks >= 2")


def power(
    metric: Annotated[MetricType, typer.Option(help="proportion, mean, ratio or count.")],
    n: Annotated[
        float | None,
        typer.Option(
            help="Units in the control arm (every arm if "
            "--treatment-ratio 1). Leave out to solve for it."
        ),
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="Duration in days instead of --n; needs --daily-traffic.")
    ] = None,
    target_power: Annotated[
        float | None, typer.Option("--power", help="Target power. Leave out to solve for it.")
    ] = None,
    mde: Annotated[
        float | None,
        typer.Option(
            help="Treatment minus control (absolute unless --relative). Leave out to solve for it."
        ),
    ] = None,
    relative: Annotated[
        bool,
        typer.Option(
            "--relative", help="--mde and --non-inferiority-margin are fractions of the baseline."
        ),
    ] = False,
    baseline: Annotated[
        float | None,
        typer.Option(help="Control proportion, count rate, or mean (means: only for --relative)."),
    ] = None,
    variance: Annotated[
        VarianceFormula | None,
        typer.Option(help="Proportions: pooled, unpooled, arcsine or baseline (Evan "
                     "Miller's calculator); counts: pooled or unpooled."),
    ] = None,
    continuity_correction: Annotated[
        bool | None,
        typer.Option("--continuity-correction", help="Fleiss continuity correction (proportions)."),
    ] = None,
    sd: Annotated[float | None, typer.Option(help="Standard deviation per unit (means).")] = None,
    sd_treatment: Annotated[
        float | None, typer.Option(help="Treatment-arm SD if different.")
    ] = None,
    test: Annotated[TestType | None, typer.Option(help="Means: z or t.")] = None,
    num_mean: Annotated[float | None, typer.Option(help="Ratio: numerator mean per user.")] = None,
    den_mean: Annotated[
        float | None, typer.Option(help="Ratio: denominator mean per user.")
    ] = None,
    num_var: Annotated[float | None, typer.Option(help="Ratio: numerator variance.")] = None,
    den_var: Annotated[float | None, typer.Option(help="Ratio: denominator variance.")] = None,
    num_den_cov: Annotated[
        float | None, typer.Option(help="Ratio: numerator-denominator covariance per user.")
    ] = None,
    count_model: Annotated[
        CountModelChoice | None, typer.Option(help="Counts: poisson or negbin.")
    ] = None,
    dispersion: Annotated[
        float | None, typer.Option(help="Negative binomial k: Var = mu + mu^2/k.")
    ] = None,
    alpha: Annotated[float, typer.Option(help="Family-wise significance level.")] = 0.05,
    sides: Annotated[
        int | None, typer.Option(help="1 or 2 (default 2; 1 with a non-inferiority margin).")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Two-sided power also counts "
            "rejections in the wrong direction (R strict=TRUE, pwr, statsmodels).",
        ),
    ] = False,
    treatment_ratio: Annotated[
        str, typer.Option(help="n_treatment / n_control per arm, or 'optimal' (Neyman).")
    ] = "1",
    arms: Annotated[int, typer.Option(help="Arms including control.")] = 2,
    correction: Annotated[
        CorrectionChoice, typer.Option(help="Multiple-arm correction.")
    ] = CorrectionChoice.none,
    non_inferiority_margin: Annotated[
        float | None, typer.Option(help="Test H0: effect <= -margin (one-sided).")
    ] = None,
    guardrails: Annotated[
        int,
        typer.Option(
            help="Number of guardrail tests that must also pass; power is split over them "
            "by --guardrail-power."
        ),
    ] = 0,
    guardrail_power: Annotated[
        GuardrailPowerChoice,
        typer.Option(help="How the power is split over 1 + G tests: multiplicative (each at "
                     "the G+1-th root, independent tests) or bonferroni (each at 1 - beta/(G+1), "
                     "Spotify's rule)."),
    ] = GuardrailPowerChoice.multiplicative,
    cuped_r: Annotated[
        float, typer.Option(help="Correlation with the pre-period covariate.")
    ] = 0.0,
    icc: Annotated[float, typer.Option(help="Intra-cluster correlation.")] = 0.0,
    cluster_size: Annotated[float | None, typer.Option(help="Mean units per cluster.")] = None,
    cluster_cv: Annotated[
        float, typer.Option(help="Coefficient of variation of cluster sizes.")
    ] = 0.0,
    sequential: Annotated[
        SequentialChoice, typer.Option(help="Group-sequential boundary.")
    ] = SequentialChoice.none,
    looks: Annotated[int, typer.Option(help="Equally spaced analyses (incl. the final).")] = 1,
    daily_traffic: Annotated[
        float | None, typer.Option(help="Eligible users (visits) per day.")
    ] = None,
    allocation: Annotated[float, typer.Option(help="Share of eligible traffic enrolled.")] = 1.0,
    returning: Annotated[
        ReturningChoice,
        typer.Option(
            help="new: every visit a new user; saturating: unique users saturate at --population."
        ),
    ] = ReturningChoice.new,
    population: Annotated[
        float | None, typer.Option(help="Total users (saturating model).")
    ] = None,
    round_weeks: Annotated[
        bool, typer.Option("--round-weeks", help="Round the duration up to whole weeks.")
    ] = False,
    max_n: Annotated[float, typer.Option(help="Largest n per arm searched.")] = 1e9,
    from_run: Annotated[
        Path | None, typer.Option(help="Take baseline, variance and daily traffic from a "
                                  "simctl run folder (typed options win).")
    ] = None,
    run_metric: Annotated[
        str | None, typer.Option(help="With --from-run: the run's metric to size for, e.g. "
                                 "registration_rate (proportion), gmv (mean), purchases (count), "
                                 "aov (ratio).")
    ] = None,
    from_ab: Annotated[Path | None, typer.Option(
        help="Plan a mean metric with what `simctl ab` measured in AB_DIR: its SD and the "
        "effect the design estimates (bias included); --run-metric picks the metric.")] = None,
    ab_unit: Annotated[str | None, typer.Option(
        help="With --from-ab: the randomisation unit to plan for (default: the recommended "
        "one).")] = None,
    lift_test: Annotated[bool, typer.Option(
        "--lift-test", help="Test the relative lift (treatment/control - 1, delta method) "
        "instead of the difference; --json gives its standard error (lift_se).")] = False,
    always_valid: Annotated[bool, typer.Option(
        "--always-valid", help="Also size for always-valid intervals (peek at will; read "
        "with simctl analyze --always-valid): the users the same power then needs.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Solve for sample size, power, MDE or duration of an A/B test (docs/power.md)."""
    # a bug: one line and exit 1, as every command; --json writes its notes in English
    with cli_errors(), use("en" if as_json else None):
        inputs: dict[str, Any] = {
            "baseline": baseline, "variance": variance,
            "continuity-correction": continuity_correction, "sd": sd, "sd-treatment": sd_treatment,
            "test": test, "num-mean": num_mean, "den-mean": den_mean, "num-var": num_var,
            "den-var": den_var, "num-den-cov": num_den_cov, "count-model": count_model,
            "dispersion": dispersion, "daily-traffic": daily_traffic}
        try:
            inputs, mde, ab_notes = merge_ab_inputs(inputs, mde, from_ab, ab_unit,
                                                    run_metric if from_ab else None, metric.value)
            inputs = _with_run_inputs(inputs, from_run, run_metric if not from_ab else None, metric)
            daily_traffic = inputs.pop("daily-traffic")
            metric_object = _build_metric(metric, inputs)
            _check_options(daily_traffic, {"allocation": (allocation, 1.0),
                                           "returning": (returning, ReturningChoice.new),
                                           "population": (population, None),
                                           "round-weeks": (round_weeks, False)}, sequential, looks)
            design = Design(
                alpha=alpha, sides=sides if sides is not None else (1 if non_inferiority_margin
                                                                    else 2),
                treatment_ratio=_parse_ratio(treatment_ratio),  # type: ignore[arg-type]
                arms=arms, correction=correction.value,
                non_inferiority_margin=non_inferiority_margin, guardrails=guardrails,
                guardrail_power=guardrail_power.value, cuped_r=cuped_r, lift_test=lift_test,
                icc=icc, cluster_size=cluster_size, cluster_cv=cluster_cv,
                sequential=sequential.value, looks=looks, strict=strict, max_n=max_n)
            traffic = None if daily_traffic is None else Traffic(
                daily_traffic=daily_traffic, allocation=allocation, returning=returning.value,
                population=population, round_weeks=round_weeks)
            result = solve(metric_object, design, n=n, power=target_power, mde=mde,
                           relative=relative, traffic=traffic, days=days)
        except RunInputError as error:
            sys.stderr.write(f"simctl power: {error.field}: {error}\n")
            raise typer.Exit(2) from None
        except (PowerInputError, _CliError) as error:
            sys.stderr.write(f"simctl power: {error}\n")
            raise typer.Exit(2) from None
        extra = always_valid_sizing(result) if always_valid else None
        notes = [*ab_notes, *([extra["note"]] if extra else [])]
        result = replace(result, notes=(*result.notes, *notes))
        if as_json:
            doc = {**asdict(result), **({"always_valid": extra} if extra else {})}
            sys.stdout.write(json.dumps(_clean(doc)) + "\n")
            return
        render_power(result, Console(width=110))

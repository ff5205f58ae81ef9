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
from typing import Any

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
from experiments.cli.power_options import (
    AbUnitOption,
    AllocationOption,
    AlphaOption,
    AlwaysValidOption,
    ArmsOption,
    AsJsonOption,
    BaselineOption,
    ClusterCvOption,
    ClusterSizeOption,
    ContinuityCorrectionOption,
    CorrectionOption,
    CountModelOption,
    CupedROption,
    DailyTrafficOption,
    DaysOption,
    DenMeanOption,
    DenVarOption,
    DispersionOption,
    FromAbOption,
    FromRunOption,
    GuardrailPowerOption,
    GuardrailsOption,
    IccOption,
    LiftTestOption,
    LooksOption,
    MaxNOption,
    MdeOption,
    MetricOption,
    NonInferiorityMarginOption,
    NOption,
    NumDenCovOption,
    NumMeanOption,
    NumVarOption,
    PopulationOption,
    RelativeOption,
    ReturningOption,
    RoundWeeksOption,
    RunMetricOption,
    SdOption,
    SdTreatmentOption,
    SequentialOption,
    SidesOption,
    StrictOption,
    TargetPowerOption,
    TestOption,
    TreatmentRatioOption,
    VarianceOption,
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
from experiments.planning.run_inputs import (
    RunInputError,
    inputs_from_run,
    merge_ab_inputs,
    traffic_note,
)
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


# the metric's measured inputs, as `_build_metric` reads them (dashes: the options' names)
_MEASURED = ("baseline", "variance", "continuity_correction", "sd", "sd_treatment", "test",
             "num_mean", "den_mean", "num_var", "den_var", "num_den_cov", "count_model",
             "dispersion", "daily_traffic")
# options that mean something only with --daily-traffic, and their defaults
_TRAFFIC_DEFAULTS: dict[str, Any] = {"allocation": 1.0, "returning": ReturningChoice.new,
                                     "population": None, "round_weeks": False}


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
    metric: MetricOption,
    n: NOption = None,
    days: DaysOption = None,
    target_power: TargetPowerOption = None,
    mde: MdeOption = None,
    relative: RelativeOption = False,
    baseline: BaselineOption = None,
    variance: VarianceOption = None,
    continuity_correction: ContinuityCorrectionOption = None,
    sd: SdOption = None,
    sd_treatment: SdTreatmentOption = None,
    test: TestOption = None,
    num_mean: NumMeanOption = None,
    den_mean: DenMeanOption = None,
    num_var: NumVarOption = None,
    den_var: DenVarOption = None,
    num_den_cov: NumDenCovOption = None,
    count_model: CountModelOption = None,
    dispersion: DispersionOption = None,
    alpha: AlphaOption = 0.05,
    sides: SidesOption = None,
    strict: StrictOption = False,
    treatment_ratio: TreatmentRatioOption = "1",
    arms: ArmsOption = 2,
    correction: CorrectionOption = CorrectionChoice.none,
    non_inferiority_margin: NonInferiorityMarginOption = None,
    guardrails: GuardrailsOption = 0,
    guardrail_power: GuardrailPowerOption = GuardrailPowerChoice.multiplicative,
    cuped_r: CupedROption = 0.0,
    icc: IccOption = 0.0,
    cluster_size: ClusterSizeOption = None,
    cluster_cv: ClusterCvOption = 0.0,
    sequential: SequentialOption = SequentialChoice.none,
    looks: LooksOption = 1,
    daily_traffic: DailyTrafficOption = None,
    allocation: AllocationOption = 1.0,
    returning: ReturningOption = ReturningChoice.new,
    population: PopulationOption = None,
    round_weeks: RoundWeeksOption = False,
    max_n: MaxNOption = 1e9,
    from_run: FromRunOption = None,
    run_metric: RunMetricOption = None,
    from_ab: FromAbOption = None,
    ab_unit: AbUnitOption = None,
    lift_test: LiftTestOption = False,
    always_valid: AlwaysValidOption = False,
    as_json: AsJsonOption = False,
) -> None:
    """Solve for sample size, power, MDE or duration of an A/B test (docs/power.md)."""
    # a bug: one line and exit 1, as every command; --json writes its notes in English
    with cli_errors(), use("en" if as_json else None):
        _answer(dict(locals()))


def _answer(options: dict[str, Any]) -> None:
    """Solve, then print the answer: a table, or one JSON object with --json."""
    try:
        result = _solve(options)
    except RunInputError as error:
        sys.stderr.write(f"simctl power: {error.field}: {error}\n")
        raise typer.Exit(2) from None
    except (PowerInputError, _CliError) as error:
        sys.stderr.write(f"simctl power: {error}\n")
        raise typer.Exit(2) from None
    extra = always_valid_sizing(result) if options["always_valid"] else None
    result = replace(result, notes=(*result.notes, *([extra["note"]] if extra else [])))
    if options["as_json"]:
        doc = {**asdict(result), **({"always_valid": extra} if extra else {})}
        sys.stdout.write(json.dumps(_clean(doc)) + "\n")
        return
    render_power(result, Console(width=110), Console(width=110, stderr=True))


def _solve(o: dict[str, Any]) -> PowerResult:
    """The options as a metric, a design and traffic, solved for what was left out."""
    inputs: dict[str, Any] = {name.replace("_", "-"): o[name] for name in _MEASURED}
    inputs, mde, ab_notes = merge_ab_inputs(inputs, o["mde"], o["from_ab"], o["ab_unit"],
                                            o["run_metric"] if o["from_ab"] else None,
                                            o["metric"].value)
    inputs = _with_run_inputs(inputs, o["from_run"],
                              o["run_metric"] if not o["from_ab"] else None, o["metric"])
    daily_traffic = inputs.pop("daily-traffic")
    if o["from_run"] and not o["from_ab"] and o["daily_traffic"] is None and daily_traffic:
        ab_notes = [*ab_notes, traffic_note(o["metric"].value, o["run_metric"], daily_traffic)]
    metric = _build_metric(o["metric"], inputs)
    _check_options(daily_traffic, {name.replace("_", "-"): (o[name], default)
                                   for name, default in _TRAFFIC_DEFAULTS.items()},
                   o["sequential"], o["looks"])
    sides = o["sides"] if o["sides"] is not None else (1 if o["non_inferiority_margin"] else 2)
    design = Design(
        alpha=o["alpha"], sides=sides,
        treatment_ratio=_parse_ratio(o["treatment_ratio"]),  # type: ignore[arg-type]
        arms=o["arms"], correction=o["correction"].value,
        non_inferiority_margin=o["non_inferiority_margin"], guardrails=o["guardrails"],
        guardrail_power=o["guardrail_power"].value, cuped_r=o["cuped_r"],
        lift_test=o["lift_test"], icc=o["icc"], cluster_size=o["cluster_size"],
        cluster_cv=o["cluster_cv"], sequential=o["sequential"].value, looks=o["looks"],
        strict=o["strict"], max_n=o["max_n"])
    traffic = None if daily_traffic is None else Traffic(
        daily_traffic=daily_traffic, allocation=o["allocation"],
        returning=o["returning"].value, population=o["population"],
        round_weeks=o["round_weeks"])
    result = solve(metric, design, n=o["n"], power=o["target_power"], mde=mde,
                   relative=o["relative"], traffic=traffic, days=o["days"])
    return replace(result, notes=(*result.notes, *ab_notes))

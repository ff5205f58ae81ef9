"""The options of `simctl power`, one annotated type each, so that the command's signature reads
as a list of what it takes (experiments/cli/power_cli.py); their choices are in power_choices."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

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

MetricOption = Annotated[MetricType, typer.Option(help="proportion, mean, ratio or count.")]
NOption = Annotated[
    float | None,
    typer.Option(
        help=(
            "Units in the control arm (every arm if --treatment-ratio 1). Leave out to solve for "
            "it."
        )
    ),
]
DaysOption = Annotated[
    float | None, typer.Option(help="Duration in days instead of --n; needs --daily-traffic.")
]
TargetPowerOption = Annotated[
    float | None, typer.Option("--power", help="Target power. Leave out to solve for it.")
]
MdeOption = Annotated[
    float | None,
    typer.Option(
        help="Treatment minus control (absolute unless --relative). Leave out to solve for it."
    ),
]
RelativeOption = Annotated[
    bool,
    typer.Option(
        "--relative", help="--mde and --non-inferiority-margin are fractions of the baseline."
    ),
]
BaselineOption = Annotated[
    float | None,
    typer.Option(help="Control proportion, count rate, or mean (means: only for --relative)."),
]
VarianceOption = Annotated[
    VarianceFormula | None,
    typer.Option(
        help=(
            "Proportions: pooled (default: R power.prop.test, G*Power), unpooled, arcsine "
            "(statsmodels) or baseline (Evan Miller's calculator); counts: unpooled (default) "
            "or pooled."
        )
    ),
]
ContinuityCorrectionOption = Annotated[
    bool | None,
    typer.Option("--continuity-correction", help="Fleiss continuity correction (proportions)."),
]
SdOption = Annotated[float | None, typer.Option(help="Standard deviation per unit (means).")]
SdTreatmentOption = Annotated[float | None, typer.Option(help="Treatment-arm SD if different.")]
TestOption = Annotated[
    TestType | None,
    typer.Option(help="Means: z (default) or t (R power.t.test: a few more units)."),
]
NumMeanOption = Annotated[float | None, typer.Option(help="Ratio: numerator mean per user.")]
DenMeanOption = Annotated[float | None, typer.Option(help="Ratio: denominator mean per user.")]
NumVarOption = Annotated[float | None, typer.Option(help="Ratio: numerator variance.")]
DenVarOption = Annotated[float | None, typer.Option(help="Ratio: denominator variance.")]
NumDenCovOption = Annotated[
    float | None, typer.Option(help="Ratio: numerator-denominator covariance per user.")
]
CountModelOption = Annotated[
    CountModelChoice | None, typer.Option(help="Counts: poisson (default) or negbin.")
]
DispersionOption = Annotated[
    float | None, typer.Option(help="Negative binomial k: Var = mu + mu^2/k.")
]
AlphaOption = Annotated[float, typer.Option(help="Family-wise significance level.")]
SidesOption = Annotated[
    int | None, typer.Option(help="1 or 2 (default 2; 1 with a non-inferiority margin).")
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help=(
            "Two-sided power also counts rejections in the wrong direction (R strict=TRUE, pwr, "
            "statsmodels)."
        ),
    ),
]
TreatmentRatioOption = Annotated[
    str, typer.Option(help="n_treatment / n_control per arm, or 'optimal' (Neyman).")
]
ArmsOption = Annotated[int, typer.Option(help="Arms including control.")]
CorrectionOption = Annotated[CorrectionChoice, typer.Option(help="Multiple-arm correction.")]
NonInferiorityMarginOption = Annotated[
    float | None, typer.Option(help="Test H0: effect <= -margin (one-sided).")
]
GuardrailsOption = Annotated[
    int,
    typer.Option(
        help=(
            "Number of guardrail tests that must also pass; power is split over them by "
            "--guardrail-power."
        )
    ),
]
GuardrailPowerOption = Annotated[
    GuardrailPowerChoice,
    typer.Option(
        help=(
            "How the power is split over 1 + G tests: multiplicative (each at the G+1-th root, "
            "independent tests) or bonferroni (each at 1 - beta/(G+1), Spotify's rule)."
        )
    ),
]
CupedROption = Annotated[float, typer.Option(help="Correlation with the pre-period covariate.")]
IccOption = Annotated[float, typer.Option(help="Intra-cluster correlation.")]
ClusterSizeOption = Annotated[float | None, typer.Option(help="Mean units per cluster.")]
ClusterCvOption = Annotated[float, typer.Option(help="Coefficient of variation of cluster sizes.")]
SequentialOption = Annotated[SequentialChoice, typer.Option(help="Group-sequential boundary.")]
LooksOption = Annotated[int, typer.Option(help="Equally spaced analyses (incl. the final).")]
DailyTrafficOption = Annotated[float | None, typer.Option(help="Eligible users (visits) per day.")]
AllocationOption = Annotated[float, typer.Option(help="Share of eligible traffic enrolled.")]
ReturningOption = Annotated[
    ReturningChoice,
    typer.Option(
        help="new: every visit a new user; saturating: unique users saturate at --population."
    ),
]
PopulationOption = Annotated[float | None, typer.Option(help="Total users (saturating model).")]
RoundWeeksOption = Annotated[
    bool, typer.Option("--round-weeks", help="Round the duration up to whole weeks.")
]
MaxNOption = Annotated[float, typer.Option(help="Largest n per arm searched.")]
FromRunOption = Annotated[
    Path | None,
    typer.Option(
        help=(
            "Take baseline, variance and daily traffic from a simctl run folder (typed options "
            "win)."
        )
    ),
]
RunMetricOption = Annotated[
    str | None,
    typer.Option(
        help=(
            "With --from-run: the run's metric to size for, e.g. registration_rate (proportion), "
            "gmv (mean), purchases (count), aov (ratio)."
        )
    ),
]
FromAbOption = Annotated[
    Path | None,
    typer.Option(
        help=(
            "Plan a mean metric with what `simctl ab` measured in AB_DIR: its SD and the effect "
            "the design estimates (bias included); --run-metric picks the metric."
        )
    ),
]
AbUnitOption = Annotated[
    str | None,
    typer.Option(
        help="With --from-ab: the randomisation unit to plan for (default: the recommended one)."
    ),
]
LiftTestOption = Annotated[
    bool,
    typer.Option(
        "--lift-test",
        help=(
            "Test the relative lift (treatment/control - 1, delta method) instead of the "
            "difference; --json gives its standard error (lift_se)."
        ),
    ),
]
AlwaysValidOption = Annotated[
    bool,
    typer.Option(
        "--always-valid",
        help=(
            "Also size for always-valid intervals (peek at will; read with simctl analyze "
            "--always-valid): the users the same power then needs."
        ),
    ),
]
AsJsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]

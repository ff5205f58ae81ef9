"""Everything about a planned test that is not the metric: level, sides, arms and allocation,
corrections, non-inferiority, guardrails, variance reduction (CUPED) and inflation (clusters),
group-sequential looks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from experiments.planning.errors import PowerInputError

Correction = Literal["none", "bonferroni", "holm", "sidak", "dunnett"]
GuardrailRule = Literal["multiplicative", "bonferroni"]
SequentialMethod = Literal[
    "none", "pocock", "obrien-fleming", "lan-demets-obf", "lan-demets-pocock",
    "lan-demets-obf-two-sided", "lan-demets-pocock-two-sided",
]
CORRECTIONS: tuple[str, ...] = ("none", "bonferroni", "holm", "sidak", "dunnett")
SEQUENTIAL_METHODS: tuple[str, ...] = (
    "none",
    "pocock",
    "obrien-fleming",
    "lan-demets-obf",
    "lan-demets-pocock",
    "lan-demets-obf-two-sided",
    "lan-demets-pocock-two-sided",
)
DEFAULT_MAX_N = 1e9


@dataclass(frozen=True)
class Design:
    """Everything about the test that is not the metric.

    ``treatment_ratio`` is n_treatment / n_control for every treatment arm, or "optimal".
    ``arms`` counts the control arm; every treatment arm is compared with the control.
    """

    alpha: float = 0.05
    sides: int = 2
    treatment_ratio: float | Literal["optimal"] = 1.0
    arms: int = 2
    correction: Correction = "none"
    non_inferiority_margin: float | None = None
    guardrails: int = 0
    guardrail_power: GuardrailRule = "multiplicative"
    lift_test: bool = False  # test treatment/control - 1 by the delta method, not the difference
    cuped_r: float = 0.0
    icc: float = 0.0
    cluster_size: float | None = None
    cluster_cv: float = 0.0
    sequential: SequentialMethod = "none"
    looks: int = 1
    strict: bool = False
    max_n: float = DEFAULT_MAX_N

    @property
    def comparisons(self) -> int:
        return self.arms - 1


def validate_design(design: Design) -> None:
    """PowerInputError naming the first input to change; the checks run in option order."""
    _validate_test(design)
    _validate_variance(design)
    _validate_looks(design)


def _validate_test(design: Design) -> None:
    if not 0 < design.alpha < 1:
        raise PowerInputError("alpha", f"must be in (0, 1), got {design.alpha:g}")
    if design.sides not in (1, 2):
        raise PowerInputError("sides", f"must be 1 or 2, got {design.sides}")
    ratio = design.treatment_ratio
    if ratio != "optimal" and not (isinstance(ratio, int | float) and ratio > 0):
        raise PowerInputError("treatment-ratio", f"must be > 0 or 'optimal', got {ratio!r}")
    if design.arms < 2:
        raise PowerInputError("arms", f"need at least 2 arms (control + 1), got {design.arms}")
    if design.correction not in CORRECTIONS:
        raise PowerInputError("correction", f"use one of {', '.join(CORRECTIONS)}")
    margin = design.non_inferiority_margin
    if margin is not None:
        if not margin > 0:
            raise PowerInputError("non-inferiority-margin", f"must be > 0, got {margin:g}")
        if design.sides != 1:
            raise PowerInputError(
                "sides", "a non-inferiority test is one-sided; use --sides 1 (e.g. alpha 0.025)"
            )
    if design.guardrails < 0:
        raise PowerInputError("guardrails", "must be >= 0")


def _validate_variance(design: Design) -> None:
    if not -1 < design.cuped_r < 1:
        raise PowerInputError("cuped-r", f"a correlation must be in (-1, 1), got {design.cuped_r}")
    if not 0 <= design.icc < 1:
        raise PowerInputError("icc", f"must be in [0, 1), got {design.icc:g}")
    if design.icc > 0 and design.cluster_size is None:
        raise PowerInputError("cluster-size", "required with --icc (mean users per cluster)")
    if design.cluster_size is not None and not design.cluster_size >= 1:
        raise PowerInputError("cluster-size", f"must be >= 1, got {design.cluster_size:g}")
    if design.cluster_cv < 0:
        raise PowerInputError("cluster-cv", f"must be >= 0, got {design.cluster_cv:g}")
    if design.cluster_cv > 0 and design.cluster_size is None:
        raise PowerInputError("cluster-cv", "needs --cluster-size and --icc")


def _validate_looks(design: Design) -> None:
    if design.sequential not in SEQUENTIAL_METHODS:
        raise PowerInputError("sequential", f"use one of {', '.join(SEQUENTIAL_METHODS)}")
    if design.looks < 1:
        raise PowerInputError("looks", "must be >= 1")
    if design.sequential != "none" and design.looks < 2:
        raise PowerInputError("looks", "a group-sequential design needs --looks >= 2")
    if design.sequential != "none" and design.correction == "dunnett":
        raise PowerInputError(
            "correction", "dunnett is not combined with --sequential; use bonferroni or sidak"
        )
    if not design.max_n > 1:
        raise PowerInputError("max-n", "must be > 1")


def design_effect(icc: float, cluster_size: float | None, cluster_cv: float = 0.0) -> float:
    """Eldridge, Ashby & Kerry (2006): 1 + ((1 + CV^2) m - 1) ICC for variable cluster sizes."""
    if cluster_size is None:
        return 1.0
    return 1 + ((1 + cluster_cv**2) * cluster_size - 1) * icc


def cuped_variance_factor(r: float) -> float:
    """Deng et al. (2013): regression on a pre-period covariate leaves Var x (1 - r^2)."""
    return 1 - r**2


def per_test_power(power: float, design: Design) -> float:
    """Power each of the 1 + G tests (primary and guardrails) needs for `power` overall:
    the G + 1-th root (independent tests, all must pass), or Spotify's 1 - beta / (G + 1)
    (Schultzberg, Kjellin & Rydberg 2024: Bonferroni on beta, no independence needed)."""
    tests = design.guardrails + 1
    if design.guardrail_power == "bonferroni":
        return 1 - (1 - power) / tests
    return power ** (1 / tests)


def overall_power(per_test: float, design: Design) -> float:
    """The inverse: the power of all 1 + G tests passing (a lower bound under Bonferroni)."""
    tests = design.guardrails + 1
    if design.guardrail_power == "bonferroni":
        return max(0.0, 1 - tests * (1 - per_test))
    return per_test ** tests

"""The choices of `simctl power`'s options (what typer shows in --help and checks), kept
beside the command in experiments/cli/power_cli.py."""

from __future__ import annotations

from enum import StrEnum


class MetricType(StrEnum):
    proportion = "proportion"
    mean = "mean"
    ratio = "ratio"
    count = "count"


class VarianceFormula(StrEnum):
    pooled = "pooled"
    unpooled = "unpooled"
    arcsine = "arcsine"
    baseline = "baseline"


class GuardrailPowerChoice(StrEnum):
    multiplicative = "multiplicative"
    bonferroni = "bonferroni"


class TestType(StrEnum):
    z = "z"
    t = "t"


class CountModelChoice(StrEnum):
    poisson = "poisson"
    negbin = "negbin"


class CorrectionChoice(StrEnum):
    none = "none"
    bonferroni = "bonferroni"
    holm = "holm"
    sidak = "sidak"
    dunnett = "dunnett"


class SequentialChoice(StrEnum):
    none = "none"
    pocock = "pocock"
    obrien_fleming = "obrien-fleming"
    lan_demets_obf = "lan-demets-obf"
    lan_demets_pocock = "lan-demets-pocock"
    lan_demets_obf_two_sided = "lan-demets-obf-two-sided"
    lan_demets_pocock_two_sided = "lan-demets-pocock-two-sided"


class ReturningChoice(StrEnum):
    new = "new"
    saturating = "saturating"

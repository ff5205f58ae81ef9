"""`simctl srm` and `simctl adjust`: the two checks a team runs on numbers it already has, a
dashboard's arm counts (样本比例检查) and a list of p-values from several tests. Registered by
experiments/cli/commands.py; a table on stderr, one JSON object with `--json`."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from experiments.analysis.decisions import adjust_p_values, srm_check
from experiments.cli.cli_common import cli_errors, err, renamed_option, say_renamed
from experiments.report.language import t
from sim.errors import InputError, Problem


def _numbers(text: str, option: str, what: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) < 2 or not all(0 <= v < float("inf") for v in values):
        raise InputError([Problem(option, None, "", f"{text!r}: expected {what}, comma-"
                                  "separated, at least two")])
    return values


def _joined(parts: list[str]) -> str:
    """Numbers given as one comma-separated argument or as several (`50137 49863`, even
    `50137, 49863`), as one comma-separated text for `_numbers`."""
    return ",".join(part.strip(" ,") for part in parts if part.strip(" ,"))


def _say_if_thousands(counts: str) -> None:
    """'821,588,815,482' is four arms here; copied from a dashboard it was two numbers with
    thousands separators. Said, not refused: 821 and 588 may be real arms."""
    parts = counts.split(",")
    if len(parts) >= 2 and len(parts[0]) <= 3 and all(len(p) == 3 for p in parts[1:]):
        err.print(t(f"note: read as {len(parts)} arms ({', '.join(parts)}); for thousands "
                    "separators write the counts without them, e.g. 821588,815482",
                    f"说明：按 {len(parts)} 个组读取（{'、'.join(parts)}）；若逗号是千位分隔符，"
                    "请去掉它，例如 821588,815482"), markup=False, soft_wrap=True)


def srm_head(mismatch: bool) -> str:
    """How a sample-ratio check (样本比例检查) begins on screen: `srm` and `analyze`."""
    return (f"[red]{t('SAMPLE RATIO MISMATCH', '样本比例不匹配 SRM')}[/red]" if mismatch
            else t("sample ratio ok", "样本比例正常"))


def srm(
    counts: Annotated[list[str], typer.Argument(
        help="Units per arm, e.g. 50137,49863 (or 50137 49863).")],
    shares: Annotated[str | None, typer.Option(
        help="Planned shares per arm in the same order, e.g. 1,1 or 0.2,0.8 (default equal).")
    ] = None,
    threshold: Annotated[float, typer.Option(help="p below this is a mismatch.")] = 0.001,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Sample-ratio mismatch: do the arms' sizes fit the planned split? (chi-square)"""
    with cli_errors():
        if not 0 < threshold < 1:  # NaN too
            raise InputError([Problem("--threshold", None, "", f"{threshold:g}; expected a "
                                      "p-value threshold in (0, 1), e.g. 0.001")])
        counts = _joined(counts)
        observed = _numbers(counts, "COUNTS", "whole numbers of units per arm")
        _say_if_thousands(counts)
        if any(c != int(c) for c in observed):
            raise InputError([Problem("COUNTS", None, "", f"{counts!r}: counts are whole "
                                      "numbers")])
        if not sum(observed):
            raise InputError([Problem("COUNTS", None, "", f"{counts!r}: no units in any arm; "
                                      "give the units each arm received")])
        planned = _numbers(shares, "--shares", "positive shares") if shares else \
            [1.0] * len(observed)
        if len(planned) != len(observed) or min(planned) <= 0:
            raise InputError([Problem("--shares", None, "", f"{shares!r}: one positive share "
                                      f"per arm ({len(observed)} arms)")])
        result = srm_check(observed, planned, threshold)
        whole = all(e == int(e) or e >= 100 for e in result.expected)  # 0.5 is not "0"
        expected = ", ".join(f"{e:,.0f}" if whole else f"{e:,.4g}" for e in result.expected)
        stat, p = f"{result.statistic:.3f}", f"{result.p_value:.3g}"
        err.print(srm_head(result.mismatch)
                  + t(f": chi-square {stat}, p = {p} (threshold {threshold:g}); expected "
                      f"{expected}",
                      f"：卡方 {stat}，p = {p}（阈值 {threshold:g}）；期望 {expected}"),
                  soft_wrap=True)
        if as_json:
            print(json.dumps({"counts": observed, "shares": planned, **vars(result)}))


def adjust(
    p_values: Annotated[list[str], typer.Argument(
        help="P-values, e.g. 0.01,0.04,0.03 (or 0.01 0.04 0.03).")],
    correction: Annotated[str | None, typer.Option(
        help="bonferroni, holm (default), sidak (family-wise) or bh (false discovery rate): "
        "the name power and analyze use.")] = None,
    old_method: Annotated[str | None, typer.Option(
        "--method", hidden=True, help="Old name of --correction.")] = None,
    alpha: Annotated[float, typer.Option(help="Level of the family.")] = 0.05,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")] = False,
) -> None:
    """Adjust a list of p-values for multiple testing (statsmodels multipletests)."""
    with cli_errors():
        given = _joined(p_values)
        values = _numbers(given, "P_VALUES", "p-values between 0 and 1")
        if max(values) > 1:
            raise InputError([Problem("P_VALUES", None, "", f"{given!r}: p-values lie "
                                      "between 0 and 1")])
        given = renamed_option("--correction", "--method", correction, old_method)
        method = "holm" if given is None else given
        option = "--method" if old_method is not None else "--correction"
        if method not in ("bonferroni", "holm", "sidak", "bh"):
            raise InputError([Problem(option, None, "", f"{method!r}; expected bonferroni, "
                                      "holm, sidak or bh")])
        if not 0 < alpha < 1:
            raise InputError([Problem("--alpha", None, "", f"{alpha:g}; expected 0 < alpha < 1")])
        say_renamed("--correction", "--method", old_method, "the name power and analyze use",
                    "与 power 和 analyze 同名")
        result = adjust_p_values(values, method, alpha)  # type: ignore[arg-type]
        table = Table(t("test", "检验"), "p", t(f"p adjusted ({method})", f"校正后 p（{method}）"),
                      t(f"reject at {alpha:g}", f"在 {alpha:g} 下拒绝"))
        for i, (p, q, r) in enumerate(zip(result.p_values, result.adjusted, result.reject,
                                          strict=True), start=1):
            table.add_row(str(i), f"{p:.4g}", f"{q:.4g}", t("yes", "是") if r else t("no", "否"))
        err.print(table)
        if as_json:
            print(json.dumps(vars(result)))

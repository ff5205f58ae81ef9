"""`simctl srm` and `simctl adjust`: the two checks a team runs on numbers it already has, a
dashboard's arm counts (样本比例检查) and a list of p-values from several tests. Registered by
experiments/cli/commands.py; a table on stderr, one JSON object with `--json`."""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer
from rich.table import Table

from experiments.analysis.decisions import adjust_p_values, srm_check
from experiments.cli.cli_common import cli_errors, err, renamed_option, say_renamed
from experiments.report.language import t
from sim.errors import InputError, Problem

_HEAD = re.compile(r"[1-9][0-9]{0,2}")  # a number's first group before a thousands separator
_GROUP = re.compile(r"[0-9]{3}")  # a group after one


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


def _thousands_reading(parts: list[str]) -> list[str] | None:
    """The counts if the commas were thousands separators (each a head of 1-3 digits and groups
    of three), as many numbers as can be: '50,137,49,863' -> 50137, 49863. None: no reading."""
    best: list[list[str] | None] = [None] * len(parts) + [[]]
    for start in range(len(parts) - 1, -1, -1):
        if not _HEAD.fullmatch(parts[start]):
            continue
        for end in range(start + 2, len(parts) + 1):
            if not _GROUP.fullmatch(parts[end - 1]):
                break
            rest, found = best[end], best[start]
            if rest is not None and (found is None or len(rest) >= len(found)):
                best[start] = ["".join(parts[start:end]), *rest]
    return best[0]


def _refuse_thousands(counts: str) -> None:
    """'1,000,2,000' read as arms 1, 0, 2, 0 gave a verdict. A later group of three digits with
    a leading zero is no count (nobody writes 042), so the commas were thousands separators."""
    parts = counts.split(",")
    zero = next((p for p in parts[1:] if _GROUP.fullmatch(p) and p[0] == "0"), None)
    if zero is None:
        return
    numbers = _thousands_reading(parts) or []
    if not numbers:  # '1,000,2': a leading-zero group belongs to the number before it
        for part in parts:
            if numbers and _GROUP.fullmatch(part) and part[0] == "0":
                numbers[-1] += part
            else:
                numbers.append(part)
    numbers += ["..."] if len(numbers) < 2 else []
    commas, spaces = ",".join(numbers), " ".join(numbers)
    raise InputError([Problem(
        "COUNTS", None, "", f"{counts!r}: looks like numbers with thousands separators (no count "
        f"is written {zero}); write each count without them, e.g. simctl srm {commas} (or "
        f"{spaces})",
        zh=f"{counts!r}：像是带千位分隔符的数（计数不会写成 {zero}）；请去掉千位分隔符，例如 "
        f"simctl srm {commas}（或 {spaces}）")])


def _say_if_thousands(counts: str) -> None:
    """'821,588,815,482' is four arms here; copied from a dashboard it was two numbers with
    thousands separators. Said, not refused: 821 and 588 may be real arms."""
    parts = counts.split(",")
    numbers = _thousands_reading(parts)
    if numbers is not None and len(numbers) >= 2:
        example = ",".join(numbers)
        err.print(t(f"note: read as {len(parts)} arms ({', '.join(parts)}); for thousands "
                    f"separators write the counts without them, e.g. {example}",
                    f"说明：按 {len(parts)} 个组读取（{'、'.join(parts)}）；若逗号是千位分隔符，"
                    f"请去掉它，例如 {example}"), markup=False, soft_wrap=True)


def _say_if_few(expected: tuple[float, ...], shown: list[str]) -> list[str]:
    """Chi-square p-values hold only when every arm expects at least 5 units (Cochran's rule);
    below that `srm 1,0` would still print a verdict. Returns the warning in English (for
    --json), after printing it in the language in force."""
    few = [i for i, e in enumerate(expected) if e < 5]
    if not few:
        return []
    arms, values = [str(i + 1) for i in few], [shown[i] for i in few]
    which = "arms" if len(few) > 1 else "arm"
    english = (f"expected count under 5 in {which} {', '.join(arms)} ({', '.join(values)}); "
               "the chi-square test needs an expected count of at least 5 in every arm "
               "(Cochran's rule), so this p-value is not reliable: wait for more units or use "
               "an exact (binomial or multinomial) test")
    err.print(t(f"warning: {english}",
                f"警告：第 {'、'.join(arms)} 组的期望数为 {'、'.join(values)}，低于 5；卡方检验要求"
                "每组的期望数至少为 5（Cochran 规则），此处的 p 值不可靠：请等待更多样本，或改用"
                "精确检验（二项或多项分布）"), markup=False, soft_wrap=True)
    return [english]


def srm_head(mismatch: bool) -> str:
    """How a sample-ratio check (样本比例检查) begins on screen: `srm` and `analyze`."""
    return (f"[red]{t('SAMPLE RATIO MISMATCH', '样本比例不匹配 SRM')}[/red]" if mismatch
            else t("sample ratio ok", "样本比例正常"))


def _counts(counts: str) -> list[float]:
    """The arms' counts, refused where they are no counts or were written with thousands
    separators."""
    observed = _numbers(counts, "COUNTS", "whole numbers of units per arm")
    _refuse_thousands(counts)
    if any(c != int(c) for c in observed):
        raise InputError([Problem("COUNTS", None, "", f"{counts!r}: counts are whole "
                                  "numbers")])
    if not sum(observed):
        raise InputError([Problem("COUNTS", None, "", f"{counts!r}: no units in any arm; "
                                  "give the units each arm received")])
    return observed


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
        observed = _counts(counts)
        planned = _numbers(shares, "--shares", "positive shares") if shares else \
            [1.0] * len(observed)
        if len(planned) != len(observed) or min(planned) <= 0:
            raise InputError([Problem("--shares", None, "", f"{shares!r}: one positive share "
                                      f"per arm ({len(observed)} arms)")])
        _say_if_thousands(counts)
        result = srm_check(observed, planned, threshold)
        whole = all(e == int(e) or e >= 100 for e in result.expected)  # 0.5 is not "0"
        shown = [f"{e:,.0f}" if whole else f"{e:,.4g}" for e in result.expected]
        expected = ", ".join(shown)
        stat, p = f"{result.statistic:.3f}", f"{result.p_value:.3g}"
        err.print(srm_head(result.mismatch)
                  + t(f": chi-square {stat}, p = {p} (threshold {threshold:g}); expected "
                      f"{expected}",
                      f"：卡方 {stat}，p = {p}（阈值 {threshold:g}）；期望 {expected}"),
                  soft_wrap=True)
        warnings = _say_if_few(result.expected, shown)
        if as_json:
            print(json.dumps({"counts": observed, "shares": planned, **vars(result),
                              "warnings": warnings}))


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

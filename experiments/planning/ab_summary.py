"""The figures of an A/B simulation over its replicates: estimate, true effect and bias,
simulated and analytic power, A/A rate and coverage, each with its Monte Carlo standard error;
and the cheapest design that is powered and unbiased enough."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from experiments.planning.abtest import comparison_alpha
from experiments.planning.design import Design
from experiments.planning.errors import PowerInputError
from experiments.planning.metrics import MeanMetric, RatioMetric
from experiments.planning.solver import solve
from experiments.report.language import Lang, t, use
from sim.stats import t_quantile


def _rate(flags: pd.Series) -> tuple[float, float]:
    p, r = float(flags.mean()), len(flags)
    return p, math.sqrt(max(p * (1 - p), 1e-12) / r)


def analytic_power(group: pd.DataFrame, alpha: float, effect: str = "true_effect") -> float:
    """Power from `power.solve` for the measured baseline, variances, arm sizes and the mean
    true effect, or (`effect="estimate"`) the effect the design actually estimates (design
    effect from the measured ICC for cluster and ego units)."""
    delta = float(group[effect].mean())
    n_c, n_t = float(group["n_control"].mean()), float(group["n_treatment"].mean())
    if not (delta and n_c > 1 and n_t > 1) or not math.isfinite(delta):
        return math.nan
    design = Design(alpha=alpha, treatment_ratio=n_t / n_c)
    if "icc" in group and group["icc"].notna().all():
        design = Design(alpha=alpha, treatment_ratio=n_t / n_c,
                        icc=float(group["icc"].mean()),
                        cluster_size=float(group["cluster_size"].mean()),
                        cluster_cv=float(group["cluster_cv"].mean()))
    try:
        if "num_mean" in group and group["num_mean"].notna().all():
            metric: Any = RatioMetric(float(group["num_mean"].mean()),
                                      float(group["den_mean"].mean()),
                                      float(group["num_var"].mean()),
                                      float(group["den_var"].mean()), float(group["cov"].mean()))
        else:
            metric = MeanMetric(sd=math.sqrt(float(group["var_control"].mean())),
                                sd_treatment=math.sqrt(float(group["var_treatment"].mean())),
                                test="t")
        return float(solve(metric, design, n=n_c, mde=delta).power)
    except (PowerInputError, ValueError, ZeroDivisionError):
        return math.nan


def users_needed(row: pd.Series | dict[str, Any], alpha: float, target_power: float) -> float:
    """Enrolled users the design needs for `target_power` at the effect it estimates: its
    standard error scales as 1 / sqrt(users), so users x ((z_a + z_b) se / estimate)^2 (the
    design's own SE, so clusters and spillover are priced in). None (NaN) for an estimate of
    0 or of the opposite sign to the true effect: that would size a test for the wrong
    direction."""
    from scipy.stats import norm  # here: scipy.stats is half a second of import
    estimate, se = float(row["estimate"]), float(row["mean_se"])
    if not (estimate and math.isfinite(estimate) and math.isfinite(se)):
        return math.nan
    if estimate * float(row.get("true_effect", math.nan)) < 0:
        return math.nan
    z = float(norm.ppf(1 - alpha / 2) + norm.ppf(target_power))
    return float(row["users"]) * (z * se / estimate) ** 2


def summarise(rows: pd.DataFrame, alpha: float = 0.05,
              target_power: float = 0.8) -> pd.DataFrame:
    """One row per (design, duration, metric, treatment arm): estimate, true effect, bias,
    power (simulated and analytic), A/A rate and coverage, each with its Monte Carlo standard
    error, and the users the design needs for `target_power`. With several treatments each
    comparison is read at alpha / treatments (Bonferroni)."""
    per_test = comparison_alpha(alpha, rows["arm"].nunique())
    out = []
    for (design, duration, metric, arm), g in rows.groupby(
            ["design", "duration", "metric", "arm"], sort=True):
        r = len(g)
        true = float(g["true_effect"].mean())
        diff = g["estimate"] - g["true_effect"]
        power, power_se = _rate(g["reject"])
        aa, _ = _rate(g["aa_reject"])
        covered = (g["ci_lower"] <= true) & (true <= g["ci_upper"])
        coverage, coverage_se = _rate(covered)
        bias = float(diff.mean())
        row = {
            "design": int(design), "unit": g["unit"].iloc[0], "size": int(g["size"].iloc[0]),
            "duration": int(duration), "metric": metric, "arm": arm, "replicates": r,
            "users": float(g["n_enrolled"].mean()),
            "n_control": float(g["n_control"].mean()),
            "n_treatment": float(g["n_treatment"].mean()),
            "alpha_per_comparison": per_test,
            "control_mean": float(g["true_control"].mean()),
            "estimate": float(g["estimate"].mean()),
            "estimate_se": float(g["estimate"].std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "true_effect": true,
            "true_effect_se": float(g["true_effect"].std(ddof=1) / math.sqrt(r))
            if r > 1 else math.nan,
            "bias": bias,
            "bias_se": float(diff.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "relative_bias": bias / true if true else math.nan,
            "power": power, "power_se": power_se,
            "analytic_power": analytic_power(g, per_test),
            "analytic_power_at_estimate": analytic_power(g, per_test, "estimate"),
            "aa_rate": aa, "aa_se": math.sqrt(per_test * (1 - per_test) / r),
            "coverage": coverage, "coverage_se": coverage_se,
            "mean_se": float(g["se"].mean()),
        }
        row["users_needed"] = users_needed(row, per_test, target_power)
        out.append(row)
    return pd.DataFrame(out)


def design_table(table: pd.DataFrame, primary: str) -> pd.DataFrame:
    """One row per design and duration on the primary metric; with several treatments, the
    weakest comparison decides (lowest power, largest |bias|, most users needed)."""
    rows = table[table["metric"] == primary].copy()
    rows["abs_bias"] = rows["relative_bias"].abs()
    keys = ["design", "duration"]
    worst = rows.sort_values("abs_bias", ascending=False, na_position="first") \
        .groupby(keys, sort=False).head(1).set_index(keys)
    worst["power"] = rows.groupby(keys)["power"].min()
    worst["users_needed"] = rows.groupby(keys)["users_needed"].max()
    return worst.reset_index().sort_values(keys, ignore_index=True)


def recommend(table: pd.DataFrame, primary: str, target_power: float = 0.8,
              bias_tolerance: float = 0.1, lang: Lang = "en") -> dict[str, Any]:
    """The cheapest design (fewest user-days, then shortest) whose simulated power on the
    primary metric reaches the target and whose |bias| is at most `bias_tolerance` times the
    true effect; when none does, say which came closest and why. `reasons` says in words
    what each randomisation unit costs or gets wrong. In English whatever the language in
    force, because this is data (summary.json, --json); the screen and the page ask for the
    same advice in their words with `lang=current()`."""
    with use(lang):
        return _advice(table, primary, target_power, bias_tolerance)


def _advice(table: pd.DataFrame, primary: str, target_power: float,
            bias_tolerance: float) -> dict[str, Any]:
    """`recommend` in the language in force."""
    rows = design_table(table, primary)
    rows["cost"] = rows["users"] * rows["duration"]
    rows["bias_ok"] = rows["abs_bias"] <= bias_tolerance
    rows["power_ok"] = rows["power"] >= target_power
    rule = t(f"simulated power >= {target_power:g} on {primary} and |bias| <= "
             f"{bias_tolerance:g} x the true effect; cheapest = fewest enrolled user-days",
             f"{primary} 的模拟功效 >= {target_power:g} 且 |偏差| <= 真实效应的 "
             f"{bias_tolerance:g} 倍；最省 = 入组用户天数最少")
    if not len(rows):
        return {"found": False, "rule": rule, "reasons": [],
                "text": t("no design was simulated", "没有模拟任何设计")}
    reasons = unit_reasons(rows, target_power, bias_tolerance)
    fits = rows[rows["bias_ok"] & rows["power_ok"]].sort_values(["cost", "duration"])
    if len(fits):
        best = fits.iloc[0]
        return {"found": True, "rule": rule, **_design(best), "reasons": reasons,
                "text": t(f"{best['unit']} randomisation, {int(best['duration'])} days, "
                          f"{best['users']:,.0f} users (market {int(best['size']):,}): power "
                          f"{best['power']:.2f}, bias {best['relative_bias']:+.1%} of the true "
                          "effect",
                          f"按 {best['unit']} 随机分组，{int(best['duration'])} 天，"
                          f"{best['users']:,.0f} 名用户（市场 {int(best['size']):,}）：功效 "
                          f"{best['power']:.2f}，偏差为真实效应的 {best['relative_bias']:+.1%}")}
    rows["gap"] = (target_power - rows["power"]).clip(lower=0) + (
        rows["abs_bias"] - bias_tolerance).clip(lower=0).fillna(1.0)
    best = rows.sort_values(["gap", "cost"]).iloc[0]
    why = [] if best["power_ok"] else [t(f"power {best['power']:.2f} < {target_power:g}",
                                         f"功效 {best['power']:.2f} < {target_power:g}")]
    if not best["bias_ok"] and not math.isfinite(best["relative_bias"]):  # true effect 0
        why.append(t("no true effect to measure bias against", "没有可用来衡量偏差的真实效应"))
    elif not best["bias_ok"]:
        why.append(t(f"bias {best['relative_bias']:+.1%} beyond ±{bias_tolerance:.0%}",
                     f"偏差 {best['relative_bias']:+.1%} 超出 ±{bias_tolerance:.0%}"))
    more = ""
    if not best["power_ok"] and best["bias_ok"] and math.isfinite(best["users_needed"]):
        more = t(f"; about {best['users_needed']:,.0f} enrolled users would reach the power",
                 f"；约 {best['users_needed']:,.0f} 名入组用户可达到目标功效")
    return {"found": False, "rule": rule, **_design(best), "reasons": reasons,
            "text": t(f"no design qualifies; closest: {best['unit']}, {int(best['duration'])} "
                      f"days, {best['users']:,.0f} users ({'; '.join(why)}){more}; simulate "
                      "longer durations, a larger market or another unit",
                      f"没有设计达标；最接近的是：{best['unit']}，{int(best['duration'])} 天，"
                      f"{best['users']:,.0f} 名用户（{'；'.join(why)}）{more}；请模拟更长的周期、"
                      "更大的市场或换一种随机单位")}


BIAS_LEVEL = 0.05  # two-sided level at which a bias is told from Monte Carlo noise


def bias_threshold(replicates: int) -> float:
    """How many bias_se a bias must pass to be told from noise. bias_se is sd / sqrt(R) of
    the R paired differences (estimate - true), so bias / bias_se is Student's t with R - 1
    degrees of freedom when nothing biases the design (each difference is a mean over
    thousands of users, near normal): its two-sided 95% point is 2.05 at 30 replicates and
    1.98 at 100 (the usual "two standard errors"), but 12.7 at 2, where a flat 2 would call
    about 30% of pure noise a bias. Infinite under 2 replicates: no SE, no verdict."""
    if replicates < 2:
        return math.inf
    return t_quantile(1 - BIAS_LEVEL / 2, replicates - 1)


def bias_words(row: Any, tolerance: float) -> str:
    """What a design's bias says, and only what it can say. Spillover (the treatment reaching
    control users through friends) shrinks the estimate toward zero: below a positive true
    effect (bias < 0), above a negative one (bias > 0), i.e. relative bias in [-1, 0) either
    way; the arms see their friends' treatment alike, so it does not push the estimate past
    zero. So interference is named only for a bias beyond noise in that direction; one away
    from zero or past zero gets a neutral reason, and one within noise asks for replicates."""
    rel = row.relative_bias
    if not math.isfinite(rel):
        return t("no true effect to measure bias against", "没有可用来衡量偏差的真实效应")
    if abs(rel) <= tolerance:
        return t(f"bias {rel:+.0%} (within ±{tolerance:.0%})",
                 f"偏差 {rel:+.0%}（在 ±{tolerance:.0%} 以内）")
    r = int(row.replicates)
    if not abs(row.bias) > bias_threshold(r) * row.bias_se:  # NaN SE: not beyond noise
        return t(f"bias {rel:+.0%} is not distinguishable from noise at {r} replicate(s); "
                 "add replicates", f"偏差 {rel:+.0%} 在 {r} 次重复下与噪声无法区分；请增加重复次数")
    if rel > 0:
        return t(f"bias {rel:+.0%}: biased away from zero, not what spillover to control users "
                 "does (it shrinks the estimate); check the design",
                 f"偏差 {rel:+.0%}：偏离零的方向，这不是处理效应溢出到对照组所致（溢出使估计"
                 "向零收缩）；请检查设计")
    if rel < -1:
        return t(f"bias {rel:+.0%}: the estimate has the opposite sign to the true effect, past "
                 "what spillover does (it shrinks the estimate toward zero); check the design",
                 f"偏差 {rel:+.0%}：估计值与真实效应符号相反，超出了溢出效应的作用（溢出使估计"
                 "向零收缩）；请检查设计")
    if row.unit == "user":
        return t(f"bias {rel:+.0%}: it understates the launch effect, because treated and "
                 "control users are friends and the treatment reaches across arms "
                 "(interference)", f"偏差 {rel:+.0%}：实验组与对照组用户互为好友，处理效应跨组"
                 "传播（干扰），因此低估了上线效应")
    return t(f"bias {rel:+.0%}: friends still cross its units, so the treatment reaches "
             "control users and it understates the launch effect",
             f"偏差 {rel:+.0%}：好友关系仍跨越其分组单位，处理效应触达对照组，因此低估了上线效应")


def unit_reasons(rows: pd.DataFrame, target_power: float, tolerance: float) -> list[str]:
    """One sentence per randomisation unit (its longest, largest design): what its bias says
    about interference (`bias_words`), what its variance costs against user randomisation,
    and the users it needs for the target power at the effect it estimates (none when that
    effect has the wrong sign: `users_needed`)."""
    widest = rows.sort_values(["size", "duration"]).groupby("unit", sort=False).tail(1)
    user = widest[widest["unit"] == "user"]
    user_se = float(user["mean_se"].iloc[0]) if len(user) else math.nan
    out = []
    for row in widest.itertuples():
        part = bias_words(row, tolerance)
        if row.unit != "user" and math.isfinite(user_se) and user_se > 0:
            ratio = (row.mean_se / user_se) ** 2
            part += t(f"; variance {ratio:.1f}x user randomisation's",
                      f"；方差为按用户随机的 {ratio:.1f} 倍")
        part += t(f"; power {row.power:.2f} with {row.users:,.0f} users",
                  f"；{row.users:,.0f} 名用户时功效 {row.power:.2f}")
        if math.isfinite(row.users_needed):
            part += t(f", about {row.users_needed:,.0f} for {target_power:.0%} at the effect "
                      "it estimates", f"，按其估计的效应达到 {target_power:.0%} 约需 "
                      f"{row.users_needed:,.0f} 名")
        out.append(f"{row.unit}: {part}")
    return out


def _design(row: pd.Series) -> dict[str, Any]:
    return {"unit": str(row["unit"]), "duration": int(row["duration"]),
            "users": float(row["users"]), "size": int(row["size"]),
            "power": float(row["power"]), "relative_bias": float(row["relative_bias"]),
            "users_needed": float(row["users_needed"])}

"""Answers on screen: a sweep's points with intervals and the best starred, the sensitivity
indices that matter, the best trial; warnings where the statistics are too thin."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from experiments.cli.commands import app
from tests.conftest import ROOT

runner = CliRunner()
SMALL = [str(ROOT / "scenarios" / "reference.yaml"), "market.size=2000", "--days", "20"]


def test_a_sweep_ends_with_its_points_and_the_best_starred(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sweep", *SMALL, "-p", "mechanics.acquisition.q=0.2,0.4",
                                 "--replicates", "3", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "per point; ★ best" in result.stderr and "acquired_users" in result.stderr
    lines = result.stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("│ 0.4"))
    end = next(i for i in range(start + 1, len(lines)) if not lines[i].startswith("│  "))
    best_row = "".join(lines[start:end])  # the row, wrapped over lines on a narrow terminal
    assert best_row.count("★") == 3  # more word of mouth: more users, GMV and contribution
    assert "thin:" not in result.stderr
    single = runner.invoke(app, ["sweep", *SMALL, "-p", "mechanics.acquisition.q=0.2,0.4",
                                 "--out", str(tmp_path)])
    assert "warning: thin: one replicate per point gives no interval" in single.stderr


def test_thin_sobol_indices_and_a_saturating_objective_are_warned(tmp_path: Path) -> None:
    sens = runner.invoke(app, ["sensitivity", *SMALL, "-p", "mechanics.acquisition.q=0.1..0.5",
                               "-p", "mechanics.acquisition.p=0.005..0.02", "--points", "8",
                               "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert sens.exit_code == 0, sens.stderr
    assert "what moves each output" in sens.stderr
    assert "from 8 base samples); raise --points" in sens.stderr
    opt = runner.invoke(app, ["optimize", *SMALL, "--maximize", "acquired_users", "-p",
                              "mechanics.acquisition.p=0.001..0.05", "--trials", "8", "--out",
                              str(tmp_path)])
    assert opt.exit_code == 0, opt.stderr
    assert "optimize: best trial" in opt.stderr and "warning: saturates: acquired_users" in \
        opt.stderr


def test_the_answers_speak_chinese_when_asked(tmp_path: Path) -> None:
    result = runner.invoke(app, ["--lang", "zh", "sweep", *SMALL, "-p",
                                 "mechanics.acquisition.q=0.2,0.4", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    assert "参数扫描：各点均值 [95% 区间]；★ 最优" in result.stderr
    assert "累计用户" in result.stderr and "样本不足：每点一次重复没有区间" in result.stderr


def test_an_optimisation_no_trial_of_which_is_feasible_says_so(tmp_path: Path) -> None:
    """No best trial, no answer table (it failed on the missing best): the headline says why
    and the exit code is 1."""
    opt = runner.invoke(app, ["optimize", *SMALL, "--minimize", "aov", "--constraint",
                              "gmv>=1e12", "-p", "mechanics.acquisition.p=0.001..0.01",
                              "--trials", "4", "--batch", "2", "--out", str(tmp_path)])
    assert opt.exit_code == 1, opt.stderr
    assert "optimize: no trial met every constraint in 4 trials" in opt.stderr
    assert "failed:" not in opt.stderr and "optimize: best trial" not in opt.stderr


def test_an_output_with_no_value_is_said_undefined_not_zero(tmp_path: Path) -> None:
    """reference.yaml has no spend, so ROI has no value: Morris failed (IndexError) after
    writing its folder, Sobol showed '0 ± 0' (no influence); optimize blamed constraints
    nobody gave, with '1 failure(s)' and its trials marked feasible."""
    args = [*SMALL, "-p", "mechanics.acquisition.q=0.1..0.5", "-p",
            "mechanics.acquisition.p=0.005..0.02", "--points", "4", "--out", str(tmp_path)]
    morris = runner.invoke(app, ["sensitivity", *args, "--outputs", "roi", "--method",
                                 "morris"], env={"COLUMNS": "200"})
    assert morris.exit_code == 0, morris.output
    assert "undefined: roi has no value at 12 of 12 sampled points" in morris.stderr
    both = runner.invoke(app, ["sensitivity", *args, "--outputs", "roi,gmv", "--method",
                               "both"], env={"COLUMNS": "200"})
    assert both.exit_code == 0, both.output
    assert "│ roi" not in both.stderr and "│ gmv    │ acquisition.q │" in both.stderr
    opt = runner.invoke(app, ["optimize", *SMALL, "--maximize", "roi", "-p",
                              "mechanics.acquisition.q=0.1..0.5", "--trials", "4", "--out",
                              str(tmp_path)])
    assert opt.exit_code == 1
    assert "roi has no value in any of the 4 trials" in opt.stderr
    assert "0 failure(s)" in opt.stderr and "constraint" not in opt.stderr


def test_a_tie_stars_no_point(tmp_path: Path) -> None:
    """A 20-day cold start of 2,000 users sells nothing at either gift value: every point has
    the same numbers, so none is best (the first point was starred)."""
    result = runner.invoke(app, ["sweep", str(ROOT / "scenarios" / "cold_start.yaml"),
                                 "market.size=2000", "--days", "20", "-p",
                                 "mechanics.gift.value=0,10", "--out", str(tmp_path)],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.stderr
    rows = [line for line in result.stderr.splitlines() if line.startswith("│")]
    assert len(rows) == 2 and rows[0][1:].split("│")[1:] == rows[1][1:].split("│")[1:]
    assert "★" not in "".join(rows)


def test_an_ab_of_few_replicates_says_its_power_is_thin(tmp_path: Path) -> None:
    """With 2 replicates a power reads 1.00 ± 0.00 or 0.00 ± 0.00; its s.e. can be 0.5/sqrt(2)."""
    made = runner.invoke(app, ["ab", str(ROOT / "scenarios" / "ab_referral.yaml"),
                               "market.size=3000", "mechanics.seed.count=100", "--replicates",
                               "2", "--units", "user", "--out", str(tmp_path)])
    assert made.exit_code == 0, made.stderr
    assert "warning: thin: 2 replicate(s) per design; a simulated power has a standard error " \
        "up to ±0.35" in made.stderr


def test_summary_lines_of_validate_adjust_and_sweep_speak_chinese(tmp_path: Path) -> None:
    zh = ["--lang", "zh"]
    valid = runner.invoke(app, [*zh, "validate", str(ROOT / "scenarios" / "reference.yaml")])
    assert "：通过（100,000 用户 × 365 天，机制：acquisition、purchase" in valid.stderr
    adjusted = runner.invoke(app, [*zh, "adjust", "0.01,0.04"])
    assert "校正后 p（holm）" in adjusted.stderr and "是" in adjusted.stderr
    swept = runner.invoke(app, [*zh, "sweep", *SMALL, "-p", "mechanics.acquisition.q=0.2,0.4",
                                "--out", str(tmp_path)], env={"COLUMNS": "200"})
    assert "2 个点 × 1 次重复，2/2 个任务完成，0 个失败" in swept.stderr
    assert "警告: 样本不足" in swept.stderr and "warning" not in swept.stderr


def test_an_output_that_barely_moves_is_called_flat() -> None:
    """acquired_users saturated at the whole market got indices of '1.16 ± 1.2' with no word
    that they split noise."""
    from experiments.cli.answers import sensitivity_answer

    row = {"method": "sobol", "metric": "acquired_users", "param": "a.q", "S1": 0.5,
           "S1_conf": 0.6, "ST": 1.16, "ST_conf": 1.2}
    doc = {"indices": [row], "method": "sobol", "params": ["a.q"], "points": 64,
           "simulations": 64, "replicates": 1,
           "spread": {"acquired_users": {"min": 4999.7, "max": 5000.0, "mean": 4999.9},
                      "purchases": {"min": 10.0, "max": 20.0, "mean": 15.0}}}
    _, warnings = sensitivity_answer(doc)
    flat = [w for w in warnings if w.startswith("flat:")]
    assert flat == ["flat: acquired_users stays between 4,999.7 and 5,000 over every sample "
                    "(saturated or constant): its indices split noise, not influence; widen "
                    "the ranges or read another output"]


def test_the_sensitivity_tables_drop_empty_columns_and_write_numbers_plainly() -> None:
    import pandas as pd

    from experiments.runs.sensitivity import _table

    morris = pd.DataFrame({"method": ["morris"], "metric": ["gmv"], "param": ["a.q"],
                           "mu_star": [261000.0], "mu_star_conf": [117600.0],
                           "S1": [float("nan")], "ST": [float("nan")]})
    page = _table(morris)
    assert "261,000" in page and "e+05" not in page and "S1" not in page and "NaN" not in page


def test_a_best_value_at_the_end_of_its_range_is_warned_about() -> None:
    from experiments.cli.answers import optimize_answer

    doc = {"best_params": {"mechanics.gift.value": 0.003431, "a.p": 0.5},
           "bounds": {"mechanics.gift.value": [0.0, 30.0], "a.p": [0.0, 1.0]},
           "choices": [], "direction": "maximize", "objective": "contribution",
           "best_value": 1666.9}
    _, warnings = optimize_answer(doc, 10_000)
    assert warnings == ["edge: the best mechanics.gift.value 0.003431 is at the low end of its "
                        "range 0..30: where values beyond it are possible, widen the range, "
                        "the optimum may lie there"]

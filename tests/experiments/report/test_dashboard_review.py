"""The dashboard of several runs after a user review: labels that tell every pair of differing
runs apart, a note where runs of different lengths or market sizes are compared as totals, and
one quick ratio per run (the horizon value Differences, summary.json and `simctl run` show)."""

from __future__ import annotations

import itertools
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import sim
from experiments.report.dashboard import (
    RunFolder,
    comparison_notes,
    dashboard_html,
    label_runs,
    load_runs,
    runs_section,
)
from experiments.report.dashboard_labels import LABEL_SETTINGS
from experiments.report.differences import run_differences
from experiments.report.language import use
from experiments.report.parts import fmt
from experiments.runs.outputs import write_run
from sim.metrics import daily_metrics, horizon_values
from tests.conftest import ROOT


def _folder(scenario: dict[str, Any], name: str = "") -> RunFolder:
    return RunFolder(Path(name or scenario["name"]), {}, scenario, pd.DataFrame(),
                     pd.DataFrame())


def _growth(reward: int) -> dict[str, Any]:
    return {"name": "growth", "seed": 3, "days": 90, "replicates": 3, "market": {"size": 5000},
            "mechanics": {"referral": {"reward_referrer": reward}, "ads": {"budget": 25}}}


COLD_START = {"name": "cold_start", "seed": 1, "days": 60, "replicates": 3,
              "market": {"size": 5000}, "mechanics": {"gift": {"value": 10},
                                                      "ads": {"budget": 50}}}


def _text(run: RunFolder) -> str:
    """A label without its `#n`, which alone never tells runs apart for a reader."""
    return run.label.split(" ", 1)[1]


def test_runs_of_one_scenario_lead_with_the_setting_that_tells_them_apart() -> None:
    """growth.yaml, the same with reward_referrer=20, and cold_start.yaml: the first two were
    both `growth: days=90, seed=3, name=growth (+3)`, the reward hidden in the count."""
    runs = [_folder(_growth(10)), _folder(_growth(20)), _folder(COLD_START)]
    label_runs(runs)
    assert runs[0].label == "#1 growth: referral.reward_referrer=10, days=90, seed=3 (+2)"
    assert runs[1].label == "#2 growth: referral.reward_referrer=20, days=90, seed=3 (+2)"
    assert runs[2].label.startswith("#3 cold_start: days=60, seed=1, ")
    assert "name=" not in runs[2].label  # the name leads the label already


def test_differing_runs_never_read_alike_and_labels_stay_short() -> None:
    """Random sets of runs of one scenario over five settings (a one-factor-at-a-time sweep
    is among them: its base run and a variant read alike before): two runs that differ have
    different labels; the sweep's labels name LABEL_SETTINGS settings each."""
    rng = random.Random(7)
    for _ in range(300):
        settings = [tuple(rng.randint(0, 1) for _ in range(5))
                    for _ in range(rng.randint(2, 8))]
        runs = [_folder({"name": "s", "m": {f"k{j}": v for j, v in enumerate(values)}},
                        f"run{i}") for i, values in enumerate(settings)]
        label_runs(runs)
        for one, two in itertools.combinations(range(len(runs)), 2):
            if settings[one] != settings[two]:
                assert _text(runs[one]) != _text(runs[two]), (settings, runs[one].label)
    sweep = [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)]
    runs = [_folder({"name": "s", "m": dict(zip("abcd", v, strict=True))}) for v in sweep]
    label_runs(runs)
    assert all(_text(r).count("=") == LABEL_SETTINGS for r in runs)
    assert [_text(r) for r in runs] == ["m.a=0, m.b=0, m.c=0 (+1)", "m.a=1, m.b=0, m.c=0 (+1)",
                                        "m.b=1, m.a=0, m.c=0 (+1)", "m.c=1, m.a=0, m.b=0 (+1)",
                                        "m.d=1, m.a=0, m.b=0 (+1)"]


def test_runs_alike_in_every_setting_are_told_by_their_folders() -> None:
    runs = [_folder(_growth(10), "runs/a"), _folder(_growth(10), "runs/b"),
            _folder(COLD_START)]
    label_runs(runs)
    assert _text(runs[0]) != _text(runs[1])
    assert runs[0].label.endswith("(a)") and runs[1].label.endswith("(b)")


def _sized(days: int, size: int) -> RunFolder:
    run = _folder({"name": "growth", "seed": 3, "days": days, "market": {"size": size}})
    run.summary = {"days": days, "market_size": size, "replicates": 3}
    return run


def test_runs_of_different_lengths_or_markets_carry_a_note() -> None:
    """A 60-day run against 90-day ones read -56% GMV with nothing saying it was shorter."""
    runs = [_sized(90, 5000), _sized(90, 5000), _sized(60, 2000)]
    label_runs(runs)
    notes = comparison_notes(runs)
    assert len(notes) == 2
    assert notes[0].startswith("Runs of different lengths (#1, #2: 90 days; #3: 60 days)")
    assert "mix the length with the effect of the settings" in notes[0]
    assert notes[1].startswith("Runs of different market sizes (#1, #2: 5,000 users; #3: "
                               "2,000 users)")
    section = runs_section(runs)
    assert "class='warn' data-note='days'" in section
    assert "class='warn' data-note='market.size'" in section
    with use("zh"):
        assert comparison_notes(runs)[0].startswith("运行的时长不同（#1、#2：90 天；#3：60 天）")
    alike = [_sized(90, 5000), _sized(90, 5000)]
    assert comparison_notes(alike) == [] and "data-note" not in runs_section(alike)


def _write_run(root: Path, name: str, gained: list[list[float]],
               churned: list[list[float]]) -> Path:
    """A run folder of growth accounting only: per replicate, the gained and churned buyers of
    three 30-day periods (recorded on each period's last day), through the metric functions."""
    frames = []
    for replicate, (up, down) in enumerate(zip(gained, churned, strict=True)):
        counters = pd.DataFrame({f"ga_{part}{amount}": np.zeros(90)
                                 for part in ("new", "resurrected", "churned", "gained")
                                 for amount in ("", "_amount")})
        counters.loc[[29, 59, 89], "ga_new"] = up
        counters.loc[[59, 89], "ga_gained"] = up[1:]  # the engine records it from period 2 on
        counters.loc[[29, 59, 89], "ga_churned"] = down
        frames.append(daily_metrics(counters).assign(replicate=replicate, day=np.arange(90)))
    folder = root / name
    folder.mkdir()
    pd.concat(frames, ignore_index=True).to_parquet(folder / "metrics.parquet")
    (folder / "summary.json").write_text(json.dumps({"metrics": {}, "days": 90}))
    (folder / "scenario.resolved.yaml").write_text(yaml.safe_dump({"name": name, "days": 90}))
    return folder


def _health_cells(page: str, metric: str) -> list[str]:
    health = page[page.index('<section id="health">'):page.index('<section id="growth">')]
    return re.findall(rf"<td data-metric='{metric}'>([^<]*)<br>", health)


def _baseline_cell(page: str, metric: str) -> str:
    match = re.search(rf">{metric} <small>[^<]*</small></td><td>([^<]*)</td>", page)
    assert match, metric
    return match.group(1)


def test_the_quick_ratio_is_one_number_per_run(tmp_path: Path) -> None:
    """Business health read the latest period (2.258 against 1.739 in the review, under
    "value over the horizon"); now it shows the horizon value, as Differences does."""
    folders = [_write_run(tmp_path, "a", [[30, 50, 60], [20, 40, 50]], [[0, 20, 60], [0, 10, 40]]),
               _write_run(tmp_path, "b", [[30, 60, 70], [20, 50, 50]], [[0, 20, 50], [0, 20, 30]])]
    runs = load_runs(folders)
    page = dashboard_html(runs, lang="en")
    horizon = [float(np.mean([horizon_values(f.drop(columns="replicate").set_index("day"))[
        "ga_quick_ratio"] for _, f in pd.read_parquet(d / "metrics.parquet").groupby(
            "replicate")])) for d in folders]
    latest = [(1.0 + 1.25) / 2, (1.4 + 5 / 3) / 2]  # each replicate's last period, averaged
    assert horizon[0] == pytest.approx((110 / 80 + 90 / 50) / 2)  # periods 2 and 3
    assert _health_cells(page, "ga_quick_ratio") == [fmt(v) for v in horizon]
    assert fmt(latest[0]) not in _health_cells(page, "ga_quick_ratio")
    assert _baseline_cell(page, "ga_quick_ratio") == fmt(horizon[0])
    (diffs,) = run_differences(runs).values()
    assert next(d for d in diffs if d.metric == "ga_quick_ratio").value == pytest.approx(
        horizon[1])
    assert "over the complete periods after the first" in page
    assert "首个周期之后各完整周期" in dashboard_html(runs, lang="zh")


@pytest.fixture(scope="module")
def review_runs(tmp_path_factory: pytest.TempPathFactory) -> list[RunFolder]:
    """The review's three runs, small: growth, growth with a bigger referrer reward, and a
    shorter cold start."""
    root = tmp_path_factory.mktemp("review")
    plans = [("growth.yaml", ["days=90"]),
             ("growth.yaml", ["days=90", "mechanics.referral.reward_referrer=20"]),
             ("cold_start.yaml", ["days=60"])]
    common = ["market.size=2000", "replicates=2"]
    return load_runs([write_run(sim.run(sim.load_scenario(
        ROOT / "scenarios" / scenario, [*common, *extra])), root, 0.0)
        for scenario, extra in plans])


def test_the_review_runs_on_one_page(review_runs: list[RunFolder]) -> None:
    """Real runs: distinct labels, the note on the 60-day run, and the health panel's values
    those of summary.json (what `simctl run` prints) for every KPI of every run."""
    page = dashboard_html(review_runs, lang="en")
    labels = [_text(r) for r in review_runs]
    assert len(set(labels)) == 3 and labels[1].startswith("growth: referral.reward_referrer=20")
    runs = page[page.index('<section id="runs">'):page.index('<section id="differences">')]
    assert "#1, #2: 90 days; #3: 60 days" in runs
    for metric in ("ga_quick_ratio", "gmv", "dau_mau"):
        summary = [r.summary["metrics"][metric]["mean"] for r in review_runs]
        assert _health_cells(page, metric) == [fmt(v) for v in summary], metric


def test_simctl_dashboard_says_the_note_on_stderr_too(review_runs: list[RunFolder],
                                                      tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from experiments.cli.commands import app

    done = CliRunner().invoke(app, ["dashboard", *(str(r.folder) for r in review_runs),
                                    "--out", str(tmp_path / "board.html")])
    assert done.exit_code == 0, done.output
    assert "dashboard: note: Runs of different lengths (#1, #2: 90 days; #3: 60 days)" in \
        done.stderr

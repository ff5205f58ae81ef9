"""Observed data shorter than the scenario's horizon leave out, with a located note, what the
scenario dated after them, as a shorter `--days` does for `simctl run`; before, calibrate
refused such a scenario outright (e.g. an ads window after `--until`)."""

from __future__ import annotations

import pandas as pd

from experiments.calibration.objective import with_observed
from experiments.calibration.observed import Observed
from sim.scenario import parse_scenario
from tests.sim.test_horizon_notes import WINDOWED


def observed_days(days: int) -> Observed:
    return Observed("obs.csv", pd.Timestamp("2026-01-01"),
                    pd.DataFrame({"orders": [1.0] * days}, index=pd.RangeIndex(days, name="day")))


def test_dated_things_past_the_observed_days_are_left_out_with_a_note() -> None:
    scenario, notes = with_observed(parse_scenario(WINDOWED, "s.yaml"), observed_days(30))
    assert scenario.days == 30
    assert "late" not in scenario.mechanics
    assert scenario.mechanics["campaign"].window.last_day == 29
    assert notes == [
        "s.yaml:10: mechanics.late: left out: its window opens on day 40, past the horizon "
        "0..29 the observed data set (so is fitted.yaml, and a forecast from it)",
        "s.yaml:19: mechanics.campaign.window.last_day: closed on day 29: day 50 is past the "
        "horizon 0..29 the observed data set (so is fitted.yaml, and a forecast from it)"]
    assert notes[0].zh.startswith("s.yaml:10: mechanics.late: 已略去：其时间窗从第 40 天开始，"
                                  "在观测数据设定的时长 0..29 之外")


def test_observed_data_as_long_as_the_scenario_leave_everything_in() -> None:
    scenario, notes = with_observed(parse_scenario(WINDOWED, "s.yaml"), observed_days(60))
    assert notes == [] and "late" in scenario.mechanics

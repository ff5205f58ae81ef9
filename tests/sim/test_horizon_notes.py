"""A horizon shortened on the command line leaves out, with a located note, the dated things
the file placed after it; the same dates written in the file stay errors."""

from __future__ import annotations

import pytest

from sim.errors import InputError
from sim.scenario import load_scenario, parse_scenario
from tests.conftest import ROOT

WINDOWED = """\
name: t
days: 60
market:
  size: 1000
mechanics:
  acquisition:
    type: bass_acquisition
    p: 0.01
    q: 0.3
  late:
    type: bass_acquisition
    p: 0.02
    q: 0.0
    window: {first_day: 40}
  campaign:
    type: bass_acquisition
    p: 0.02
    q: 0.0
    window: {first_day: 5, last_day: 50}
"""


def test_shipped_dated_posts_past_a_shorter_horizon_are_left_out_with_a_note() -> None:
    full = load_scenario(ROOT / "scenarios" / "growth.yaml")
    short = load_scenario(ROOT / "scenarios" / "growth.yaml", ["days=30"])
    assert len(short.mechanics["kol"].posts) == len(full.mechanics["kol"].posts) - 1
    (note,) = map(str, short.notes)
    assert note.startswith(f"{ROOT / 'scenarios' / 'growth.yaml'}:71: note: "
                           "mechanics.kol.posts.1: left out: day 63 is past the horizon 0..29")
    assert full.notes == []


def test_windows_past_the_horizon_close_or_leave_the_mechanic_out() -> None:
    scenario = parse_scenario(WINDOWED, "s.yaml", ["days=30"])
    assert "late" not in scenario.mechanics
    assert scenario.mechanics["campaign"].window.last_day == 29
    assert [str(n) for n in scenario.notes] == [
        "s.yaml:10: note: mechanics.late: left out: its window opens on day 40, past the "
        "horizon 0..29 the command line set",
        "s.yaml:19: note: mechanics.campaign.window.last_day: closed on day 29: day 50 is past "
        "the horizon 0..29 the command line set"]


def test_written_in_the_file_the_same_dates_stay_errors() -> None:
    with pytest.raises(InputError) as caught:
        parse_scenario(WINDOWED.replace("days: 60", "days: 30"), "s.yaml")
    assert any("day 40 is outside the horizon 0..29" in str(p) for p in caught.value.problems)
    longer = parse_scenario(WINDOWED, "s.yaml", ["days=90"])  # longer: nothing to leave out
    assert longer.notes == [] and "late" in longer.mechanics


def test_an_experiment_is_read_up_to_the_shorter_horizon() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "ab_referral.yaml", ["days=20"])
    assert scenario.experiment.duration_days == 16  # days 4..19
    assert "experiment.duration_days: 16 days: the test is read up to day 19" in \
        str(scenario.notes[0])


def test_every_post_past_a_short_horizon_leaves_the_channel_and_runs() -> None:
    """growth.yaml at --days 5: both posts fall after day 4; the KOL channel, which the new-user
    gift names, stays and the run goes on (it said 'posts: at least 1 item' before)."""
    scenario = load_scenario(ROOT / "scenarios" / "growth.yaml", ["days=5", "market.size=2000"])
    assert scenario.mechanics["kol"].posts == []
    assert [n.path for n in scenario.notes if n.path.startswith("mechanics")] == [
        "mechanics.kol.posts.0", "mechanics.kol.posts.1"]
    from sim.engine import simulate

    result = simulate(scenario)
    assert result is not None


def test_each_note_has_its_chinese_for_the_screen() -> None:
    """`simctl --lang zh` prints the notes in Chinese (Problem.text); str() stays English."""
    windowed = parse_scenario(WINDOWED, "s.yaml", ["days=30"])
    assert [n.text(chinese=True) for n in windowed.notes] == [
        "s.yaml:10: 说明: mechanics.late: 已略去：其时间窗从第 40 天开始，在命令行设定的时长 0..29 "
        "之外",
        "s.yaml:19: 说明: mechanics.campaign.window.last_day: 于第 29 天关闭：第 50 天在命令行"
        "设定的时长 0..29 之外"]
    test = load_scenario(ROOT / "scenarios" / "ab_referral.yaml", ["days=20"]).notes[0]
    assert "16 天：实验读到第 19 天；从第 4 天起的" in test.text(chinese=True)
    assert str(test) == test.text() and "说明" not in str(test)


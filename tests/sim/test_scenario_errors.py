"""Bad scenarios are reported as FILE:LINE: path: message, every problem at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.errors import InputError
from sim.scenario import load_scenario, parse_scenario

GOOD = """\
name: t
days: 30
market:
  size: 1000
mechanics:
  acquisition:
    type: bass_acquisition
    p: 0.01
    q: 0.3
"""


def problems(text: str, overrides: list[str] | None = None) -> list[str]:
    with pytest.raises(InputError) as caught:
        parse_scenario(text, "s.yaml", overrides)
    return [str(p) for p in caught.value.problems]


def test_good_scenario_parses() -> None:
    scenario = parse_scenario(GOOD, "s.yaml")
    assert scenario.mechanics["acquisition"].q == 0.3


def test_out_of_range_probability_names_line_and_path() -> None:
    assert problems(GOOD.replace("p: 0.01", "p: 1.5")) == [
        "s.yaml:8: mechanics.acquisition.p: Input should be less than or equal to 1"
    ]


def test_unknown_key_lists_allowed_fields() -> None:
    (msg,) = problems(GOOD.replace("q: 0.3", "q: 0.3\n    qq: 1"))
    assert msg.startswith("s.yaml:10: mechanics.acquisition.qq: unknown field (did you mean "
                          "'q'?); expected one of:")
    assert "p, q, type, window" in msg


def test_missing_field_points_at_parent() -> None:
    assert problems(GOOD.replace("    q: 0.3\n", "")) == [
        "s.yaml:6: mechanics.acquisition.q: required field is missing"
    ]


def test_misspelt_names_get_the_nearest_right_one() -> None:
    """A misspelt field, mechanic type or metric names the nearest right one first."""
    (field,) = problems(GOOD, ["markt.size=5"])
    assert "markt: unknown field (did you mean 'market'?)" in field
    (kind,) = problems(GOOD.replace("bass_acquisition", "bass_acqusition"))
    assert "(did you mean 'bass_acquisition'?)" in kind
    arms = ("experiment:\n  primary_metric: purchses\n  arms:\n    - {name: control, share: 0.5}"
            "\n    - {name: b, share: 0.5, set: {mechanics.acquisition.q: 0.4}}\n")
    (metric,) = problems(GOOD + arms)
    assert "unknown metric 'purchses' (did you mean 'purchases'?)" in metric


def test_unknown_mechanic_type() -> None:
    (msg,) = problems(GOOD.replace("bass_acquisition", "bass"))
    assert msg.startswith("s.yaml:7: mechanics.acquisition.type: unknown or missing mechanic type")


def test_strings_are_not_coerced_to_numbers() -> None:
    (msg,) = problems(GOOD.replace("size: 1000", 'size: "1000"'))
    assert msg.startswith("s.yaml:4: market.size:")


def test_several_problems_reported_together() -> None:
    text = GOOD.replace("p: 0.01", "p: -1").replace("days: 30", "days: 0")
    assert len(problems(text)) == 2


def test_window_outside_horizon() -> None:
    text = GOOD + "    window: {first_day: 5, last_day: 30}\n"
    assert problems(text) == [
        "s.yaml:10: mechanics.acquisition.window.last_day: day 30 is outside the horizon 0..29"
    ]


def test_window_end_before_start() -> None:
    (msg,) = problems(GOOD + "    window: {first_day: 5, last_day: 3}\n")
    assert "must be >= first_day (5)" in msg


def test_yaml_syntax_error_has_line() -> None:
    (msg,) = problems("name: t\ndays: [30\n")
    assert msg.startswith("s.yaml:3: YAML:")


def test_python_tag_is_refused() -> None:
    (msg,) = problems("name: !!python/object/apply:os.system ['echo hi']\n")
    assert msg.startswith("s.yaml:1: YAML:") and "python tags are not allowed" in msg


def test_duplicate_key() -> None:
    assert problems(GOOD + "days: 40\n") == [
        "s.yaml:10: days: duplicate key; each key may appear once"
    ]


def test_empty_file_and_non_mapping() -> None:
    assert problems("") == ["s.yaml:1: the file is empty; expected a scenario"]
    assert problems("- 1\n- 2\n") == ["s.yaml:1: a scenario must be a mapping of fields"]


def test_missing_file(tmp_path) -> None:
    with pytest.raises(InputError) as caught:
        load_scenario(tmp_path / "nope.yaml")
    assert str(caught.value).endswith("nope.yaml: no such file")


def test_override_applies_before_validation() -> None:
    scenario = parse_scenario(GOOD, "s.yaml", ["mechanics.acquisition.p=0.2", "days=10"])
    assert scenario.mechanics["acquisition"].p == 0.2 and scenario.days == 10


def test_bad_override_value_is_reported_as_override() -> None:
    assert problems(GOOD, ["mechanics.acquisition.p=2"]) == [
        "s.yaml: mechanics.acquisition.p: Input should be less than or equal to 1 "
        "(from override 'mechanics.acquisition.p=2')"
    ]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("days", "expected dotted.path=value"),
        ("=3", "expected dotted.path=value"),
        ("a b=3", "is not a dotted path"),
        ("days=", "the value is empty"),
        ("days=[1", "cannot read value"),
    ],
)
def test_malformed_overrides(override: str, fragment: str) -> None:
    (msg,) = problems(GOOD, [override])
    assert msg.startswith(f"s.yaml: override {override!r}:") and fragment in msg


def test_override_into_a_value_is_refused() -> None:
    (msg,) = problems(GOOD, ["mechanics.acquisition.p.x=1"])
    assert "this field is a value, not a section" in msg


def test_override_of_unknown_field_is_an_unknown_field() -> None:
    (msg,) = problems(GOOD, ["mechanics.acquisition.pp=1"])
    assert "unknown field" in msg and "from override 'mechanics.acquisition.pp=1'" in msg


ARMS = GOOD + """\
experiment:
  arms:
    - name: control
      share: 0.5
    - name: treatment
      share: 0.4
      set:
        mechanics.acquisition.p: 0.02
"""


def test_arm_shares_must_sum_to_one() -> None:
    assert problems(ARMS) == [
        "s.yaml:11: experiment.arms: arm shares sum to 0.9; they must sum to 1"
    ]


def test_arm_setting_must_name_a_numeric_parameter() -> None:
    text = ARMS.replace("0.4", "0.5").replace("acquisition.p:", "acquisition.type:")
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:17: experiment.arms.1.set.mechanics.acquisition.type: not a "
                          "numeric parameter")


def test_arm_setting_out_of_range() -> None:
    text = ARMS.replace("0.4", "0.5").replace("p: 0.02", "p: 3")
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:17: experiment.arms.1.set.mechanics.acquisition.p:")
    assert "less than or equal to 1" in msg


RECS = """\
name: t
days: 30
market:
  size: 1000
mechanics:
  founders:
    type: seed_users
    count: 100
  buy:
    type: purchase_dropout
    purchase_rate: {r: 1.0, alpha: 20.0}
    dropout: {a: 1.0, b: 10.0}
    order_value: {model: gamma, shape: 2.0, scale: 30.0}
  recs:
    type: recommendations
experiment:
  arms:
    - name: control
      share: 0.5
    - name: treatment
      share: 0.5
      set:
        mechanics.recs.max_lift: 0
        mechanics.recs.cold_lift: 0
"""


def test_arm_settings_are_checked_together() -> None:
    """cold_lift <= max_lift: both set to 0 is valid together, though max_lift 0 alone (with
    the default cold_lift 0.02) is not; a wrong pair is reported at one of its keys."""
    scenario = parse_scenario(RECS, "s.yaml")
    assert scenario.experiment.arms[1].set["mechanics.recs.max_lift"] == 0
    (msg,) = problems(RECS.replace("cold_lift: 0\n", "cold_lift: 0.1\n"))
    assert msg.startswith("s.yaml:23: experiment.arms.1.set.mechanics.recs.max_lift:")
    assert "must not exceed max_lift" in msg


@pytest.mark.parametrize(("key", "field"), [
    ("mechanics.recs.cost_per_user_month: 0.1", "cost_per_user_month"),
    ("mechanics.recs.monthly_cost: 100", "monthly_cost"),
    ("mechanics.founders.count: 50", "count"),
])
def test_arm_setting_of_a_whole_market_field_is_refused(key: str, field: str) -> None:
    """Fields a mechanic reads once for everyone (fixed_fields) would be silently ignored."""
    text = RECS.replace("        mechanics.recs.max_lift: 0\n", f"        {key}\n")
    (msg,) = problems(text)
    assert msg.startswith(f"s.yaml:23: experiment.arms.1.set.{key.split(':')[0]}: {field} "
                          "applies to the whole market")
    assert "cannot differ by arm" in msg


def test_persona_setting_of_a_section_of_whole_market_fields_is_refused() -> None:
    """A fixed section (inventory lead_time) covers every field in it; personas too."""
    from sim.scenario_checks import check_scenario

    scenario = parse_scenario(RECS, "s.yaml")
    persona: dict = {"name": "moms", "share": 1.0}
    data = scenario.model_dump(mode="python")
    data["market"]["personas"] = [persona]
    data["mechanics"]["recs"]["opens_per_order"] = 2
    persona["set"] = {"mechanics.recs.opens_per_order": 3}
    from sim.scenario import Scenario

    problem = check_scenario(Scenario.model_validate(data))
    assert problem == [(("market", "personas", 0, "set", "mechanics.recs.opens_per_order"),
                        "opens_per_order applies to the whole market (recommendations reads "
                        "one value for everyone); it cannot differ by persona: set it under "
                        "mechanics.recs")]


def test_every_numeric_field_a_mechanic_reads_from_base_is_fixed() -> None:
    """A guard on the declarations: each numeric field a mechanic's source reads through
    `params.base` (directly or through a local alias of it or of a section) is in its
    fixed_fields, unless the read is only a `> 0 or self.params.varies(...)` gate."""
    import importlib
    import re
    import typing
    from pathlib import Path as FilePath

    from pydantic import BaseModel

    from sim.mechanics import REGISTRY

    def numeric(model: type, prefix: str = "") -> set[str]:
        out: set[str] = set()
        for name, info in model.model_fields.items():
            args = typing.get_args(info.annotation) or (info.annotation,)
            if typing.get_origin(info.annotation) in (list, dict):
                continue
            for arg in args:
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    out |= numeric(arg, f"{prefix}{name}.")
                elif arg in (int, float):
                    out.add(prefix + name)
        return out

    missing: list[str] = []
    for kind, (params, mechanic) in REGISTRY.items():
        source = FilePath(importlib.import_module(mechanic.__module__).__file__).read_text()
        aliases = {"base": ""}
        for alias, section in re.findall(r"(\w+)(?:, \w+)? = self\.params\.base\.(\w+)\b",
                                         source):
            aliases[alias] = section + "."
        fixed = params.fixed_fields
        for alias, prefix in aliases.items():
            for read in re.finditer(rf"(?<![\w.\"]){alias}\.([a-z_]+(?:\.[a-z_]+)*)(.*)",
                                    source):
                parts = (prefix + read.group(1)).split(".")
                line = source[source.rfind("\n", 0, read.start()):read.end()]
                gated = f'self.params.varies("{".".join(parts)}")' in line
                for cut in range(len(parts), 0, -1):
                    path = ".".join(parts[:cut])
                    if path in numeric(params):
                        if not gated and not any(path == f or path.startswith(f + ".")
                                                 for f in fixed):
                            missing.append(f"{kind}: {path}")
                        break
    assert not missing, missing


# --- lifecycle scenarios (issue 3) -------------------------------------------------------------

LIFECYCLE = """\
name: t
days: 30
market:
  size: 1000
  personas:
    - name: moms
      share: 0.6
    - name: elders
      share: 0.4
mechanics:
  ads:
    type: paid_ads
    daily_budget: 100
    cpm: 40
    ctr: 0.01
    personas: [moms]
  kol:
    type: kol_posts
    posts:
      - {day: 3, cost: 300, reach: 1000}
"""


def test_lifecycle_scenario_parses() -> None:
    scenario = parse_scenario(LIFECYCLE, "s.yaml")
    assert scenario.persona_names == ["moms", "elders"]


def test_campaign_outside_the_horizon() -> None:
    (msg,) = problems(LIFECYCLE.replace("day: 3,", "day: 45,"))
    assert msg == "s.yaml:20: mechanics.kol.posts.0.day: day 45 is outside the horizon 0..29"


def test_negative_budget() -> None:
    (msg,) = problems(LIFECYCLE.replace("daily_budget: 100", "daily_budget: -5"))
    assert msg.startswith("s.yaml:13: mechanics.ads.daily_budget: Input should be greater "
                          "than or equal to 0")


def test_persona_used_but_not_defined() -> None:
    (msg,) = problems(LIFECYCLE.replace("personas: [moms]", "personas: [teens]"))
    assert msg.startswith("s.yaml:16: mechanics.ads.personas.0: persona 'teens' is not defined")


def test_persona_shares_must_sum_to_one() -> None:
    (msg,) = problems(LIFECYCLE.replace("share: 0.4", "share: 0.3"))
    assert msg == "s.yaml:5: market.personas: persona shares sum to 0.9; they must sum to 1"


def test_unknown_channel_for_a_gift() -> None:
    text = LIFECYCLE + "  gift:\n    type: new_user_gift\n    channels: [tiktok]\n"
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:23: mechanics.gift.channels.0: channel 'tiktok' is not")


def test_first_order_contradicts_purchase_on_acquisition() -> None:
    text = LIFECYCLE + """\
  purchase:
    type: purchase_dropout
    purchase_rate: {r: 0.5, alpha: 10}
    dropout: {a: 1, b: 4}
    order_value: {model: gamma, shape: 2, scale: 50}
    purchase_on_acquisition: true
    first_order: {within_30_days: 0.2}
"""
    (msg,) = problems(text)
    assert "first_order and purchase_on_acquisition: true contradict" in msg


def test_error_in_a_section_made_by_an_override_names_the_override() -> None:
    (msg,) = problems(GOOD, ["mechanics.extra.type=nope", "mechanics.extra.p=0.1"])
    assert msg.startswith("s.yaml: mechanics.extra.type: unknown or missing mechanic type")
    assert "(from override 'mechanics.extra.type=nope')" in msg


def test_a_mechanic_an_override_made_up_without_a_type_is_a_misspelt_name() -> None:
    """mechanics.gfit.value=5 read as 'unknown or missing mechanic type' with 25 types listed."""
    (msg,) = problems(GOOD, ["mechanics.acquisiton.p=0.1"])
    assert msg == ("s.yaml: mechanics.acquisiton: override 'mechanics.acquisiton.p=0.1': no "
                   "mechanic 'acquisiton' in this scenario (did you mean 'acquisition'?); its "
                   "mechanics: acquisition (to add one, give its type too: "
                   "mechanics.acquisiton.type=...)")


def test_automation_needs_the_mechanics_behind_its_trigger_and_audience() -> None:
    text = GOOD + """\
  crm:
    type: automations
    rules:
      - name: winback
        trigger: no_open
        audience: [at_risk]
        channel: sms
"""
    found = problems(text)
    assert any(m.startswith("s.yaml:14: mechanics.crm.rules.0.trigger: trigger no_open needs "
                            "an activity mechanic") for m in found)
    assert any(m.startswith("s.yaml:15: mechanics.crm.rules.0.audience.0: segment 'at_risk' "
                            "needs a `segments` mechanic") for m in found)


def test_observed_arrivals_above_the_market_size() -> None:
    text = GOOD + "  replay:\n    type: observed_arrivals\n    counts: [600, 600]\n"
    (msg,) = problems(text)
    assert msg.startswith("s.yaml:12: mechanics.replay.counts: 1,200 arrivals in total but "
                          "market.size is 1,000")


def test_calibration_targets_name_metrics() -> None:
    (msg,) = problems(GOOD + "calibration:\n  targets: {repeat_purchase: 1}\n")
    assert msg.startswith("s.yaml:") and "calibration.targets.repeat_purchase: unknown metric " \
        "'repeat_purchase' (did you mean 'repeat_purchases'?)" in msg


def test_a_name_is_a_folder_name_chinese_welcome_never_dot_dot() -> None:
    """`name=..` wrote the run beside the runs folder instead of in it; 冷启动测试 was refused
    with a raw regular expression."""
    chinese = parse_scenario(GOOD.replace("name: t", "name: 冷启动测试"), "s.yaml")
    assert chinese.name == "冷启动测试"
    for bad in ("..", ".hidden", "a b", "a/b"):
        said = problems(GOOD.replace("name: t", f"name: '{bad}'"))
        assert said == [f"s.yaml:1: name: {bad!r}: a name is the run folder's name: letters "
                        "(中文 too), digits, _, . and -, starting with a letter, digit or _"]


def test_the_name_pattern_reads_alike_in_the_json_schema() -> None:
    """Editors check scenarios with the JSON Schema (ECMA 262 regular expressions): the
    pattern is written with \\u escapes, which JavaScript reads as Python does."""
    import json
    import re

    from sim.scenario import SCENARIO_NAME, scenario_name_from, scenario_schema

    pattern = json.loads(json.dumps(scenario_schema()))["properties"]["name"]["pattern"]
    assert pattern == SCENARIO_NAME and "\\u4e00" in pattern
    for text, name in (("冷启动", "冷启动"), ("my plan", "my_plan"), ("..x", "x"),
                       ("...", "scenario")):
        assert scenario_name_from(text) == name and re.fullmatch(pattern, name)


def test_a_gbk_file_or_a_folder_is_one_line_with_the_remedy(tmp_path: Path) -> None:
    """A scenario saved as GBK read "cannot read: 'utf-8' codec can't decode byte 0xd6 in
    position 25" (no line, no remedy); a folder read "[Errno 21] Is a directory"."""
    path = tmp_path / "s.yaml"
    path.write_bytes("name: s\ndays: 10\n# 中文注释\nmarket:\n  size: 100\n".encode("gbk"))
    with pytest.raises(InputError) as exc:
        load_scenario(path)
    (problem,) = exc.value.problems
    assert problem.line == 3 and "it reads as GBK" in problem.message
    assert problem.message.endswith("save the file as UTF-8")
    assert "另存为 UTF-8" in problem.text(chinese=True)
    with pytest.raises(InputError) as exc:
        load_scenario(tmp_path)
    assert str(exc.value.problems[0]).endswith("is a folder; give a scenario file (.yaml), "
                                               "e.g. scenarios/cold_start.yaml")

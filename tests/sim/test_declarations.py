"""Mechanics declare what they read and publish, and the declarations hold.

A source scan checks every mechanic's code against its class's declarations (a signal it reads
or publishes, a column it touches), so a misspelt or undeclared name fails here; the engine and
the scenario check refuse at set-up a mechanic that needs what no enabled mechanic provides,
with a message naming the mechanic and the name.
"""

from __future__ import annotations

import ast
import inspect
import re
from typing import Any, ClassVar

import numpy as np
import pytest

from sim.errors import InputError
from sim.mechanics import REGISTRY
from sim.mechanics.base import CORE_SIGNALS, Mechanic, StageOrder, UndeclaredError
from sim.orders import ORDER_COLUMNS
from sim.population import CORE_COLUMNS
from tests.conftest import mechanics_scenario

ACCESSORS = {"today": "read", "today_values": "read", "publish": "publish", "has": "column"}


def calls(cls: type[Mechanic]) -> list[tuple[str, str]]:
    """(accessor, literal name) of every self.today/today_values/publish/has call in the
    module that defines the mechanic."""
    tree = ast.parse(inspect.getsource(inspect.getmodule(cls)))
    out = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ACCESSORS and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)):
            out.append((node.func.attr, node.args[0].value))
    return out


def own_columns(cls: type[Mechanic]) -> set[str]:
    """Column names a mechanic's `columns` can return (dict keys in its source), whatever its
    parameters, plus the order path's for a seller."""
    source = inspect.getsource(cls.columns)
    return set(re.findall(r'"([a-z_0-9]+)": np\.dtype', source)) | (
        set(ORDER_COLUMNS) if cls.sells else set())


@pytest.mark.parametrize("kind", list(REGISTRY))
def test_a_mechanic_uses_only_what_it_declares(kind: str) -> None:
    cls = REGISTRY[kind][1]
    readable = {*cls.reads, *cls.reads_if_any, *CORE_SIGNALS, *cls.published()}
    columns = {*cls.uses, *cls.uses_if_any, *own_columns(cls)}
    for accessor, name in calls(cls):
        role = ACCESSORS[accessor]
        if role == "read":
            assert name in readable, f"{kind} reads signal {name!r} without declaring it"
        elif role == "publish":
            assert name in cls.published(), f"{kind} publishes {name!r} without declaring it"
        else:
            assert name in columns, f"{kind} reads column {name!r} without declaring it"
    source = inspect.getsource(inspect.getmodule(cls))
    for raw in ("pop.rows_today(", "pop.values_today(", "pop.emit(", "pop.emit_values(",
                "in pop.columns", "in self.pop.columns"):
        assert raw not in source, f"{kind} bypasses its declarations: {raw}"
    for name in re.findall(r'pop\["([a-z_0-9]+)"\]', source):
        assert name in columns | set(CORE_COLUMNS), f"{kind} touches column {name!r} it does " \
                                                    "not own or declare"


class _Misspelt(Mechanic[Any]):
    stage = StageOrder.LOYALTY
    reads: ClassVar[tuple[str, ...]] = ("orderd",)

    def step(self, day: int) -> None:
        self.today("orderd")


def test_a_misspelt_signal_fails_at_setup_naming_the_mechanic_and_the_name(
        monkeypatch: pytest.MonkeyPatch) -> None:
    params = REGISTRY["activity"][0]
    monkeypatch.setitem(REGISTRY, "activity", (params, _Misspelt))
    with pytest.raises(InputError) as caught:
        mechanics_scenario(100, 5, 1, founders={"type": "seed_users", "count": 10},
                           act={"type": "activity"})
    message = str(caught.value)
    assert "mechanics.act" in message and "'orderd'" in message and "activity" in message


def test_an_undeclared_name_fails_at_first_use_naming_the_mechanic() -> None:
    from sim.engine import simulate

    sc = mechanics_scenario(100, 3, 1, founders={"type": "seed_users", "count": 10},
                            act={"type": "activity"})
    activity = REGISTRY["activity"][1]
    original = activity.step

    def step(self: Mechanic, day: int) -> None:
        self.today("ordred")

    activity.step = step  # type: ignore[method-assign]
    try:
        with pytest.raises(UndeclaredError, match=r"mechanic 'act' .*'ordred'"):
            simulate(sc)
    finally:
        activity.step = original  # type: ignore[method-assign]


def test_a_mechanic_that_needs_a_seller_is_refused_without_one() -> None:
    with pytest.raises(InputError) as caught:
        mechanics_scenario(100, 5, 1, founders={"type": "seed_users", "count": 10},
                           ref={"type": "referral"}, dist={"type": "distributors"})
    text = str(caught.value)
    assert "mechanics.dist" in text and "'ordered'" in text and "purchase_dropout" in text


def test_member_prices_follow_the_stage_order() -> None:
    from sim.engine import simulate  # noqa: F401  (the engine sets Population.member_prices)

    declared = [(kind, cls.member_price) for kind, (_, cls) in REGISTRY.items()
                if cls.member_price is not None]
    assert [k for k, _ in declared] == ["membership_tiers", "paid_membership", "community"]
    stages = [(REGISTRY[k][1].stage, REGISTRY[k][1].substage) for k, _ in declared]
    assert stages == sorted(stages)
    assert np.all([cls.member_price[0].endswith("_rate") for _, cls in REGISTRY.values()
                   if cls.member_price])


def test_every_grouped_metric_is_drawn_by_a_report_section_its_mechanic_declares() -> None:
    """A metric with a report `group` is drawn only through its mechanic's `report`
    declaration: a group without one would vanish from the report without a word."""
    from sim.metrics import HEADLINE, HEALTH, METRICS, report_groups, report_tiles

    drawn = {name for section in ("operations", "inventory")
             for _, names in report_groups(section) for name in names}
    for _, cls in REGISTRY.values():
        grouped = {m.name for m in cls.metrics if m.group}
        assert not grouped or cls.report is not None, cls.__name__
        assert grouped <= drawn, (cls.__name__, grouped - drawn)
        if cls.report is not None:  # tiles are the mechanic's own metrics
            assert set(cls.report.tiles) <= {m.name for m in cls.metrics}, cls.__name__
    assert set(report_tiles("inventory")) <= drawn
    assert set(HEALTH) <= set(METRICS) and set(HEADLINE) <= set(METRICS)
    assert "gmv" in HEALTH and "gmv" in HEADLINE


def test_a_ratio_needs_what_its_parts_need() -> None:
    """A ratio exists in a run only when both parts do: its `needs` cover theirs (a ratio
    that needed less would be computed from a part that is not there)."""
    from sim.metrics import METRICS

    for metric in METRICS.values():
        if metric.kind == "ratio":
            parts = set(METRICS[metric.numerator].needs) | set(METRICS[metric.denominator].needs)
            assert parts <= set(metric.needs), (metric.name, parts - set(metric.needs))

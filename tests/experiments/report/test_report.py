"""The run report's lifecycle sections and the channel parts of summary.json.

A cold-start run (small market, 2 replicates) exercises every section; the reference scenario
(no funnel, checkout, activity or ads) must still render, with those parts skipped or marked.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from plotly.offline import get_plotlyjs

import sim
from experiments.report.lifecycle import (
    cac_ltv_figure,
    checkout_stages,
    ledger_gaps,
    ltv_points,
    money_waterfall,
    waterfall_steps,
)
from experiments.runs.outputs import write_run
from tests.conftest import ROOT

SECTIONS = ("summary", "funnel", "channels", "retention", "money", "daily", "scenario")


def _strict_json(text: str) -> Any:
    """json.loads that refuses NaN and Infinity, which Python's json would accept."""
    def refuse(token: str) -> None:
        raise ValueError(f"{token} in summary.json")
    return json.loads(text, parse_constant=refuse)


def _run(tmp: Path, scenario: str, overrides: list[str]) -> tuple[sim.Result, Path]:
    result = sim.run(sim.load_scenario(ROOT / "scenarios" / scenario, overrides))
    return result, write_run(result, tmp, 0.0)


@pytest.fixture(scope="module")
def cold_start(tmp_path_factory: pytest.TempPathFactory) -> tuple[sim.Result, Path]:
    return _run(tmp_path_factory.mktemp("runs"), "cold_start.yaml",
                ["market.size=3000", "replicates=2"])


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[sim.Result, Path]:
    return _run(tmp_path_factory.mktemp("runs"), "reference.yaml",
                ["market.size=2000", "replicates=1", "days=60"])


def section_html(page: str, anchor: str) -> str:
    match = re.search(rf'<section id="{anchor}">(.*?)</section>', page, re.S)
    assert match, f"no section {anchor}"
    return match.group(1)


def _totals(fig: Any) -> dict[str, float]:
    """The bar heights plotly draws for the total bars: running sums of the steps."""
    trace = fig["data"][0]
    running, totals = 0.0, {}
    for label, measure, y in zip(trace["x"], trace["measure"], trace["y"], strict=True):
        if measure == "absolute":
            running = y
        elif measure == "relative":
            running += y
        else:
            totals[label] = running
    return totals


def test_cold_start_report_has_every_section(cold_start: tuple[sim.Result, Path]) -> None:
    _, run_dir = cold_start
    page = (run_dir / "report.html").read_text()
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in page, anchor
    for anchor in ("funnel", "channels", "retention", "money"):
        body = section_html(page, anchor)
        assert "not modelled" not in body and "Plotly.newPlot" in body, anchor
    assert page.count("Ledger check failed") == 0
    assert page.count(get_plotlyjs()[:500]) == 1  # plotly.js inlined exactly once
    assert re.search(r"<script[^>]*\bsrc=", page) is None  # opens offline


def test_waterfall_totals_equal_the_ledger_metrics(cold_start: tuple[sim.Result, Path]) -> None:
    _, run_dir = cold_start
    metrics = _strict_json((run_dir / "summary.json").read_text())["metrics"]
    steps = waterfall_steps(metrics)
    totals = _totals(money_waterfall(steps))
    for name in ("net_revenue", "gross_margin", "contribution"):
        assert totals[name] == pytest.approx(metrics[name]["mean"], rel=1e-9), name
    costs = dict((name, value) for name, measure, value in steps if measure == "relative")
    assert costs["cogs"] < 0 and costs["ad_spend"] < 0 and costs["gift_cost"] < 0  # not trivial
    assert ledger_gaps(steps) == {}


def test_ledger_check_catches_a_broken_identity() -> None:
    metrics = {"gmv": {"mean": 100.0}, "cogs": {"mean": 60.0}, "net_revenue": {"mean": 100.0},
               "gross_margin": {"mean": 50.0}, "contribution": {"mean": 45.0}}
    assert set(ledger_gaps(waterfall_steps(metrics))) == {"gross_margin", "contribution"}


def test_checkout_funnel_counts_paid_and_abandoned(cold_start: tuple[sim.Result, Path]) -> None:
    result, _ = cold_start
    summary = result.summary()
    stages = dict(checkout_stages(summary))
    mean = {k: summary[k]["mean"] for k in ("purchases", "carts_abandoned", "recovered_orders")}
    assert stages["checkouts"] == pytest.approx(
        mean["purchases"] + mean["carts_abandoned"] - mean["recovered_orders"])
    assert stages["checkouts"] > stages["abandoned"] >= stages["reminded"] >= stages["recovered"]


def test_channel_table_lists_every_channel(cold_start: tuple[sim.Result, Path]) -> None:
    result, run_dir = cold_start
    body = section_html((run_dir / "report.html").read_text(), "channels")
    channels = sorted(result.channel_metrics["channel"].unique())
    assert channels == ["ads", "kol", "organic", "seed"]
    for channel in [*channels, "all"]:
        assert f"<tr><td>{channel}</td>" in body, channel
    assert "<small>" in body  # 2 replicates: CIs shown


def test_cac_ltv_plot_has_every_channel_and_the_diagonal(
        cold_start: tuple[sim.Result, Path]) -> None:
    result, _ = cold_start
    days, points = ltv_points(result.unit_economics_summary())
    assert days == 180
    fig = cac_ltv_figure(days, points)
    names = [trace["name"] for trace in fig["data"]]
    assert names[0] == "LTV = CAC" and fig["data"][0]["x"] == fig["data"][0]["y"]
    summary = result.unit_economics_summary()
    # a channel is drawn where every replicate has its LTV (kol's few users: not in one of 2)
    drawn = {ch for ch, v in summary.items()
             if v["ltv_180d_margin"]["n"] == 2 and v["cac"]["n"] == 2}
    assert set(names[1:]) == drawn and {"all", "seed", "organic", "ads"} <= drawn


def test_summary_json_has_channels_and_unit_economics(
        cold_start: tuple[sim.Result, Path]) -> None:
    result, run_dir = cold_start
    doc = _strict_json((run_dir / "summary.json").read_text())
    channels = set(result.channel_metrics["channel"].unique())
    assert set(doc["by_channel"]) == channels
    assert set(doc["unit_economics"]) == channels | {"all"}
    ads = doc["by_channel"]["ads"]
    assert ads["ad_spend"]["mean"] == pytest.approx(result.summary()["ad_spend"]["mean"])
    assert ads["new_users"]["n"] == 2 and ads["new_users"]["ci_low"] <= ads["new_users"]["mean"]
    ltv = doc["unit_economics"]["all"]["ltv_180d_margin"]
    assert ltv["mean"] == pytest.approx(result.unit_economics_summary()["all"]["ltv_180d_margin"]
                                        ["mean"])


def test_reference_report_renders_with_unmodelled_parts_marked(
        reference: tuple[sim.Result, Path]) -> None:
    _, run_dir = reference
    page = (run_dir / "report.html").read_text()
    for anchor in SECTIONS:
        assert f'id="{anchor}"' in page, anchor
    assert "not modelled" in section_html(page, "retention")
    funnel = section_html(page, "funnel")
    assert "Checkout and cart abandonment: not modelled" in funnel
    assert "<tr><td>organic</td>" in section_html(page, "channels")
    assert "Zero in this run" in section_html(page, "money")


def test_reference_summary_json_turns_nan_into_null(reference: tuple[sim.Result, Path]) -> None:
    _, run_dir = reference
    text = (run_dir / "summary.json").read_text()
    doc = _strict_json(text)
    # 60 days: no cohort is 90 days old, so the 90-day LTV is undefined, and one replicate
    # has no interval
    assert doc["unit_economics"]["all"]["ltv_90d_margin"]["mean"] is None
    assert doc["by_channel"]["organic"]["new_users"]["ci_low"] is None
    assert "NaN" not in text


def test_the_channel_table_s_new_buyers_are_those_cac_divides_by(tmp_path: Path) -> None:
    """scale.yaml's table showed 5,546 new buyers beside CAC 21.94 and spend 39,648 (7.15 a
    buyer): the count included the existing base's first orders, which CAC leaves out."""
    from experiments.report.lifecycle import CHANNEL_COLUMNS

    result, run_dir = _run(tmp_path, "scale.yaml", ["market.size=3000", "days=90"])
    (key,) = [k for header, _, k, _ in CHANNEL_COLUMNS if header.startswith("new buyers")]
    summary, channels = result.summary(), result.channel_summary()
    spend, won, cac = (summary[k]["mean"] for k in ("acquisition_spend", key, "cac"))
    assert cac == pytest.approx(spend / won, rel=1e-12)  # one replicate
    assert channels["seed"][key]["mean"] == 0 < channels["seed"]["first_purchases"]["mean"]
    body = section_html((run_dir / "report.html").read_text(), "channels")
    assert "new buyers 新客" in body and "differs from the summary" not in body

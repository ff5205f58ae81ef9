"""The dashboard's subplot grids are make_subplots' layouts, float for float, and every chart
of a report is a figure plotly accepts."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from plotly.subplots import make_subplots

import experiments.report.parts as parts
from experiments.report.report import write_report
from experiments.report.subplots import cell_axes, subplot_grid
from experiments.runs.outputs import summary_document
from sim.engine import run
from sim.scenario import load_scenario
from tests.conftest import ROOT


def plotly_layout(rows: int, cols: int, **options: object) -> dict:
    fig = make_subplots(rows=rows, cols=cols, **options)  # type: ignore[arg-type]
    layout = fig.to_plotly_json()["layout"]
    layout.pop("template")
    return json.loads(json.dumps(layout))


@st.composite
def grids(draw: st.DrawFn) -> tuple[int, int, dict]:
    rows, cols = draw(st.integers(1, 9)), draw(st.integers(1, 4))
    options: dict = {"shared_xaxes": draw(st.booleans())}
    if draw(st.booleans()):
        options["specs"] = [[{"secondary_y": True}] * cols for _ in range(rows)]
    if draw(st.booleans()):
        options["subplot_titles"] = draw(st.lists(st.sampled_from(["", "GMV", "买家 (yuan)"]),
                                                  max_size=rows * cols))
    for name, cells in (("vertical_spacing", rows), ("horizontal_spacing", cols)):
        if draw(st.booleans()):
            top = 1.0 if cells == 1 else 1.0 / (cells - 1)
            options[name] = draw(st.floats(0.0, 0.9 * top))  # 0.94 wide with secondary_y
    return rows, cols, options


@settings(max_examples=150, deadline=None)
@given(grids())
def test_a_grid_is_make_subplots_layout(grid: tuple[int, int, dict]) -> None:
    rows, cols, options = grid
    mine = subplot_grid(rows, cols, titles=options.get("subplot_titles"),
                        vertical_spacing=options.get("vertical_spacing"),
                        horizontal_spacing=options.get("horizontal_spacing"),
                        shared_xaxes=options["shared_xaxes"], secondary_y="specs" in options)
    assert json.loads(json.dumps(mine)) == plotly_layout(rows, cols, **options)


def test_cell_axes_are_those_plotly_gives_a_trace() -> None:
    for secondary in (False, True):
        specs = [[{"secondary_y": secondary}] * 3 for _ in range(2)]
        fig = make_subplots(rows=2, cols=3, specs=specs)
        for cell in range(1, 7):
            row, col = (cell - 1) // 3 + 1, (cell - 1) % 3 + 1
            for second in (False, True) if secondary else (False,):
                fig.add_trace(go.Scatter(x=[0], y=[0]), row=row, col=col, secondary_y=second)
                placed = fig.data[-1]
                expected = {"xaxis": placed.xaxis or "x", "yaxis": placed.yaxis or "y"}
                assert cell_axes(cell, secondary_y=secondary, second=second) == expected
    with pytest.raises(ValueError, match="secondary_y"):
        cell_axes(1, second=True)
    with pytest.raises(ValueError, match="vertical_spacing"):
        subplot_grid(3, 1, vertical_spacing=0.6)


def same(mine: object, plotlys: object) -> bool:
    """A figure dict against plotly's reading of it: the same keys, values and arrays (NaN
    equal to NaN); plotly's expansions (a colour-scale name into its stops) show as differences."""
    if isinstance(plotlys, dict) and "bdata" in plotlys:  # plotly packs numpy arrays
        shape = [int(n) for n in plotlys.get("shape", "-1").split(",")]
        plotlys = np.frombuffer(base64.b64decode(plotlys["bdata"]),
                                dtype=plotlys["dtype"]).reshape(shape)
    if isinstance(mine, dict):
        return isinstance(plotlys, dict) and mine.keys() == plotlys.keys() and all(
            same(mine[k], plotlys[k]) for k in mine)
    if isinstance(mine, list | tuple | np.ndarray):
        return isinstance(plotlys, list | tuple | np.ndarray) and len(mine) == len(plotlys) \
            and all(same(a, b) for a, b in zip(mine, plotlys, strict=True))
    if isinstance(mine, float | np.floating) and isinstance(plotlys, float | np.floating):
        return mine == plotlys or (math.isnan(mine) and math.isnan(plotlys))
    return bool(mine == plotlys)


@pytest.mark.parametrize(("name", "replicates"), [("growth", 2), ("retention", 1),
                                                  ("ab_referral", 2)])
def test_every_chart_of_a_report_is_the_figure_plotly_reads(
        name: str, replicates: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures are written as dicts, unchecked at run time: plotly checks each one here (an
    unknown property or a wrong value raises) and must read it back unchanged (a name plotly.py
    would expand, such as a colour scale, reaches plotly.js as it is and may mean something
    else there). With and without replicate bands, with and without arms."""
    seen: list[dict] = []
    embed = parts.embed

    def checked(fig: object) -> str:
        seen.append(fig if isinstance(fig, dict) else fig.to_plotly_json())  # type: ignore[attr-defined]
        return embed(fig)  # type: ignore[arg-type]

    for module in ("report", "lifecycle", "operations", "parts"):
        monkeypatch.setattr(f"experiments.report.{module}.embed", checked)
    scenario = load_scenario(ROOT / "scenarios" / f"{name}.yaml",
                             ["market.size=3000", "days=70", f"replicates={replicates}"])
    result = run(scenario)
    write_report(result, summary_document(result, 1.0), tmp_path / "report.html")
    assert len(seen) >= 4
    for fig in seen:
        read = go.Figure(fig).to_plotly_json()  # validates every trace and layout property
        read["layout"].pop("template", None)
        assert same(fig, read), json.dumps(fig, default=str)[:300]


def test_the_template_file_is_plotlys_template() -> None:
    import plotly.io as pio

    assert parts._template_json() == pio.templates[parts.TEMPLATE].to_plotly_json()

"""Subplot grids as plain layout dicts: what `plotly.subplots.make_subplots` lays out for the
grids the dashboard draws, without building a plotly figure.

make_subplots validates every axis and title through plotly's property tree: 70-90 ms a grid
in a fresh process (its validators load on first use), 0.14 s of the reference report and
0.4 s of the retention report, more than every other chart together. The dashboard's grids
are regular (no spans, insets or row titles), so their layout is a few lines of arithmetic,
done here in the same order as plotly's own (`plotly/_subplots.py`) so the floats are the
same; tests/experiments/report/test_subplots.py checks that against make_subplots for grids
of every shape, and that every chart of a report is a valid plotly figure.
"""

from __future__ import annotations

from typing import Any

TITLE_FONT = {"size": 16}  # make_subplots' default subplot title font


def subplot_grid(rows: int, cols: int, *, titles: list[str] | tuple[str, ...] | None = None,
                 vertical_spacing: float | None = None,
                 horizontal_spacing: float | None = None, shared_xaxes: bool = False,
                 secondary_y: bool = False) -> dict[str, Any]:
    """The layout make_subplots(rows, cols, subplot_titles=titles, ...) gives (without its
    template: `parts.embed` sets the dashboard's). Cells are numbered row-major from the top
    left; `cell_axes` names a cell's axes for a trace. With `secondary_y`, every cell has a
    second y axis on the right; with `shared_xaxes`, each column's x axes follow its bottom
    one, whose tick labels alone are shown."""
    if horizontal_spacing is None:
        horizontal_spacing = (0.4 if secondary_y else 0.2) / cols
    if vertical_spacing is None:
        vertical_spacing = (0.3 if titles is None else 0.5) / rows  # room for titles
    _check_spacing(cols, horizontal_spacing, "horizontal_spacing")
    _check_spacing(rows, vertical_spacing, "vertical_spacing")
    max_width = 0.94 if secondary_y else 1.0  # room for the right-hand axis titles
    widths = [(max_width - horizontal_spacing * (cols - 1)) / cols] * cols
    heights = [(1.0 - vertical_spacing * (rows - 1)) / rows] * rows
    if widths[0] < 0:
        raise ValueError(f"horizontal_spacing {horizontal_spacing} leaves no room for {cols} "
                         f"columns{' and their right-hand axes' if secondary_y else ''}")
    layout: dict[str, Any] = {}
    domains = []
    for r in range(rows):
        from_bottom = rows - 1 - r  # plotly lays rows out from the bottom, row 1 on top
        y_start = sum(heights[:from_bottom]) + from_bottom * vertical_spacing
        y_domain = [_clip(y_start), _clip(y_start + heights[-1 - r])]
        for c in range(cols):
            x_start = sum(widths[:c]) + c * horizontal_spacing
            x_domain = [x_start, x_start + widths[c]]
            x, y, second = _names(r * cols + c + 1, secondary_y)
            # the axes' domains are clamped to [0, 1], the titles' positions are not (plotly)
            layout[f"xaxis{x}"] = {"domain": _clamp(x_domain), "anchor": f"y{y}"}
            layout[f"yaxis{y}"] = {"domain": _clamp(y_domain), "anchor": f"x{x}"}
            if second is not None:
                layout[f"yaxis{second}"] = {"anchor": f"x{x}", "overlaying": f"y{y}",
                                            "side": "right"}
            domains.append((x_domain, y_domain))
    if shared_xaxes:
        for c in range(cols):
            bottom = _names((rows - 1) * cols + c + 1, secondary_y)[0]
            for r in range(rows - 1):
                axis = layout[f"xaxis{_names(r * cols + c + 1, secondary_y)[0]}"]
                axis.update(matches=f"x{bottom}", showticklabels=False)
    annotations = [{"y": y_domain[1], "xref": "paper", "x": sum(x_domain) / 2.0, "yref": "paper",
                    "text": title, "showarrow": False, "font": dict(TITLE_FONT),
                    "xanchor": "center", "yanchor": "bottom"}
                   for title, (x_domain, y_domain) in zip(titles or (), domains, strict=False)
                   if title]
    if annotations:
        layout["annotations"] = annotations
    return layout


def cell_axes(cell: int, *, secondary_y: bool = False, second: bool = False) -> dict[str, str]:
    """The axes of grid cell `cell` (1-based, row-major) for a trace written as a dict; with
    `second`, the cell's right-hand y axis (a grid made with `secondary_y`)."""
    x, y, right = _names(cell, secondary_y)
    if second and right is None:
        raise ValueError("a second y axis needs a grid made with secondary_y=True")
    return {"xaxis": f"x{x}", "yaxis": f"y{right if second else y}"}


def axis_key(label: str) -> str:
    """The layout key of an axis a trace names: "x2" -> "xaxis2", "y" -> "yaxis"."""
    return f"{label[0]}axis{label[1:]}"


def x_axes(layout: dict[str, Any]) -> list[dict[str, Any]]:
    """Every x axis of a grid layout (to give them all a title, as update_xaxes would)."""
    return [axis for key, axis in layout.items() if key.startswith("xaxis")]


def _names(cell: int, secondary_y: bool) -> tuple[str, str, str | None]:
    """Axis suffixes of a cell: x, y and the right-hand y ('' for the first axis, as plotly):
    plotly counts y axes across cells, two a cell with a secondary axis."""
    def suffix(n: int) -> str:
        return "" if n == 1 else str(n)
    if not secondary_y:
        return suffix(cell), suffix(cell), None
    return suffix(cell), suffix(2 * cell - 1), str(2 * cell)


def _clip(y: float) -> float:
    """plotly's guard against float error at the grid's edges."""
    return 0.0 if -0.01 < y < 0.0 else 1.0 if 1.0 < y < 1.01 else y


def _clamp(domain: list[float]) -> list[float]:
    """plotly's clamp of an axis domain into [0, 1] (float error at the right edge)."""
    return [max(0.0, domain[0]), min(1.0, domain[1])]


def _check_spacing(cells: int, spacing: float, name: str) -> None:
    if not 0 <= spacing <= 1 or (cells > 1 and spacing > 1.0 / (cells - 1)):
        raise ValueError(f"{name} must be between 0 and 1 / ({cells} - 1), not {spacing}")

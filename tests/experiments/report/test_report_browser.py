"""The dashboards in a real browser: headless Chromium from Debian's package (`make setup`
installs it), driven by playwright without its own browser download. Each page is loaded from
file:// with the network closed; it must raise no JavaScript error, log no console error, have
every section, and plotly must have drawn every graph (an svg in each plot).

Missing Chromium or playwright is a failure, not a skip: the check is part of the suite.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright
from typer.testing import CliRunner

import sim
from experiments.cli import app
from experiments.runs.outputs import write_run
from tests.conftest import ROOT
from tests.experiments.report.test_report_dashboard import _forecast, full_scenario

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
RUN_SECTIONS = ("summary", "health", "growth", "funnel", "channels", "retention", "inventory",
                "operations", "attribution", "money", "warnings", "daily", "scenario")
MULTI_SECTIONS = ("runs", "health", "growth", "warnings")


def chromium_path() -> str:
    path = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists()
                                        else None)
    assert path, ("Chromium is not installed: run `make setup` (apt-get install chromium) so "
                  "the dashboards can be checked in a real browser")
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[BrowserContext]:
    with sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=chromium_path(), args=CHROMIUM_ARGS, headless=True,
            offline=True)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Run dashboards (cold start: the lifecycle sections; a full retention run with touch
    points, catalogue and inventory: every section drawn), a dashboard of two runs with a
    forecast attached, and the forecast's own report."""
    root = tmp_path_factory.mktemp("browser")
    runs = []
    for seed in (1, 2):
        scenario = sim.load_scenario(ROOT / "scenarios" / "cold_start.yaml",
                                     ["market.size=2000", "days=120", f"seed={seed}",
                                      "replicates=2"])
        runs.append(write_run(sim.run(scenario), root, 0.0))
    board = root / "dashboard.html"
    forecast = _forecast(root)
    done = CliRunner().invoke(app, ["dashboard", *map(str, runs), "--out", str(board),
                                    "--forecast", str(forecast)])
    assert done.exit_code == 0, done.output
    full = write_run(sim.run(full_scenario(3000, 60)), root, 0.0)
    return {"run": runs[0] / "report.html", "full": full / "report.html", "multi": board,
            "forecast": forecast / "forecast.html"}


def open_page(browser: BrowserContext, path: Path) -> tuple[object, list[str]]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console: {msg.text}")
            if msg.type == "error" else None)
    page.on("requestfailed", lambda req: errors.append(f"request failed: {req.url}"))
    page.goto(path.as_uri(), wait_until="load")
    page.wait_for_function("() => document.readyState === 'complete'")
    return page, errors


@pytest.mark.parametrize(("name", "sections"), [("run", RUN_SECTIONS), ("full", RUN_SECTIONS),
                                                ("multi", MULTI_SECTIONS),
                                                ("forecast", ("warnings",))])
def test_dashboard_loads_without_errors_and_draws_everything(
        browser: BrowserContext, pages: dict[str, Path], name: str,
        sections: tuple[str, ...]) -> None:
    path = pages[name]
    expected_plots = len(re.findall(r'class="plotly-graph-div"', path.read_text()))
    assert expected_plots >= {"run": 7, "full": 12, "multi": 3, "forecast": 1}[name]
    page, errors = open_page(browser, path)
    try:
        present = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
        for anchor in sections:
            assert anchor in present, anchor
        drawn = page.eval_on_selector_all(
            ".js-plotly-plot", "els => els.filter(e => e.querySelector('svg.main-svg')).length")
        assert drawn == expected_plots
        tiles = page.eval_on_selector_all("#health [data-metric]", "els => els.length")
        assert tiles >= {"run": 7, "full": 7, "multi": 14, "forecast": 0}[name]
        # the flagged weeks of the attached forecast
        warnings = page.eval_on_selector_all("#warnings .warn-row", "els => els.length")
        assert warnings == {"run": 0, "full": 0, "multi": 2, "forecast": 2}[name]
        assert errors == []
    finally:
        page.close()

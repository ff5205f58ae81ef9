"""The dashboards in a real browser: headless Chromium from Debian's package (`make setup`
installs it, with Debian's Noto CJK fonts), driven by playwright without its own browser
download. Each page is loaded from file:// with the network closed; it must raise no JavaScript
error, log no console error, have every section, and plotly must have drawn every graph (an svg
in each plot) with data in it (no empty chart). The Chinese pages say so (`lang`, headings in
Chinese) and the English ones have no Chinese heading.

Missing Chromium or playwright is a failure, not a skip: the check is part of the suite.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import BrowserContext, sync_playwright
from typer.testing import CliRunner

import sim
from experiments.cli import app
from experiments.report.language import use
from experiments.report.report import report_html
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
    forecast attached, and the forecast's own report; the run, the dashboard and the forecast
    report also in Chinese."""
    root = tmp_path_factory.mktemp("browser")
    runs = []
    for seed in (1, 2):
        scenario = sim.load_scenario(ROOT / "scenarios" / "cold_start.yaml",
                                     ["market.size=2000", "days=120", f"seed={seed}",
                                      "replicates=2"])
        runs.append(write_run(sim.run(scenario), root, 0.0))
    board = root / "dashboard.html"
    forecast = _forecast(root)
    with use("zh"):
        forecast_zh = _forecast(root / "zh")
    done = CliRunner().invoke(app, ["dashboard", *map(str, runs), "--out", str(board),
                                    "--forecast", str(forecast)])
    assert done.exit_code == 0, done.output
    full = write_run(sim.run(full_scenario(3000, 60)), root, 0.0)
    board_zh = root / "dashboard_zh.html"
    done = CliRunner().invoke(app, ["--lang", "zh", "dashboard", *map(str, runs), "--out",
                                    str(board_zh), "--forecast", str(forecast)])
    assert done.exit_code == 0, done.output
    full_zh = root / "full_zh.html"
    summary = json.loads((full / "summary.json").read_text("utf-8"))
    full_zh.write_text(report_html(sim.run(full_scenario(3000, 60)), summary, lang="zh"),
                       encoding="utf-8")
    return {"run": runs[0] / "report.html", "full": full / "report.html", "multi": board,
            "forecast": forecast / "forecast.html", "full_zh": full_zh, "multi_zh": board_zh,
            "forecast_zh": forecast_zh / "forecast.html"}


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
                                                ("forecast", ("warnings",)),
                                                ("full_zh", RUN_SECTIONS),
                                                ("multi_zh", MULTI_SECTIONS),
                                                ("forecast_zh", ("warnings",))])
def test_dashboard_loads_without_errors_and_draws_everything(
        browser: BrowserContext, pages: dict[str, Path], name: str,
        sections: tuple[str, ...]) -> None:
    path = pages[name]
    expected_plots = len(re.findall(r'class="plotly-graph-div"', path.read_text()))
    assert expected_plots >= {"run": 7, "full": 12, "multi": 3, "forecast": 1}[
        name.removesuffix("_zh")]
    page, errors = open_page(browser, path)
    try:
        present = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
        for anchor in sections:
            assert anchor in present, anchor
        drawn = page.eval_on_selector_all(
            ".js-plotly-plot", "els => els.filter(e => e.querySelector('svg.main-svg')).length")
        assert drawn == expected_plots
        empty = page.eval_on_selector_all(".js-plotly-plot", EMPTY_CHARTS)
        assert empty == []
        tiles = page.eval_on_selector_all("#health [data-metric]", "els => els.length")
        assert tiles >= {"run": 7, "full": 7, "multi": 14, "forecast": 0}[name.removesuffix("_zh")]
        # the flagged weeks of the attached forecast
        warnings = page.eval_on_selector_all("#warnings .warn-row", "els => els.length")
        assert warnings == {"run": 0, "full": 0, "multi": 2, "forecast": 2}[
            name.removesuffix("_zh")]
        assert errors == []
    finally:
        page.close()


# The ids of plots none of whose traces has a finite value to draw (plotly's decoded
# `_fullData`: numbers in y, z or values, or in x where y holds the labels).
EMPTY_CHARTS = """els => {
  const finite = a => !!a && Array.from(a).some(v => typeof v === 'number' && isFinite(v));
  const labels = a => !!a && Array.from(a).some(v => typeof v === 'string');
  const drawn = t => finite(t.y) || finite(t.z) || finite(t.values)
    || (labels(t.y) && finite(t.x));
  return els.filter(e => !e._fullData.some(drawn)).map(e => e.id);
}"""
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_chinese_fonts_are_installed() -> None:
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no Chinese font: run `make setup` (apt-get install fonts-noto-cjk)"


@pytest.mark.parametrize(("name", "lang"), [("full", "en"), ("multi", "en"), ("forecast", "en"),
                                            ("full_zh", "zh-CN"), ("multi_zh", "zh-CN"),
                                            ("forecast_zh", "zh-CN")])
def test_pages_speak_the_language_asked_for(browser: BrowserContext, pages: dict[str, Path],
                                            name: str, lang: str) -> None:
    page, errors = open_page(browser, pages[name])
    try:
        assert page.evaluate("document.documentElement.lang") == lang
        headings = page.eval_on_selector_all("h2, nav a", "els => els.map(e => e.innerText)")
        assert headings, "a page without a heading says nothing of its language"
        chinese = [h for h in headings if CJK.search(h)]
        assert chinese == (headings if lang == "zh-CN" else []), headings
        assert errors == []
    finally:
        page.close()

"""Seen in a real browser: report.html rendered by headless Chromium at 1400 x 900 shows the verdict table
(id="verdicts") and the per-variant table (id="variants") whole on the first screen. Skipped, naming how to enable
it, where no Chromium is installed."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pfbench.report.build import write_report

FIXTURE = Path(__file__).parent / "fixtures" / "run_cpu"
EXAMPLE = Path(__file__).parents[1] / "reports" / "examples" / "cpu-2core" / "report.html"  # a real default run
WIDTH, HEIGHT = 1400, 900
CHROMIUM_ENV = "PFBENCH_CHROMIUM"
CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome", "headless_shell")
# Runs after layout: the first screen's geometry of #verdicts and #variants, written into the DOM --dump-dom prints.
PROBE = """<script>window.addEventListener("load", () => {
  const box = (id) => { const e = document.getElementById(id), r = e ? e.getBoundingClientRect() : null;
    return {found: !!e, top: r && r.top, bottom: r && r.bottom, left: r && r.left, right: r && r.right,
            rows: e ? e.querySelectorAll("tbody tr").length : 0}; };
  document.body.setAttribute("data-pf-probe", JSON.stringify({...box("verdicts"), variants: box("variants"),
    width: window.innerWidth, height: window.innerHeight, scroll_width: document.documentElement.scrollWidth}));
});</script>"""


@pytest.fixture(scope="module")
def browser() -> str:
    found = os.environ.get(CHROMIUM_ENV) or next((p for p in map(shutil.which, CANDIDATES) if p), None)
    if not found:
        pytest.skip(f"no headless Chromium here: `apt-get install chromium-headless-shell` (as .ci/run does) or set "
                    f"${CHROMIUM_ENV} to a Chromium binary")
    return found


def render(browser: str, page: Path, *flags: str) -> subprocess.CompletedProcess:
    return subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           f"--window-size={WIDTH},{HEIGHT}", "--virtual-time-budget=10000", *flags,
                           page.as_uri()], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("browser") / "run"
    shutil.copytree(FIXTURE, run)
    _, page = write_report(run)  # the report writer, as `pfbench report` runs it
    return page


def first_screen(browser: str, page: Path) -> dict:
    probe = page.with_name("probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    proc = render(browser, probe, "--dump-dom")
    found = re.search(r'data-pf-probe="([^"]*)"', proc.stdout)
    assert found, f"Chromium printed no probe (exit {proc.returncode}): {proc.stderr[-1500:]}"
    return json.loads(found.group(1).replace("&quot;", '"'))


def assert_both_tables_whole(geo: dict) -> None:
    assert (geo["width"], geo["height"]) == (WIDTH, HEIGHT), geo
    assert geo["found"], "report.html has no element with id='verdicts'"
    assert geo["rows"] >= 7, geo  # one line per claim of the paper
    assert 0 <= geo["top"] and geo["bottom"] <= HEIGHT, f"the verdict table is not whole on the first screen: {geo}"
    assert geo["left"] >= 0 and geo["right"] <= WIDTH and geo["scroll_width"] <= WIDTH, f"wider than 1400 px: {geo}"
    table = geo["variants"]  # each variant against full_sequence: tokens, FLOPs, speed, memory, FID, FVD
    assert table["found"] and table["rows"] >= 5, geo
    assert geo["bottom"] <= table["top"] and table["bottom"] <= HEIGHT and table["right"] <= WIDTH, \
        f"the per-variant table is not whole on the first screen: {geo}"


def test_verdict_table_is_on_the_first_screen(browser, report_html):
    assert_both_tables_whole(first_screen(browser, report_html))
    shot = report_html.with_name("first_screen.png")  # to look at (pytest keeps the last runs' tmp folders)
    render(browser, report_html, f"--screenshot={shot}")
    assert shot.stat().st_size > 10_000


def test_the_committed_example_run_shows_both_tables_on_the_first_screen(browser, tmp_path):
    """The README links this page as what a default run gives: a real run's longer cells must fit too."""
    page = tmp_path / "report.html"
    shutil.copy(EXAMPLE, page)
    assert_both_tables_whole(first_screen(browser, page))


def test_the_probe_can_fail(browser, report_html, tmp_path):
    """The same probe on a page whose verdict table sits below a tall block: it reports it off the first screen."""
    page = tmp_path / "report.html"
    html = report_html.read_text(encoding="utf-8")
    page.write_text(html.replace("<body>", f'<body><div style="height:{2 * HEIGHT}px"></div>', 1), encoding="utf-8")
    geo = first_screen(browser, page)
    assert geo["found"] and geo["top"] > HEIGHT and geo["variants"]["bottom"] > HEIGHT


def test_the_probe_sees_a_variant_table_pushed_below_the_fold(browser, report_html, tmp_path):
    """Only the per-variant table pushed down (a tall block between the tables): the probe says it is off screen."""
    page = tmp_path / "report.html"
    html = report_html.read_text(encoding="utf-8")
    page.write_text(html.replace('<table id="variants">', f'<div style="height:{HEIGHT}px"></div>'
                                 '<table id="variants">', 1), encoding="utf-8")
    geo = first_screen(browser, page)
    assert geo["bottom"] <= HEIGHT and geo["variants"]["bottom"] > HEIGHT

"""In headless Chromium (Debian's package): the Dagster UI shows every asset group, and the report's
charts render. Skipped where Chromium or its driver is not installed (scripts/test.sh installs them in CI)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
PROJECT = Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
                                 reason="headless Chromium and chromedriver are not installed")]
# each group and an asset its page must list
GROUPS = {"reference": "cities", "ingest": "service_request_records", "staging": "service_requests",
          "portals": "portal_features", "marts": "city_ranking", "publish": "analyst_warehouse"}


@pytest.fixture(scope="module")
def browser():
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def demo(demo_run) -> dict[str, str]:
    out, env = demo_run
    assert out.returncode == 0, out.stderr[-2000:]
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(driver, predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate(driver)
        if value:
            return value
        time.sleep(0.5)
    return predicate(driver)


def test_dagster_ui_renders_every_asset_group(browser, demo) -> None:
    port = _free_port()
    dagster = Path(sys.executable).parent / "dagster"
    server = subprocess.Popen([str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
                              cwd=PROJECT, env=demo, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for(browser, lambda _: _responds(base), timeout=120), "dagster dev did not come up"
        for group, asset in GROUPS.items():
            browser.get(f"{base}/locations/definitions/asset-groups/{group}")
            listed = _wait_for(browser, lambda d, a=asset: a in d.find_element(By.TAG_NAME, "body").text)
            assert listed, f"asset group {group} did not render its asset {asset}"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def _responds(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_report_charts_render(browser, demo) -> None:
    browser.get(Path(demo["HOTLINE_EVAL_REPORT"]).as_uri())
    for chart in ("ranking-chart", "primary-chart", "heatmap"):
        svgs = browser.find_elements(By.CSS_SELECTOR, f"#{chart} svg")
        assert svgs, f"{chart}: no SVG"
        size = svgs[0].size
        assert size["width"] > 100 and size["height"] > 50, f"{chart}: empty SVG {size}"
        marks = browser.find_elements(By.CSS_SELECTOR, f"#{chart} svg path, #{chart} svg rect")
        assert len(marks) > 5, f"{chart}: nothing drawn"
    assert "DEMO DATA" in browser.find_element(By.CLASS_NAME, "banner").text
    browser.save_screenshot(str(Path(demo["DAGSTER_HOME"]).parent / "report.png"))

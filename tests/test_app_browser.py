"""The planner page in a real headless Chromium (selenium and the system chromedriver): load the page, change a
budget, run a small market, read the result, see a wrong value's message beside its field, save two what-ifs and
compare them; and the page asks no host but its own server for anything.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them); skips, saying so, without them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

# CI sets REQUIRE_BROWSER=1 (.ci/run installs chromium): there a missing browser fails instead of skipping
if os.environ.get("REQUIRE_BROWSER") == "1" and (CHROMIUM is None or CHROMEDRIVER is None):
    pytest.fail("REQUIRE_BROWSER=1 but chromium or chromedriver is missing", pytrace=False)
selenium = pytest.importorskip("selenium", reason="selenium is not installed (pip install -e '.[test]')")
if CHROMIUM is None or CHROMEDRIVER is None:
    pytest.skip("no chromium and chromedriver on this machine (apt-get install chromium chromium-driver; "
                ".ci/run installs them)", allow_module_level=True)

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

WAIT = 240  # seconds: a generous bound for a loaded machine; the waits end as soon as the page is ready
SMALL = {"market.n_accounts": "150", "scenario.horizon_days": "60", "scenario.warmup_days": "0",
         "channels.campaigns.burst_days": "10, 40"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``python run.py app`` on a free port, as a user starts it."""
    cwd = tmp_path_factory.mktemp("app")
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONUNBUFFERED="1")
    log_path = cwd / "server.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, str(ROOT / "run.py"), "app", "--port", "0", "--no-browser",
                                 "--workers", "1", "--reps", "2"], cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=log, text=True)
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not match:
            proc.kill()
            pytest.fail(f"the app printed no address: {line!r}; log: {log_path.read_text()}")
        yield match.group(1)
        proc.terminate()
        proc.wait(timeout=30)
    text = log_path.read_text()
    assert "Traceback" not in text, text


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1500,1400",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    driver.set_page_load_timeout(WAIT)
    yield driver
    driver.quit()


def field(driver, key: str):
    return driver.find_element(By.CSS_SELECTOR, f'input[data-key="{key}"]')


def type_into(element, text: str) -> None:
    element.clear()
    element.send_keys(text)


def error_for(driver, key: str) -> str:
    return driver.find_element(By.CSS_SELECTOR, f'.field-error[data-for="{key}"]').text


def run_and_wait(driver) -> None:
    """Press Run and wait until that run (a new job id on the progress line) is done."""
    status = driver.find_element(By.ID, "progress-text")
    before = status.get_attribute("data-job")
    driver.find_element(By.ID, "run").click()
    WebDriverWait(driver, WAIT).until(lambda d: status.get_attribute("data-job") not in (None, "", before)
                                      and status.get_attribute("data-status") in ("done", "error", "cancelled"))
    assert status.get_attribute("data-status") == "done", status.text


def customers_won(driver, strategy: str) -> float:
    cell = driver.find_element(By.CSS_SELECTOR, f'#comparison-table tr[data-metric="customers_won"] '
                                                f'td[data-strategy="{strategy}"]')
    return float(cell.get_attribute("data-mean"))


def save_whatif(driver, name: str) -> None:
    type_into(driver.find_element(By.ID, "whatif-name"), name)
    driver.find_element(By.ID, "save-whatif").click()
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f'#whatif-list li[data-name="{name}"]'))


def test_plan_run_check_save_and_compare_in_a_real_browser(server, browser):
    driver = browser
    driver.get(server)
    WebDriverWait(driver, WAIT).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "1")
    assert driver.find_element(By.ID, "source-select").get_attribute("value") == "preset:default"

    # a small market, then a budget change: the strategy's total follows
    for key, text in SMALL.items():
        type_into(field(driver, key), text)
    total = driver.find_element(By.CSS_SELECTOR, 'tr[data-sum="budget-total"] td[data-strategy="blended"]')
    assert total.text == "$400,000"
    type_into(field(driver, "strategies.blended.channels.content.budget"), "150000")
    WebDriverWait(driver, 30).until(lambda d: total.text == "$440,000")

    # run: the comparison table shows every strategy's customers won
    run_and_wait(driver)
    won = customers_won(driver, "blended")
    assert won >= 0
    assert len(driver.find_elements(By.CSS_SELECTOR, "#comparison-table tbody tr")) >= 5
    WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#charts img"))
    WebDriverWait(driver, WAIT).until(lambda d: d.execute_script(
        "return Array.from(document.querySelectorAll('#charts img')).every(i => i.complete && i.naturalWidth > 0)"))
    assert driver.find_element(By.ID, "download-report").is_displayed()
    save_whatif(driver, "base")

    # a value out of range: a message beside the field, and Run runs nothing
    budget = field(driver, "strategies.networking.channels.networking.budget")
    type_into(budget, "-5")
    key = "strategies.networking.channels.networking.budget"
    WebDriverWait(driver, WAIT).until(lambda d: ">= 0" in error_for(d, key))
    assert "invalid" in budget.get_attribute("class")
    message = driver.find_element(By.CSS_SELECTOR, f'.field-error[data-for="{key}"]')
    assert message.is_displayed()
    assert message.location["y"] - budget.location["y"] < 120  # right under the field's row
    jobs_before = driver.find_element(By.ID, "progress-text").text
    driver.find_element(By.ID, "run").click()
    WebDriverWait(driver, WAIT).until(lambda d: ">= 0" in error_for(d, key))
    assert driver.find_element(By.ID, "progress-text").text == jobs_before
    assert "Traceback" not in driver.page_source

    # a rep split that does not add up: the message names the split
    type_into(budget, "300000")
    type_into(field(driver, "strategies.networking.sales.split.networking"), "0.5")
    WebDriverWait(driver, WAIT).until(lambda d: "add up to 1" in error_for(d, "strategies.networking.sales.split"))
    type_into(field(driver, "strategies.networking.sales.split.networking"), "0.3")
    type_into(field(driver, "strategies.networking.sales.split.meetings"), "0.55")
    WebDriverWait(driver, WAIT).until(lambda d: error_for(d, "strategies.networking.sales.split") == ""
                                      and error_for(d, key) == "")

    # a second what-if, then both side by side with the paired difference
    run_and_wait(driver)
    save_whatif(driver, "more networking")
    for name in ("base", "more networking"):
        box = driver.find_element(By.CSS_SELECTOR, f'#whatif-list li[data-name="{name}"] input')
        if not box.is_selected():
            box.click()
    driver.find_element(By.ID, "compare").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#compare-table tbody tr[data-metric]"))
    header = driver.find_element(By.CSS_SELECTOR, "#compare-table thead").text
    assert "base" in header and "more networking − base" in header
    unchanged = driver.find_element(By.CSS_SELECTOR, '#compare-table tr.identical[data-strategy="cold_calling"]')
    assert "every difference is 0" in unchanged.text  # same strategy, same seeds: the same runs
    assert not driver.find_elements(By.CSS_SELECTOR, '#compare-table tr.identical[data-strategy="networking"]')
    changed = driver.find_element(By.CSS_SELECTOR,
                                  '#compare-table tr[data-strategy="networking"][data-metric="total_cost"] td[data-delta]')
    assert float(changed.get_attribute("data-delta")) > 0  # a bigger events budget costs more

    if os.environ.get("APP_SCREENSHOT"):
        driver.save_screenshot(os.environ["APP_SCREENSHOT"])


def test_the_page_asked_no_other_host(server, browser):
    """Every request the page made (Chromium's performance log of the tab) went to the app's own server."""
    if not browser.current_url.startswith(server):
        browser.get(server)
    urls, network = [], []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            url = params["request"]["url"]
            if params.get("documentURL", "").startswith(server):
                urls.append(url)  # asked by the page
            if urlsplit(url).scheme not in ("chrome", "data", "blob", "about"):
                network.append(url)  # anything that could leave this machine, asked by any tab
    assert any(u.startswith(server + "static/") for u in urls), urls
    assert any(u.startswith(server + "api/") for u in urls), urls
    foreign = [u for u in urls if not u.startswith((server, "data:", "blob:" + server.rstrip("/")))]
    assert foreign == [], foreign
    assert [u for u in network if not u.startswith(server)] == []

"""Headless Chromium for tests that must see a page as a person would (JS run, CSS applied).

Uses the system's `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian packages) and
never Selenium Manager, which would download a browser. Chromium is also started with a
dead proxy for everything but loopback and with its background services off, so a test
page that tried to load anything from the internet would visibly fail instead of leaking
traffic.

    reason = have_browser()          # None when usable, else why not
    require_browser()                # skip (locally) or fail (CI=true) with that reason
    text = snapshot_in_browser(url, tmp_path / "page.png")

`browser_required` is the same check as a fixture: `@pytest.mark.usefixtures("browser_required")`.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM = Path(os.environ.get("FAILSOFT_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("FAILSOFT_CHROMEDRIVER", "/usr/bin/chromedriver"))
WINDOW = (1280, 2000)

_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-pings",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.1;localhost",
)
"""`127.0.0.1:9` (discard) refuses connections: anything not on loopback fails at once."""


def have_browser() -> str | None:
    """None when Chromium can be driven here, else the reason it can't."""
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install 'failsoft[test]')"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.is_file() or not os.access(path, os.X_OK):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    """Skip the calling test without a browser; in CI (`CI=true`) fail instead, since a CI
    image that lost its browser would otherwise pass silently."""
    reason = have_browser()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test cannot run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def browser_required() -> None:
    require_browser()


@contextmanager
def browser(width: int = WINDOW[0], height: int = WINDOW[1]) -> Iterator[WebDriver]:
    """A fresh headless Chromium; quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (*_ARGS, f"--window-size={width},{height}"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    try:
        driver.set_page_load_timeout(30)
        yield driver
    finally:
        driver.quit()


def wait_until(
    driver: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = 20.0
) -> Any:
    """Poll `condition(driver)` until truthy; its value, or TimeoutError with the page text."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition(driver)
        if value:
            return value
        if time.monotonic() > deadline:
            text = driver.execute_script("return document.body && document.body.innerText")
            raise TimeoutError(f"page never got there; it shows:\n{str(text)[:2000]}")
        time.sleep(0.05)


def page_ready(driver: WebDriver, min_refreshes: int = 0) -> bool:
    """Loaded, scripts run (the status page's refresh script marks `<html data-live>`), and
    refreshed at least `min_refreshes` times."""
    state = driver.execute_script(
        "const h = document.documentElement;"
        "return [document.readyState, h.dataset.live || '', +(h.dataset.refreshed || 0)];"
    )
    return bool(state[0] == "complete" and state[1] == "on" and state[2] >= min_refreshes)


def snapshot_in_browser(
    url: str, screenshot: Path, *, min_refreshes: int = 0, timeout: float = 20.0
) -> str:
    """Open `url`, wait for the page's script (and `min_refreshes` live refreshes), save a
    PNG to `screenshot` and return the page's visible text (`document.body.innerText`)."""
    with browser() as driver:
        driver.get(url)
        wait_until(driver, lambda d: page_ready(d, min_refreshes), timeout)
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(screenshot))
        return str(driver.execute_script("return document.body.innerText"))

"""The status page in a real (headless) browser: the right words on the right components, the
refresh script running under the page's own CSP, and a live refresh replacing the content.

Skipped without Chromium locally; fails in CI (`CI=true`), see `tests/browser.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiohttp import web

from failsoft.health.types import IncidentUpdate
from failsoft.status import content_security_policy, render_html
from failsoft.status.model import StatusSnapshot
from failsoft.status.statuspage_json import component_code
from tests import browser as browser_helpers
from tests.browser import (
    browser,
    browser_required,  # noqa: F401  (fixture)
    have_browser,
    page_ready,
    require_browser,
    snapshot_in_browser,
    wait_until,
)
from tests.status.fixtures import GPT4O, NOW, OPUS, build_snapshot

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

FIX_DEPLOYED = "Fix deployed on the provider side; error rate falling."


def later() -> StatusSnapshot:
    """What the page says a few seconds on: gpt-4o recovered, Opus's incident updated."""
    snap = build_snapshot(refresh_seconds=1)
    opus = snap.active[0]
    update = IncidentUpdate("monitoring", FIX_DEPLOYED, NOW, "major_outage")
    return replace(
        snap,
        components=tuple(
            replace(c, state="operational", since=NOW) if c.id == GPT4O else c
            for c in snap.components
        ),
        active=(replace(opus, status="monitoring", updates=(update, *opus.updates)),),
        indicator="critical",
    )


@dataclass
class Served:
    url: str
    hits: list[str] = field(default_factory=list)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    """The page on 127.0.0.1: the fixture snapshot first, `later()` on every fetch after."""
    pages = [render_html(build_snapshot(refresh_seconds=1)), render_html(later())]
    headers = {"Content-Security-Policy": content_security_policy(), "Cache-Control": "no-store"}
    state = Served(url="")

    async def status(request: web.Request) -> web.Response:
        state.hits.append(request.headers.get("Accept", ""))
        body = pages[min(len(state.hits) - 1, 1)]
        return web.Response(body=body, content_type="text/html", charset="utf-8", headers=headers)

    app = web.Application()
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    state.url = f"http://{host}:{port}/status"
    try:
        yield state
    finally:
        await runner.cleanup()


def state_of(driver: WebDriver, component: str) -> str:
    """The state word shown on `component`'s card."""
    selector = (
        f'[data-testid="component-{component_code(component)}"] [data-testid="component-state"]'
    )
    return str(driver.find_element("css selector", selector).text)


@pytest.mark.usefixtures("browser_required")
async def test_page_shows_states_and_refreshes_live(served: Served, tmp_path: Path) -> None:
    shot = tmp_path / "status-live.png"

    def drive() -> tuple[dict[str, str], dict[str, str], list[str], str]:
        with browser() as driver:
            driver.get(served.url)
            wait_until(driver, page_ready)
            before = {c: state_of(driver, c) for c in (OPUS, GPT4O)}
            before["overall"] = driver.execute_script(
                "return document.querySelector('[data-testid=overall-status]').innerText"
            )
            wait_until(driver, lambda d: page_ready(d, min_refreshes=1))
            wait_until(
                driver,
                lambda d: (
                    FIX_DEPLOYED
                    in d.execute_script("return document.querySelector('main').innerText")
                ),
            )
            after = {c: state_of(driver, c) for c in (OPUS, GPT4O)}
            loaded = driver.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )
            driver.save_screenshot(str(shot))
            text = driver.execute_script("return document.body.innerText")
            return before, after, loaded, text

    before, after, loaded, text = await asyncio.to_thread(drive)
    print(f"screenshot: {shot}")
    assert before[OPUS] == "Major outage"
    assert before[GPT4O] == "Degraded performance"
    assert "Major System Outage" in before["overall"]
    # the refresh script swapped <main> without a reload
    assert after[OPUS] == "Major outage"
    assert after[GPT4O] == "Operational"
    assert "Monitoring" in text
    assert len(served.hits) >= 2
    assert served.hits[-1] == "text/html"  # the script's fetch, not a navigation
    assert all(url.startswith(served.url) for url in loaded), loaded
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.usefixtures("browser_required")
async def test_snapshot_in_browser_helper(served: Served, tmp_path: Path) -> None:
    shot = tmp_path / "shots" / "status.png"
    text = await asyncio.to_thread(snapshot_in_browser, served.url, shot, min_refreshes=1)
    print(f"screenshot: {shot}")
    assert "Major System Outage" in text
    assert "Major outage" in text
    assert FIX_DEPLOYED in text
    assert shot.stat().st_size > 10_000


def test_without_a_browser_skip_locally_and_fail_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser_helpers, "CHROMIUM", tmp_path / "no-chromium")
    reason = have_browser()
    assert reason is not None and "no-chromium" in reason
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no-chromium"):
        require_browser()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no-chromium"):
        require_browser()

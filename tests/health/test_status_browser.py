"""The acceptance browser test: headless Chromium opens a gateway's `/status` during a
simulated outage, sees the affected model in a major outage with its incident and the
others operational, and a screenshot is kept with the test's output."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import openai

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.browser import require_browser, snapshot_in_browser
from tests.conftest import make_config

EXTRA = "health: {open_after: 10, evaluate_every: 3600}\nbreaker: {failures: 100000, min_requests: 100000}\n"


def test_status_page_in_a_browser_during_an_outage(sim: SimServer, tmp_path: Path) -> None:
    require_browser()
    config = make_config(sim.url, EXTRA)
    clock = FakeClock(wall_start=datetime(2026, 11, 23, 12, 0, tzinfo=UTC).timestamp())
    runtime = Runtime(config, health_clock=clock)
    with GatewayThread(config, runtime=runtime).running() as gw:
        sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
            for step in range(2):
                for _ in range(6):
                    for model in ("claude", "gpt"):
                        client.chat.completions.create(
                            model=model, messages=[{"role": "user", "content": "hi"}]
                        )
                gw.call(runtime.health.evaluate())
                clock.advance(15 if step == 0 else 0)
        gw.call(runtime.health.evaluate())
        assert runtime.health.keeper.active, "the outage should have opened an incident"
        shot = tmp_path / "status-during-outage.png"
        text = snapshot_in_browser(gw.url + "/status", shot)
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
    # Sonnet answered every claude caller: the headline says so (issue 12), the component
    # below still shows Opus's outage.
    assert "Major System Outage" not in text and "Partial System Outage" not in text
    assert "All requests answered — anthropic/claude-opus-4-7 failing, served by fallbacks" in text
    assert "Callers served: 100% of 24 requests in the last 5 minutes (50% by a fallback)" in text
    assert "Providers: anthropic/claude-opus-4-7 major outage" in text
    served = text.split("What callers got", 1)[1].split("Components", 1)[0]
    assert "claude\t100% of 12\tfallback 1 100%\tOperational" in served
    assert "Elevated errors on claude-opus-4-7 (529 overloaded)" in text
    components = text.split("Components", 1)[1]
    opus = components.split("claude-opus-4-7", 1)[1].split("claude-sonnet-4-5", 1)[0]
    assert "Major outage" in opus
    sonnet = components.split("claude-sonnet-4-5", 1)[1].split("openai", 1)[0]
    assert "Operational" in sonnet and "Major outage" not in sonnet
    gpt = components.split("gpt-4o", 1)[1].split("gpt-4o-mini", 1)[0]
    assert "Operational" in gpt

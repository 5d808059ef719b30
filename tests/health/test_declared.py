"""A provider's own status page, polled by a running gateway: its word shows beside
failsoft's, fills in for models without traffic, and (opt-in) demotes declared-down
targets before traffic fails on them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.conftest import PROVIDER_KEY
from tests.helpers import request
from tests.upstream import Script, ScriptedUpstream

FIXTURE = Path(__file__).parent / "fixtures" / "claude_major_incident.json"
API = "Claude API (api.anthropic.com)"


@pytest.fixture
def page() -> Iterator[ScriptedUpstream]:
    summary = json.loads(FIXTURE.read_text())
    for component in summary["components"]:
        if component["name"] == API:
            component["status"] = "major_outage"
    with ScriptedUpstream().running() as server:
        server.script = Script(chunks=[json.dumps(summary).encode()])
        yield server


def test_declared_outage_shows_and_demotes(sim: SimServer, page: ScriptedUpstream) -> None:
    config = parse_config(f"""
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim.url}", api_key: "{PROVIDER_KEY}",
               status_page: "{page.url}", status_components: {{"{API}": [claude-opus-4-7]}}}}
models:
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
health: {{status_poll_interval: 0.2, evaluate_every: 0.1, demote_on_declared: true}}
""")
    opus = Target("anthropic", "claude-opus-4-7")
    with GatewayThread(config).running() as gw:
        deadline = time.monotonic() + 10
        while opus not in gw.runtime.router.state.demoted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gw.runtime.router.state.demoted == frozenset({opus})
        assert page.requests[0].path == "/api/v2/summary.json"
        health = {c.id: c for c in gw.runtime.health.health()}
        assert health["anthropic/claude-opus-4-7"].declared == "major_outage"
        assert health["anthropic/claude-opus-4-7"].state == "major_outage"  # no own traffic
        assert health["anthropic/claude-sonnet-4-5"].declared is None
        with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
            answer = client.chat.completions.create(
                model="claude", messages=[{"role": "user", "content": "hi"}]
            )
        assert answer.model == "claude-sonnet-4-5"
        assert sim.attempts("claude-opus-4-7") == 0
        html = request(gw.url + "/status", method="GET").body.decode()
        assert "Elevated errors on Opus 4.7" in html

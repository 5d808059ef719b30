"""Failures that are not the caller's are not passed to the caller.

failsoft sends its own provider key upstream, never the caller's. So a 401 (or Gemini's
400 `API_KEY_INVALID`) says the gateway's key is wrong: the next target answers, the
target's breaker opens for long (as for a spent quota), an incident says the credentials
were rejected, and no SDK raises `AuthenticationError` at a caller whose key is fine. With
no target left, the caller gets the gateway's exhaustion error naming the provider whose
key was refused. A 403 (a region, a model not enabled) is an ordinary failure of the
target: failover, breakers as usual, no credentials incident.

The simulator checks keys for real (it accepts only `PROVIDER_KEY`), so the "revoked" key
below gets exactly what a revoked key gets from each provider.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import openai
import pytest

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.config import parse_config
from failsoft.health.types import Incident
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.conftest import CALLER_KEY, PROVIDER_KEY

REVOKED = "sk-revoked-key-0123456789abcdef"
CONFIG = """
providers:
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  openai-old: {{dialect: openai, base_url: "{sim}/v1", api_key: "{revoked}"}}
  anthropic-old: {{dialect: anthropic, base_url: "{sim}", api_key: "{revoked}"}}
  gemini-old: {{dialect: gemini, base_url: "{sim}", api_key: "{revoked}"}}
models:
  gpt: [openai-old/gpt-4o, openai/gpt-4o-mini]
  claude: [anthropic-old/claude-opus-4-7, anthropic/claude-sonnet-4-5]
  gemini: [gemini-old/gemini-2.5-flash, openai/gpt-4o-mini]
  gpt-alone: [openai-old/gpt-4o]
  claude-alone: [anthropic-old/claude-opus-4-7]
  gpt-ok: [openai/gpt-4o, openai/gpt-4o-mini]
  claude-ok: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
deadlines: {{connect: 1, first_token: 2, idle: 2, total: 8}}
breaker: {{failures: 3, open_for: 5, max_open_for: 10, quota_open_for: 900}}
health: {{open_after: 20, resolve_after: 300, recover_after: 60, evaluate_every: 3600}}
"""
HI: Any = [{"role": "user", "content": "Which key did you use?"}]


class World:
    """A gateway whose health side runs on a fake clock, and SDK clients that would
    retry (as by default) if they were told to."""

    def __init__(self, sim: SimServer) -> None:
        config = parse_config(CONFIG.format(sim=sim.url, key=PROVIDER_KEY, revoked=REVOKED))
        self.clock = FakeClock(
            start=1000.0, wall_start=datetime(2026, 11, 23, tzinfo=UTC).timestamp()
        )
        self.runtime = Runtime(config, health_clock=self.clock)
        self.gateway = GatewayThread(config, runtime=self.runtime).start()
        self.oai = openai.OpenAI(base_url=self.gateway.url + "/v1", api_key=CALLER_KEY)
        self.ant = anthropic.Anthropic(base_url=self.gateway.url, api_key=CALLER_KEY)
        self.incidents: list[tuple[str, Incident]] = []
        self.runtime.health.listeners.append(lambda kind, i: self.incidents.append((kind, i)))

    def evaluate_over(self, seconds: float) -> None:
        """Two health evaluations `seconds` apart (an incident needs `open_after`)."""
        self.gateway.call(self.runtime.health.evaluate())
        self.clock.advance(seconds)
        self.gateway.call(self.runtime.health.evaluate())

    def breaker(self, label: str) -> tuple[float, str]:
        """(seconds until the target may be tried again, why its breaker last opened)."""
        state = self.runtime.router.state
        target = Target(*label.split("/", 1))
        return state.breakers[target].reopens_in(), state.opened_because.get(target, "")

    def close(self) -> None:
        self.oai.close()
        self.ant.close()
        self.gateway.stop()


@pytest.fixture
def world(sim: SimServer) -> Iterator[World]:
    w = World(sim)
    yield w
    w.close()


def ask_gpt(world: World, model: str, stream: bool) -> tuple[Any, str]:
    """(headers, the model that answered) of one openai SDK call."""
    if stream:
        with world.oai.chat.completions.with_streaming_response.create(
            model=model, messages=HI, stream=True
        ) as raw:
            chunks = list(raw.parse())
            return raw.headers, chunks[0].model
    resp = world.oai.chat.completions.with_raw_response.create(model=model, messages=HI)
    return resp.headers, resp.parse().model


def ask_claude(world: World, model: str, stream: bool) -> tuple[Any, str]:
    if stream:
        with world.ant.messages.stream(model=model, max_tokens=64, messages=HI) as s:
            return s.response.headers, s.get_final_message().model
    raw = world.ant.messages.with_raw_response.create(model=model, max_tokens=64, messages=HI)
    return raw.headers, raw.parse().model


def test_a_revoked_key_on_the_primary_is_absorbed(world: World, sim: SimServer) -> None:
    served = []
    for stream in (False, True, False, True):
        served.append(ask_gpt(world, "gpt", stream))
        served.append(ask_claude(world, "claude", not stream))  # its refusal is streamed
    # Every caller was answered by the backup; the refused primary was tried once only.
    assert [model for _, model in served] == ["gpt-4o-mini", "claude-sonnet-4-5"] * 4
    trails = [headers["x-failsoft-trail"] for headers, _ in served]
    assert trails[:2] == [
        "openai-old/gpt-4o:401,openai/gpt-4o-mini:200",
        "anthropic-old/claude-opus-4-7:401,anthropic/claude-sonnet-4-5:200",
    ]
    skipped = [
        "openai-old/gpt-4o:open,openai/gpt-4o-mini:200",
        "anthropic-old/claude-opus-4-7:open,anthropic/claude-sonnet-4-5:200",
    ]
    assert trails[2:] == skipped * 3
    attempts = [headers["x-failsoft-attempts"] for headers, _ in served]
    assert attempts == ["2", "2"] + ["1"] * 6  # a skip is not an attempt
    assert [r.outcome for r in sim.requests("gpt-4o")] == ["401"]
    assert [r.outcome for r in sim.requests("claude-opus-4-7")] == ["401"]

    # Open for the long period (quota_open_for), saying why.
    for label in ("openai-old/gpt-4o", "anthropic-old/claude-opus-4-7"):
        reopens_in, why = world.breaker(label)
        assert reopens_in > 800
        assert why == "the provider rejected failsoft's credentials"

    world.evaluate_over(20)
    opened = {i.title: i for kind, i in world.incidents if kind == "incident.opened"}
    assert set(opened) == {
        "Credentials rejected by openai-old for gpt-4o",
        "Credentials rejected by anthropic-old for claude-opus-4-7",
    }
    body = opened["Credentials rejected by openai-old for gpt-4o"].updates[0].body
    assert "openai-old rejects failsoft's credentials" in body
    assert "providers.openai-old.api_key" in body
    states = {h.id: h.state for h in world.runtime.health.health()}
    assert states["openai-old/gpt-4o"] != "operational"
    assert states["openai/gpt-4o-mini"] == "operational"
    for incident in opened.values():
        assert REVOKED not in repr(incident) and PROVIDER_KEY not in repr(incident)


def test_geminis_400_for_a_bad_key_is_a_refused_key_too(world: World, sim: SimServer) -> None:
    headers, model = ask_gpt(world, "gemini", stream=False)
    assert model == "gpt-4o-mini"
    assert headers["x-failsoft-trail"] == "gemini-old/gemini-2.5-flash:401,openai/gpt-4o-mini:200"
    assert [r.outcome for r in sim.requests("gemini-2.5-flash")] == ["400"]  # as Google says it
    reopens_in, why = world.breaker("gemini-old/gemini-2.5-flash")
    assert reopens_in > 800 and "credentials" in why


def test_with_no_target_left_the_caller_learns_it_is_the_gateways_key(
    world: World, sim: SimServer
) -> None:
    """Not a 401, which would make the SDK blame the caller's own key: the gateway's
    exhaustion error, naming the provider whose key was refused, and no retry advised."""
    for attempt in range(2):  # the refusal itself, then the breaker it opened
        with pytest.raises(openai.InternalServerError) as gpt:
            world.oai.chat.completions.create(model="gpt-alone", messages=HI)
        assert gpt.value.status_code == 503
        assert gpt.value.code == "all_targets_failed"
        assert gpt.value.response.headers["x-should-retry"] == "false"
        message = gpt.value.response.json()["error"]["message"]
        assert message.startswith("failsoft: all 1 target failed for model 'gpt-alone'")
        assert "credentials" in message and "openai-old" in message
        with pytest.raises(anthropic.OverloadedError) as claude:
            world.ant.messages.create(model="claude-alone", max_tokens=64, messages=HI)
        assert claude.value.response.headers["x-should-retry"] == "false"
        assert "credentials" in claude.value.message and "anthropic-old" in claude.value.message
        if attempt == 0:
            assert "rejected failsoft's credentials for provider 'openai-old'" in message
            assert "providers.openai-old.api_key" in message
        for text in (gpt.value.response.text, claude.value.response.text):
            assert REVOKED not in text and PROVIDER_KEY not in text and CALLER_KEY not in text
    # The SDKs were told not to retry (they would have, by default), and were not.
    assert sim.attempts("gpt-4o") == 1
    assert sim.attempts("claude-opus-4-7") == 1


def test_a_403_fails_over_as_an_ordinary_failure(world: World, sim: SimServer) -> None:
    """A 403 refuses failsoft's account for this model (a region, a feature): the next
    target answers; the breaker counts it like any failure (short open periods); the
    incident is an ordinary one."""
    sim.set_fault("gpt-4o", {"kind": "status", "status": 403})
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 403})
    served = []
    for stream in (False, True, False, True):
        served.append(ask_gpt(world, "gpt-ok", stream))
        served.append(ask_claude(world, "claude-ok", stream))
    assert [model for _, model in served] == ["gpt-4o-mini", "claude-sonnet-4-5"] * 4
    trails = [headers["x-failsoft-trail"] for headers, _ in served]
    assert trails[0] == "openai/gpt-4o:403,openai/gpt-4o-mini:200"
    assert trails[1] == "anthropic/claude-opus-4-7:403,anthropic/claude-sonnet-4-5:200"
    assert sim.attempts("gpt-4o") == 3  # breaker.failures, then open: skipped
    assert trails[-2] == "openai/gpt-4o:open,openai/gpt-4o-mini:200"
    reopens_in, why = world.breaker("openai/gpt-4o")
    assert 0 < reopens_in <= 5.0 and why == "3 consecutive failures"

    world.evaluate_over(20)
    titles = [i.title for kind, i in world.incidents if kind == "incident.opened"]
    assert titles and all("Credentials" not in t for t in titles)
    assert "Elevated errors on gpt-4o (403 forbidden)" in titles

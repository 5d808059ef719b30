"""Active probes against the simulator: cheap, skipped while traffic speaks, and able to
close a breaker that is due for its half-open probe."""

from __future__ import annotations

import time

from failsoft.assemble import Runtime
from failsoft.config import parse_config
from failsoft.health.probes import completion_body
from failsoft.policy.breaker import State
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.types import Target
from tests.conftest import PROVIDER_KEY

CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}",
               probe: {{enabled: true, kind: completion, interval: 0.2, quiet: 0}}}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}",
            probe: {{enabled: true, kind: models, interval: 0.2}}}}
  gemini: {{dialect: gemini, base_url: "{sim}", api_key: "{key}"}}
models:
  claude: [anthropic/claude-opus-4-7]
  gpt: [openai/gpt-4o]
  gem: [gemini/gemini-2.5-flash]
"""


def until(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.02)


def test_probes_run_and_close_a_due_breaker(sim: SimServer) -> None:
    config = parse_config(CONFIG.format(sim=sim.url, key=PROVIDER_KEY))
    runtime = Runtime(config)
    target = Target("anthropic", "claude-opus-4-7")
    with GatewayThread(config, runtime=runtime).running() as gw:
        until(lambda: sim.attempts("claude-opus-4-7") >= 2)
        probe = sim.requests("claude-opus-4-7")[0]
        assert probe.body["max_tokens"] == 1
        assert sim.attempts("gpt-4o") == 0  # `models` probes do not call the model
        assert sim.attempts("gemini-2.5-flash") == 0  # probes are off for gemini

        async def open_briefly() -> None:
            runtime.router.state.breakers[target].force(State.OPEN, 0.05)

        gw.call(open_briefly())
        until(lambda: runtime.router.state.breakers[target].state is State.CLOSED)
        assert runtime.router.state.breakers[target].state is State.CLOSED
        assert runtime.prober.probed >= 2


def test_completion_bodies_per_dialect(sim: SimServer) -> None:
    config = parse_config(CONFIG.format(sim=sim.url, key=PROVIDER_KEY))
    runtime = Runtime(config)
    bodies = {name: completion_body(p, "m") for name, p in runtime.providers.items()}
    assert b'"max_tokens":1' in bodies["anthropic"]
    assert b'"maxOutputTokens":1' in bodies["gemini"]
    assert b'"max_tokens":1' in bodies["openai"]  # a non-OpenAI host: the classic name


def test_a_responses_provider_is_probed_at_its_endpoint(sim: SimServer) -> None:
    """The smallest request the strict Responses endpoint accepts (16 output tokens)."""
    provider = (
        f'  responses: {{dialect: openai, api: responses, base_url: "{sim.url}/v1", '
        f'api_key: "{PROVIDER_KEY}", '
        "probe: {enabled: true, kind: completion, interval: 0.2, quiet: 0}}\n"
    )
    text = CONFIG.format(sim=sim.url, key=PROVIDER_KEY)
    config = parse_config(
        text.replace("models:\n", provider + "models:\n  pro: [responses/gpt-5-pro]\n")
    )
    runtime = Runtime(config)
    with GatewayThread(config, runtime=runtime).running():
        until(lambda: sim.attempts("gpt-5-pro") >= 1)
    probe = sim.requests("gpt-5-pro")[0]
    assert probe.path == "/v1/responses" and probe.outcome == "200"
    assert probe.body["max_output_tokens"] == 16 and probe.body["input"] == "Reply with OK."


def test_probes_are_skipped_while_traffic_speaks(sim: SimServer) -> None:
    config = parse_config(
        CONFIG.format(sim=sim.url, key=PROVIDER_KEY).replace("quiet: 0", "quiet: 1")
    )
    runtime = Runtime(config)

    async def scenario() -> None:
        runtime.health.passive.record("anthropic/claude-opus-4-7", runtime.clock.monotonic(), "200")
        assert await runtime.prober.probe_model(Target("anthropic", "claude-opus-4-7")) is None

    with GatewayThread(config, runtime=runtime).running() as gw:
        gw.call(scenario())
        assert runtime.prober.skipped >= 1


def test_a_probe_refused_for_its_key_says_401_and_keeps_the_breaker_open_for_long(
    sim: SimServer,
) -> None:
    """Gemini refuses a bad key with a 400: a probe reports it as the router does (`401`,
    a failure of the target), and a half-open probe refused so reopens for long."""
    revoked = (
        f'  gemini-old: {{dialect: gemini, base_url: "{sim.url}", api_key: "sk-revoked-01"}}\n'
    )
    text = CONFIG.format(sim=sim.url, key=PROVIDER_KEY)
    config = parse_config(text.replace("models:\n", revoked + "models:\n"))
    runtime = Runtime(config)
    target = Target("gemini-old", "gemini-2.5-flash")
    breaker = runtime.router.state.breakers[target]

    async def scenario() -> tuple[str | None, str | None]:
        first = await runtime.prober.probe_model(target)
        breaker.force(State.OPEN, 0.001)
        await runtime.clock.sleep(0.01)
        return first, await runtime.prober.probe_model(target)

    with GatewayThread(config, runtime=runtime).running() as gw:
        assert gw.call(scenario()) == ("401", "401")
    assert [r.outcome for r in sim.requests("gemini-2.5-flash")] == ["400", "400"]
    window = runtime.health.passive.window(target.label, runtime.clock.monotonic(), "1m")
    assert window.counts["auth"] == 2 and window.outcomes == {"401": 2}
    assert breaker.state is State.OPEN and breaker.reopens_in() > 500

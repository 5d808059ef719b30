"""The answer cache through the real SDKs: hits, stream replays, TTL, Cache-Control,
what is never cached, per-key isolation, stale answers during an outage, the ladder."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY

CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
cache: {{ttl: {ttl}, stale_if_error: 3600, backend: {backend}{url}}}
models:
  gpt: [openai/gpt-4o]
  claude: [anthropic/claude-opus-4-7]
  plain: {{targets: [openai/gpt-4o-mini], cache: {{enabled: false}}}}
  laddered:
    targets: [openai/gpt-4.1]
    cache: {{enabled: false}}
    degrade: {{lighter: [openai/gpt-4o-mini], static: "We are having trouble; try again soon."}}
  static-only:
    targets: [openai/gpt-4.1]
    cache: {{enabled: false}}
    degrade: {{static: "We are having trouble; try again soon."}}
deadlines: {{connect: 1, first_token: 0.5, idle: 0.5, total: 8}}
retry: {{max_attempts: 1}}
"""
HI = [{"role": "user", "content": "Tell me about caches"}]


def config_for(sim: SimServer, ttl: float = 60, backend: str = "memory", url: str = "") -> Any:
    extra = f', url: "{url}"' if url else ""
    text = CONFIG.format(sim=sim.url, key=PROVIDER_KEY, ttl=ttl, backend=backend, url=extra)
    return parse_config(text)


@pytest.fixture
def gw(sim: SimServer) -> Iterator[GatewayThread]:
    with GatewayThread(config_for(sim)).running() as gateway:
        yield gateway


def oai(gw: GatewayThread, key: str = "caller-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def ant(gw: GatewayThread, key: str = "caller-a") -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def ask(client: openai.OpenAI, model: str = "gpt", **kw: Any) -> Any:
    return client.chat.completions.with_raw_response.create(model=model, messages=HI, **kw)


def test_a_repeated_request_hits(gw: GatewayThread, sim: SimServer) -> None:
    with oai(gw) as client:
        first = ask(client)
        second = ask(client)
    assert first.headers["x-failsoft-cache"] == "MISS"
    assert second.headers["x-failsoft-cache"] == "HIT"
    assert second.headers["x-failsoft-rung"] == "targets"
    assert int(second.headers["age"]) >= 0
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content
    assert second.headers["x-failsoft-model"] == "gpt-4o"
    assert sim.attempts("gpt-4o") == 1


def test_streams_are_stored_and_replayed_in_both_sdks(gw: GatewayThread, sim: SimServer) -> None:
    with oai(gw) as client:
        with client.chat.completions.stream(
            model="gpt", messages=HI, stream_options={"include_usage": True}
        ) as stream:
            first = stream.get_final_completion()
        raw = client.chat.completions.with_raw_response.create(
            model="gpt", messages=HI, stream=True, stream_options={"include_usage": True}
        )
        assert raw.headers["x-failsoft-cache"] == "HIT"
        chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == first.choices[0].message.content
        assert chunks[-1].usage is not None and chunks[-1].choices == []
        plain = ask(client)  # a non-streaming request hits the answer a stream stored
        assert plain.headers["x-failsoft-cache"] == "HIT"
    with ant(gw) as client:
        message = client.messages.create(model="claude", max_tokens=200, messages=HI)
        with client.messages.stream(model="claude", max_tokens=200, messages=HI) as stream:
            replayed = stream.get_final_message()
        assert replayed.content[0].text == message.content[0].text  # type: ignore[union-attr]
        assert replayed.stop_reason == "end_turn"
        assert replayed.usage.output_tokens == message.usage.output_tokens
    assert sim.attempts("gpt-4o") == 1 and sim.attempts("claude-opus-4-7") == 1


def test_tool_calls_replay_with_their_arguments(gw: GatewayThread) -> None:
    tools: Any = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"location": {"type": "string"}}}}}]  # fmt: skip
    ask_paris = [{"role": "user", "content": "What's the weather in Paris?"}]
    with oai(gw) as client:
        first = client.chat.completions.create(model="gpt", messages=ask_paris, tools=tools)
        with client.chat.completions.stream(model="gpt", messages=ask_paris, tools=tools) as s:
            again = s.get_final_completion()
    (call,) = again.choices[0].message.tool_calls or []
    assert call.function.arguments == first.choices[0].message.tool_calls[0].function.arguments  # type: ignore[index]
    assert again.choices[0].finish_reason == "tool_calls"


def test_ttl_expiry(sim: SimServer) -> None:
    with GatewayThread(config_for(sim, ttl=0.3)).running() as gateway, oai(gateway) as client:
        ask(client)
        assert ask(client).headers["x-failsoft-cache"] == "HIT"
        time.sleep(0.35)
        assert ask(client).headers["x-failsoft-cache"] == "MISS"
    assert sim.attempts("gpt-4o") == 2


def test_cache_control_from_the_caller(gw: GatewayThread, sim: SimServer) -> None:
    with oai(gw) as client:
        ask(client)
        fresh = ask(client, extra_headers={"cache-control": "no-cache"})
        assert fresh.headers["x-failsoft-cache"] == "MISS"
        bypass = ask(client, extra_headers={"Cache-Control": "no-store"})
        assert bypass.headers["x-failsoft-cache"] == "BYPASS"
        assert ask(client).headers["x-failsoft-cache"] == "HIT"
        other = client.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "never stored"}],
            extra_headers={"cache-control": "no-store"},
        )  # fmt: skip
        assert other.headers["x-failsoft-cache"] == "BYPASS"
        again = client.chat.completions.with_raw_response.create(
            model="gpt", messages=[{"role": "user", "content": "never stored"}]
        )
        assert again.headers["x-failsoft-cache"] == "MISS"
    assert sim.attempts("gpt-4o") == 5


def test_errors_truncations_and_broken_streams_are_never_cached(
    gw: GatewayThread, sim: SimServer
) -> None:
    with oai(gw) as client:
        sim.set_fault("gpt-4o", {"kind": "status", "status": 500, "count": 1})
        with pytest.raises(openai.InternalServerError):
            ask(client)
        assert ask(client).headers["x-failsoft-cache"] == "MISS"
        ask(client, max_tokens=3)  # finish_reason "length"
        assert ask(client, max_tokens=3).headers["x-failsoft-cache"] == "MISS"
        sim.set_fault("gpt-4o", {"kind": "cut", "after": 3, "stream": True, "count": 1})
        question = [{"role": "user", "content": "a stream that breaks"}]
        with pytest.raises(openai.APIError):
            list(client.chat.completions.create(model="gpt", messages=question, stream=True))
        again = client.chat.completions.with_raw_response.create(model="gpt", messages=question)
        assert again.headers["x-failsoft-cache"] == "MISS"


def test_callers_keys_are_kept_apart(gw: GatewayThread, sim: SimServer) -> None:
    with oai(gw, "key-one") as one, oai(gw, "key-two") as two:
        ask(one)
        assert ask(two).headers["x-failsoft-cache"] == "MISS"
        assert ask(one).headers["x-failsoft-cache"] == "HIT"
    assert sim.attempts("gpt-4o") == 2


def test_models_without_a_cache_say_nothing(gw: GatewayThread) -> None:
    with oai(gw) as client:
        raw = ask(client, model="plain")
    assert "x-failsoft-cache" not in raw.headers
    assert "x-failsoft-rung" not in raw.headers


def test_outage_serves_stale_answers(sim: SimServer) -> None:
    with (
        GatewayThread(config_for(sim, ttl=0.2)).running() as gw,
        oai(gw) as client,
        ant(gw) as aclient,
    ):
        seen = ask(client).parse().choices[0].message.content
        aclient.messages.create(model="claude", max_tokens=200, messages=HI)
        time.sleep(0.25)  # both answers are past their TTL, within stale_if_error
        sim.set_fault("*", {"kind": "status", "status": 503})
        stale = ask(client)
        assert stale.headers["x-failsoft-cache"] == "STALE"
        assert stale.headers["x-failsoft-rung"] == "stale"
        assert int(stale.headers["age"]) >= 0
        assert "openai/gpt-4o:503" in stale.headers["x-failsoft-trail"]
        assert stale.parse().choices[0].message.content == seen
        with aclient.messages.stream(model="claude", max_tokens=200, messages=HI) as stream:
            assert stream.get_final_message().stop_reason == "end_turn"
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(
                model="gpt", messages=[{"role": "user", "content": "never asked before"}]
            )
        sim.clear_faults()
        gw.runtime.router.state.reset()
        assert ask(client).headers["x-failsoft-cache"] == "MISS"  # fresh again
        assert ask(client).headers["x-failsoft-cache"] == "HIT"


def test_the_ladder_lighter_then_static(gw: GatewayThread, sim: SimServer) -> None:
    sim.set_fault("gpt-4.1", {"kind": "status", "status": 503})
    with oai(gw) as client:
        lighter = ask(client, model="laddered")
        assert lighter.headers["x-failsoft-rung"] == "lighter"
        assert lighter.parse().model == "gpt-4o-mini"
        assert lighter.headers["x-failsoft-trail"].startswith("openai/gpt-4.1:503")
        sim.set_fault("gpt-4o-mini", {"kind": "status", "status": 503})
        static = ask(client, model="laddered")
        assert static.headers["x-failsoft-rung"] == "static"
        assert static.parse().choices[0].message.content == "We are having trouble; try again soon."
        chunks = list(client.chat.completions.create(model="static-only", messages=HI, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == "We are having trouble; try again soon."
    with ant(gw) as aclient:
        message = aclient.messages.create(model="static-only", max_tokens=50, messages=HI)
        assert message.content[0].text == "We are having trouble; try again soon."  # type: ignore[union-attr]


def test_two_gateways_share_a_redis_cache(sim: SimServer) -> None:
    from tests.services import require

    require("Redis", "127.0.0.1", 6379)
    url = "redis://127.0.0.1:6379/14"
    config = config_for(sim, backend="redis", url=url)
    with GatewayThread(config).running() as first, GatewayThread(config).running() as second:
        question = [{"role": "user", "content": f"shared {time.time()}"}]
        with oai(first) as a, oai(second) as b:
            a.chat.completions.create(model="gpt", messages=question)
            raw = b.chat.completions.with_raw_response.create(model="gpt", messages=question)
    assert raw.headers["x-failsoft-cache"] == "HIT"
    assert sim.attempts("gpt-4o") == 1


def test_cache_metrics(gw: GatewayThread) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from tests.helpers import request

    with oai(gw) as client:
        ask(client)
        ask(client)
        ask(client, extra_headers={"cache-control": "no-store"})
    text = request(gw.url + "/metrics", method="GET").body.decode()
    found = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert found[("failsoft_cache_requests_total", (("result", "hit"),))] == 1
    assert found[("failsoft_cache_requests_total", (("result", "miss"),))] == 1
    assert found[("failsoft_cache_requests_total", (("result", "bypass"),))] == 1
    assert found[("failsoft_cache_entries", (("backend", "memory"),))] == 1
    assert found[("failsoft_cache_bytes", (("backend", "memory"),))] > 100


async def test_library_mode_uses_the_cache(sim: SimServer) -> None:
    from failsoft import Gateway

    async with Gateway(config_for(sim)) as gw:
        body = {"model": "gpt", "messages": HI}
        first = await gw.chat_completions(body)
        second = await gw.chat_completions(body)
    assert (first.cache, second.cache) == ("MISS", "HIT")
    assert second.rung == "targets"
    assert second.body == first.body

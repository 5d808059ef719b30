"""The semantic cache through a gateway, with the real offline model: a paraphrase of a
question answered before is a HIT, an unrelated question a MISS, and during an outage a
paraphrase gets the stored answer as STALE."""

from __future__ import annotations

import time
from collections.abc import Iterator

import openai
import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.cache.test_semantic import _require_semantic
from tests.conftest import PROVIDER_KEY

CONFIG = """
providers:
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
models:
  gpt:
    targets: [openai/gpt-4o]
    cache: {{ttl: {ttl}, stale_if_error: 3600, semantic: {{enabled: true}}}}
retry: {{max_attempts: 1}}
"""


def until(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.fixture
def gw(sim: SimServer, request: pytest.FixtureRequest) -> Iterator[GatewayThread]:
    _require_semantic()
    ttl = getattr(request, "param", 60)
    config = parse_config(CONFIG.format(sim=sim.url, key=PROVIDER_KEY, ttl=ttl))
    with GatewayThread(config).running() as gateway:
        semantic = gateway.runtime.cache.semantic
        assert until(lambda: semantic.ready, 120), "the embedding model did not load"
        yield gateway


def ask(client: openai.OpenAI, text: str) -> object:
    return client.chat.completions.with_raw_response.create(
        model="gpt", messages=[{"role": "user", "content": text}]
    )


def test_a_paraphrase_hits_and_an_unrelated_question_misses(
    gw: GatewayThread, sim: SimServer
) -> None:
    index = gw.runtime.cache.semantic.index
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as client:
        first = ask(client, "What is the capital of France?")
        assert first.headers["x-failsoft-cache"] == "MISS"  # type: ignore[attr-defined]
        assert until(lambda: len(index) == 1, 10)
        again = ask(client, "Which city is France's capital?")
        assert again.headers["x-failsoft-cache"] == "HIT"  # type: ignore[attr-defined]
        assert again.headers["x-failsoft-cache-match"].startswith("semantic 0.9")  # type: ignore[attr-defined]
        assert again.parse().choices[0].message.content == first.parse().choices[0].message.content  # type: ignore[attr-defined]
        other = ask(client, "How do I bake sourdough bread?")
        assert other.headers["x-failsoft-cache"] == "MISS"  # type: ignore[attr-defined]
        near = ask(client, "What is the capital of Germany?")
        assert near.headers["x-failsoft-cache"] == "MISS"  # type: ignore[attr-defined]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="other-tenant", max_retries=0) as client:
        assert ask(client, "Which city is France's capital?").headers["x-failsoft-cache"] == "MISS"  # type: ignore[attr-defined]
    assert sim.attempts("gpt-4o") == 4


@pytest.mark.parametrize("gw", [0.2], indirect=True)
def test_a_paraphrase_gets_a_stale_answer_during_an_outage(
    gw: GatewayThread, sim: SimServer
) -> None:
    index = gw.runtime.cache.semantic.index
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="k", max_retries=0) as client:
        seen = ask(client, "How do I reverse a list in Python?")
        assert until(lambda: len(index) == 1, 10)
        time.sleep(0.25)  # past the TTL
        sim.set_fault("gpt-4o", {"kind": "status", "status": 503})
        stale = ask(client, "What's the way to reverse a Python list?")
        assert stale.headers["x-failsoft-cache"] == "STALE"  # type: ignore[attr-defined]
        assert stale.headers["x-failsoft-rung"] == "semantic-stale"  # type: ignore[attr-defined]
        assert stale.parse().choices[0].message.content == seen.parse().choices[0].message.content  # type: ignore[attr-defined]
        with pytest.raises(openai.InternalServerError):
            ask(client, "How do I bake sourdough bread?")

"""The answer cache for Gemini callers through google-genai: hits, stream replays, a
streamed answer kept, per-key isolation (`x-goog-api-key` or `?key=`), the static rung."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import types

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import PROVIDER_KEY
from tests.helpers import request

CONFIG = """
providers:
  openai: {{dialect: openai, base_url: "{sim}/v1", api_key: "{key}"}}
  gemini: {{dialect: gemini, base_url: "{sim}", api_key: "{key}"}}
cache: {{ttl: 60, stale_if_error: 3600}}
models:
  gpt: [openai/gpt-4o]
  gem: [gemini/gemini-2.5-flash]
  static-only:
    targets: [openai/gpt-4.1]
    cache: {{enabled: false}}
    degrade: {{static: "We are having trouble; try again soon."}}
deadlines: {{connect: 1, first_token: 0.5, idle: 0.5, total: 8}}
retry: {{max_attempts: 1}}
"""
HI = "Tell me about caches"
BODY = {"contents": [{"role": "user", "parts": [{"text": HI}]}]}


@pytest.fixture
def gw(sim: SimServer) -> Iterator[GatewayThread]:
    config = parse_config(CONFIG.format(sim=sim.url, key=PROVIDER_KEY))
    with GatewayThread(config).running() as gateway:
        yield gateway


def client(gw: GatewayThread, key: str = "caller-a") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url))


def cache_header(response: Any) -> str:
    return str((response.sdk_http_response.headers or {}).get("x-failsoft-cache"))


@pytest.mark.parametrize(("model", "upstream"), [("gpt", "gpt-4o"), ("gem", "gemini-2.5-flash")])
def test_a_hit_and_a_stream_replayed_from_it(
    gw: GatewayThread, sim: SimServer, model: str, upstream: str
) -> None:
    with client(gw) as c:
        first = c.models.generate_content(model=model, contents=HI)
        second = c.models.generate_content(model=model, contents=HI)
        chunks = list(c.models.generate_content_stream(model=model, contents=HI))
    assert (cache_header(first), cache_header(second)) == ("MISS", "HIT")
    assert second.text == first.text
    assert "".join(chunk.text or "" for chunk in chunks) == first.text
    last = chunks[-1]
    assert last.candidates and last.candidates[0].finish_reason == types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert sim.attempts(upstream) == 1


def test_a_streamed_answer_is_kept(gw: GatewayThread, sim: SimServer) -> None:
    with client(gw) as c:
        streamed = "".join(
            ch.text or "" for ch in c.models.generate_content_stream(model="gpt", contents=HI)
        )
        hit = c.models.generate_content(model="gpt", contents=HI)
    assert cache_header(hit) == "HIT"
    assert hit.text == streamed
    assert sim.attempts("gpt-4o") == 1


def test_callers_keys_are_kept_apart(gw: GatewayThread, sim: SimServer) -> None:
    with client(gw, "key-one") as one, client(gw, "key-two") as two:
        one.models.generate_content(model="gpt", contents=HI)
        assert cache_header(two.models.generate_content(model="gpt", contents=HI)) == "MISS"
        assert cache_header(one.models.generate_content(model="gpt", contents=HI)) == "HIT"
    path = gw.url + "/v1beta/models/gpt:generateContent"
    assert request(path + "?key=key-three", body=BODY).headers["x-failsoft-cache"] == "MISS"
    assert request(path + "?key=key-three", body=BODY).headers["x-failsoft-cache"] == "HIT"
    assert sim.attempts("gpt-4o") == 3


def test_the_static_rung_answers_in_googles_shape(gw: GatewayThread, sim: SimServer) -> None:
    sim.set_fault("gpt-4.1", {"kind": "status", "status": 503})
    with client(gw) as c:
        answer = c.models.generate_content(model="static-only", contents=HI)
        chunks = list(c.models.generate_content_stream(model="static-only", contents=HI))
    assert answer.text == "We are having trouble; try again soon."
    assert "".join(ch.text or "" for ch in chunks) == answer.text
    raw = request(gw.url + "/v1beta/models/static-only:generateContent", body=BODY)
    assert raw.headers["x-failsoft-rung"] == "static"
    assert json.loads(raw.body)["modelVersion"] == "failsoft-static"

"""Caller keys (`auth:`) through the real SDKs: the right key answers; a missing, unknown or
expired key is a 401 and a model the key may not use a 403, each in the caller's dialect,
before anything reaches the simulator; `/v1/models` lists what the key may use; the key
never shows in the logs or /metrics."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator

import anthropic
import openai
import pytest
from google import genai
from google.genai import errors, types

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import make_config
from tests.helpers import request

TEAM = "team-" + "a1" * 20
LIMITED = "limited-" + "b2" * 20
EXPIRED = "expired-" + "c3" * 20
DIRECT = "direct-" + "d4" * 20
UNKNOWN = "unknown-" + "e5" * 20

AUTH = f"""
auth:
  keys:
    - {{name: team, key: "{TEAM}", metadata: {{owner: platform}}}}
    - {{name: limited, key: "{LIMITED}", models: ["claude*"]}}
    - {{name: expired, key: "{EXPIRED}", expires: "2020-01-01T00:00:00Z"}}
    - {{name: direct, key: "{DIRECT}", models: [gpt, "openai/*"]}}
"""
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture
def agw(make_gateway: Callable[[str], GatewayThread]) -> GatewayThread:
    return make_gateway(AUTH)


@pytest.fixture
def oai_for(agw: GatewayThread) -> Iterator[Callable[[str], openai.OpenAI]]:
    made: list[openai.OpenAI] = []

    def make(key: str) -> openai.OpenAI:
        client = openai.OpenAI(base_url=agw.url + "/v1", api_key=key, max_retries=0)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


@pytest.fixture
def ant_for(agw: GatewayThread) -> Iterator[Callable[[str], anthropic.Anthropic]]:
    made: list[anthropic.Anthropic] = []

    def make(key: str) -> anthropic.Anthropic:
        client = anthropic.Anthropic(base_url=agw.url, api_key=key, max_retries=0)
        made.append(client)
        return client

    yield make
    for c in made:
        c.close()


def test_the_right_key_answers_in_each_dialect(
    agw: GatewayThread,
    sim: SimServer,
    oai_for: Callable[[str], openai.OpenAI],
    ant_for: Callable[[str], anthropic.Anthropic],
) -> None:
    answer = oai_for(TEAM).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    message = ant_for(TEAM).messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert message.content
    response = oai_for(TEAM).responses.create(model="gpt", input="hello")
    assert response.output_text
    count = ant_for(TEAM).messages.count_tokens(model="claude", messages=HI)  # type: ignore[arg-type]
    assert count.input_tokens > 0
    options = types.HttpOptions(base_url=agw.url, timeout=10_000)
    with genai.Client(api_key=TEAM, http_options=options) as client:
        assert client.models.generate_content(model="gpt", contents="hello").text


@pytest.mark.parametrize("key", ["", UNKNOWN, EXPIRED])
def test_missing_unknown_or_expired_key_is_401_in_each_dialect(
    agw: GatewayThread,
    sim: SimServer,
    oai_for: Callable[[str], openai.OpenAI],
    ant_for: Callable[[str], anthropic.Anthropic],
    key: str,
) -> None:
    with pytest.raises(openai.AuthenticationError) as o:
        oai_for(key or "x").chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert o.value.code == "invalid_api_key"
    assert o.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(anthropic.AuthenticationError) as a:
        ant_for(key or "x").messages.create(model="claude", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert a.value.body["error"]["type"] == "authentication_error"  # type: ignore[index]
    options = types.HttpOptions(base_url=agw.url, timeout=10_000)
    with (
        genai.Client(api_key=key or "x", http_options=options) as client,
        pytest.raises(errors.ClientError) as g,
    ):
        client.models.generate_content(model="gpt", contents="hello")
    assert g.value.code == 401
    assert g.value.status == "UNAUTHENTICATED"
    assert sim.requests() == []


def test_no_key_header_at_all(agw: GatewayThread, sim: SimServer) -> None:
    body = {"model": "gpt", "messages": HI}
    response = request(agw.url + "/v1/chat/completions", body=body)
    assert response.status == 401
    assert json.loads(response.body)["error"]["code"] == "invalid_api_key"
    anthropic_answer = request(agw.url + "/v1/messages", body={**body, "max_tokens": 5})
    assert json.loads(anthropic_answer.body)["error"]["type"] == "authentication_error"
    for path in ("/v1/models", "/v1/responses"):
        method = "GET" if path == "/v1/models" else "POST"
        assert request(agw.url + path, method, body=None if method == "GET" else body).status == 401
    assert request(agw.url + "/healthz", "GET").status == 200
    assert sim.requests() == []


def test_a_model_outside_the_grants_is_403(
    agw: GatewayThread,
    sim: SimServer,
    oai_for: Callable[[str], openai.OpenAI],
    ant_for: Callable[[str], anthropic.Anthropic],
) -> None:
    with pytest.raises(openai.PermissionDeniedError) as o:
        oai_for(LIMITED).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    assert o.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(anthropic.PermissionDeniedError) as a:
        ant_for(LIMITED).messages.create(model="gpt", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert a.value.body["error"]["type"] == "permission_error"  # type: ignore[index]
    options = types.HttpOptions(base_url=agw.url, timeout=10_000)
    with (
        genai.Client(api_key=LIMITED, http_options=options) as client,
        pytest.raises(errors.ClientError) as g,
    ):
        client.models.generate_content(model="gpt", contents="hello")
    assert (g.value.code, g.value.status) == (403, "PERMISSION_DENIED")
    assert sim.requests() == []
    message = ant_for(LIMITED).messages.create(model="claude-one", max_tokens=50, messages=HI)  # type: ignore[arg-type]
    assert message.content


def test_direct_provider_models_only_when_granted(
    agw: GatewayThread, sim: SimServer, oai_for: Callable[[str], openai.OpenAI]
) -> None:
    with pytest.raises(openai.PermissionDeniedError):
        oai_for(TEAM).chat.completions.create(model="openai/gpt-4o", messages=HI)  # type: ignore[arg-type]
    assert sim.requests() == []
    answer = oai_for(DIRECT).chat.completions.create(model="openai/gpt-4o", messages=HI)  # type: ignore[arg-type]
    assert answer.choices[0].message.content
    with pytest.raises(openai.PermissionDeniedError):
        oai_for(DIRECT).chat.completions.create(model="anthropic/claude-opus-4-7", messages=HI)  # type: ignore[arg-type]


def test_models_lists_what_the_key_may_use(
    agw: GatewayThread,
    oai_for: Callable[[str], openai.OpenAI],
    ant_for: Callable[[str], anthropic.Anthropic],
) -> None:
    everything = {m.id for m in oai_for(TEAM).models.list()}
    assert {"gpt", "claude", "chain"} <= everything
    assert {m.id for m in oai_for(LIMITED).models.list()} == {"claude", "claude-one"}
    assert {m.id for m in ant_for(LIMITED).models.list()} == {"claude", "claude-one"}
    with pytest.raises(openai.AuthenticationError):
        oai_for(UNKNOWN).models.list()


def test_keys_never_in_logs_or_metrics(
    agw: GatewayThread,
    sim: SimServer,
    oai_for: Callable[[str], openai.OpenAI],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    oai_for(TEAM).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    for key in (UNKNOWN, EXPIRED):
        with pytest.raises(openai.AuthenticationError):
            oai_for(key).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    with pytest.raises(openai.PermissionDeniedError):
        oai_for(LIMITED).chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
    metrics = request(agw.url + "/metrics", "GET").body.decode()
    text = caplog.text + metrics
    for key in (TEAM, UNKNOWN, EXPIRED, LIMITED):
        assert key not in text
    refused = {getattr(r, "msg", "") for r in caplog.records if r.name == "failsoft.refusal"}
    assert any("refused=unauthenticated" in str(m) for m in refused), refused
    assert any("refused=forbidden_model" in str(m) for m in refused), refused
    access = [r.getMessage() for r in caplog.records if r.name == "failsoft.access"]
    assert any("key=team" in line for line in access), access


def test_the_cache_is_kept_per_key_name_and_survives_rotation(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    extra = AUTH + "cache: {enabled: true}\n"
    gw = make_gateway(extra)
    body = {"model": "gpt", "messages": HI, "temperature": 0}

    def ask(key: str) -> str:
        headers = {"authorization": f"Bearer {key}"}
        answer = request(gw.url + "/v1/chat/completions", body=body, headers=headers)
        assert answer.status == 200, answer.body
        return answer.headers["x-failsoft-cache"]

    assert ask(TEAM) == "MISS"
    assert ask(TEAM) == "HIT"
    assert ask(DIRECT) == "MISS"  # another key's answers are not shared
    rotated = "rotated-" + "f6" * 20
    config = make_config(sim.url, extra.replace(TEAM, rotated))
    gw.call(gw.runtime.reconfigure(config))
    assert (
        request(gw.url + "/v1/models", "GET", headers={"authorization": f"Bearer {TEAM}"}).status
        == 401
    )
    assert ask(rotated) == "HIT"  # the same name: the same cache


def test_gemini_list_get_and_count_follow_the_grants(agw: GatewayThread, sim: SimServer) -> None:
    options = types.HttpOptions(base_url=agw.url, timeout=10_000)
    with genai.Client(api_key=LIMITED, http_options=options) as client:
        names = {m.name for m in client.models.list()}
        assert names == {"models/claude", "models/claude-one"}
        with pytest.raises(errors.ClientError) as g:
            client.models.count_tokens(model="gpt", contents="hello")
        assert (g.value.code, g.value.status) == (403, "PERMISSION_DENIED")
        assert client.models.count_tokens(model="claude", contents="hello").total_tokens
    forbidden = request(agw.url + "/v1beta/models/gpt", "GET", headers={"x-goog-api-key": LIMITED})
    assert forbidden.status == 403
    assert json.loads(forbidden.body)["error"]["status"] == "PERMISSION_DENIED"
    with genai.Client(api_key=UNKNOWN, http_options=options) as client:
        with pytest.raises(errors.ClientError) as g:
            list(client.models.list())
        assert g.value.code == 401
    assert sim.requests() == []

"""Issue 17's bad-input attacks, each refused at the door (failsoft/validate): a 400 in the
caller's dialect, no upstream call, and the log line escaped and cut short. Raw HTTP and
the real SDKs against a gateway in front of the simulator."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import RawResponse, request
from tests.translate.conftest import TRANSLATE_CONFIG

JSON = {"content-type": "application/json"}
ANT = {**JSON, "anthropic-version": "2023-06-01", "x-api-key": "k"}
HI = [{"role": "user", "content": "hello"}]


@pytest.fixture(scope="module")
def door_server(sim_server: SimServer) -> Iterator[GatewayThread]:
    # Any `gemini/<name>` is served directly, so a Gemini target's name reaches the check
    # of what may go into its URL (without `direct`, an unplanned name is a 404 first).
    text = TRANSLATE_CONFIG.format(sim=sim_server.url, key=PROVIDER_KEY, extra="")
    text = text.replace("  gemini: {dialect: gemini,", '  gemini: {direct: ["*"], dialect: gemini,')
    assert 'direct: ["*"]' in text
    with GatewayThread(parse_config(text)).running() as gw:
        yield gw


@pytest.fixture
def gw(door_server: GatewayThread, sim: SimServer) -> GatewayThread:
    door_server.runtime.reset()
    return door_server


def post(gw: GatewayThread, path: str, body: bytes | dict[str, Any], ant: bool = False) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return request(gw.url + path, body=raw, headers=ANT if ant else JSON)


def openai_400(resp: RawResponse) -> str:
    assert resp.status == 400, resp.body
    error = resp.json()["error"]
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    return str(error["message"])


def anthropic_400(resp: RawResponse) -> str:
    assert resp.status == 400, resp.body
    body = resp.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    return str(body["error"]["message"])


def google_400(resp: RawResponse) -> str:
    assert resp.status == 400, resp.body
    error = resp.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    return str(error["message"])


def deep_body(model: str, depth: int) -> bytes:
    inner = b"[" * depth + b"]" * depth
    head = json.dumps({"model": model, "messages": HI, "max_tokens": 9})[:-1].encode()
    return head + b', "x_deep": ' + inner + b"}"


# ------------------------------------------------------------------------ nesting


@pytest.mark.parametrize("depth", [130, 254, 600, 2000])
@pytest.mark.parametrize("model", ["via-openai", "claude-then-gpt", "via-gemini"])
def test_deep_nesting_is_a_400_on_native_and_translated_paths(
    gw: GatewayThread, sim: SimServer, model: str, depth: int
) -> None:
    message = openai_400(post(gw, "/v1/chat/completions", deep_body(model, depth)))
    assert "deeper than 128 levels" in message or "not valid JSON" in message
    message = anthropic_400(post(gw, "/v1/messages", deep_body(model, depth), ant=True))
    assert "Traceback" not in message
    assert sim.requests() == []


def test_nesting_below_the_limit_passes(gw: GatewayThread, sim: SimServer) -> None:
    resp = post(gw, "/v1/chat/completions", deep_body("via-openai", 100))
    assert resp.status == 200, resp.body
    resp = post(gw, "/v1/messages", deep_body("via-anthropic", 100), ant=True)
    assert resp.status == 200, resp.body


def test_deep_gemini_and_responses_bodies(gw: GatewayThread, sim: SimServer) -> None:
    deep = b"[" * 200 + b"]" * 200
    body = b'{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"x":' + deep + b"}"
    assert "deeper than" in google_400(post(gw, "/v1beta/models/via-openai:generateContent", body))
    body = b'{"model":"via-openai","input":"hi","x":' + deep + b"}"
    assert "deeper than" in openai_400(post(gw, "/v1/responses", body))
    assert sim.requests() == []


# ------------------------------------------------------------------------ model names


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    names = ("failsoft.refusal", "failsoft.access")
    return [r.getMessage() for r in caplog.records if r.name in names]


def test_model_with_line_breaks_is_refused_and_logged_escaped(
    gw: GatewayThread, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    forged = "gpt-4o\r\nlevel=ERROR refused=forged"
    for model in (forged, "openai/" + forged, "openai/gpt-4o\x00"):
        body = {"model": model, "messages": HI}
        message = openai_400(post(gw, "/v1/chat/completions", body))
        assert message == "model: expected printable characters only, got a control character"
        body["max_tokens"] = 9
        anthropic_400(post(gw, "/v1/messages", body, ant=True))
    assert sim.requests() == []
    lines = refusal_lines(caplog)
    assert lines
    for text in lines:
        assert "\n" not in text and "\r" not in text and "\x00" not in text
    assert any('model="gpt-4o\\r\\nlevel=ERROR refused=forged"' in text for text in lines)


def test_a_long_model_name_is_refused_and_cut_in_the_log(
    gw: GatewayThread, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    model = "m" * 10_000
    message = openai_400(post(gw, "/v1/chat/completions", {"model": model, "messages": HI}))
    assert message == "model: expected at most 256 characters, got 10000"
    resp = request(gw.url + f"/v1beta/models/{model}:generateContent", body={"contents": []})
    assert "at most 256 characters" in google_400(resp)
    assert sim.requests() == []
    lines = refusal_lines(caplog)
    assert any("m" * 200 + "..." in text for text in lines)
    for text in lines:
        assert "m" * 201 not in text
    # 256 characters are fine as a name (unknown here, so a 404, not a 400)
    resp = post(gw, "/v1/chat/completions", {"model": "m" * 256, "messages": HI})
    assert resp.status == 404


@pytest.mark.parametrize("name", ["a?key=x", "a#b", "a%2Fb", "..%2F..%2Fx", "a/b", "a\\b"])
def test_gemini_target_names_stay_in_their_url_segment(
    gw: GatewayThread, sim: SimServer, name: str
) -> None:
    body = {"model": f"gemini/{name}", "messages": HI}
    message = openai_400(post(gw, "/v1/chat/completions", body))
    assert "a Gemini model name may not contain" in message
    assert sim.requests() == []
    # a Gemini URL that decodes to a control character
    resp = post(gw, "/v1beta/models/gemini%2Fx%0Ay:generateContent", {"contents": []})
    assert "printable" in google_400(resp)
    assert sim.requests() == []


def test_plain_gemini_direct_names_still_work(gw: GatewayThread, sim: SimServer) -> None:
    for model in ("gemini/gemini-2.5-flash", "gemini/models/gemini-2.5-flash"):
        resp = post(gw, "/v1/chat/completions", {"model": model, "messages": HI})
        assert resp.status == 200, resp.body


# ------------------------------------------------------------------------ shapes


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (
            {"messages": [{"role": "user", "content": {"text": "hi"}}]},
            "messages[0].content: expected a string or a list of content parts, got an object",
        ),
        ({"tools": "x"}, "tools: expected a list of tools, got a string"),
        ({"tools": ["x"]}, "tools[0]: expected a tool object, got a string"),
        ({"messages": ["hi"]}, "messages[0]: expected an object"),
        ({"messages": [{"role": 1, "content": "x"}]}, "messages[0].role: expected a string"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "messages[0].content[0]"),
        ({"max_tokens": "9"}, "max_tokens: expected an integer, got a string"),
        ({"max_tokens": True}, "max_tokens: expected an integer, got true or false"),
        ({"temperature": "hot"}, "temperature: expected a number"),
        ({"stream_options": []}, "stream_options: expected an object"),
    ],
)
@pytest.mark.parametrize("model", ["claude-then-gpt", "via-openai", "via-gemini"])
def test_openai_shapes_are_400_whatever_the_targets(
    gw: GatewayThread, sim: SimServer, model: str, extra: dict[str, Any], said: str
) -> None:
    body = {"model": model, "messages": HI, **extra}
    message = openai_400(post(gw, "/v1/chat/completions", body))
    assert said in message
    assert "attribute" not in message
    assert sim.requests() == []


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        ({"max_tokens": None}, "max_tokens: expected an integer, got null"),
        ({"system": {"text": "x"}}, "system: expected a string or a list of text blocks"),
        ({"system": ["x"]}, "system[0]: expected a content block"),
        ({"messages": [{"role": "user", "content": 5}]}, "messages[0].content: expected"),
        ({"messages": [{"role": "user", "content": [{"text": "x"}]}]}, "messages[0].content[0]"),
        ({"tools": {"name": "f"}}, "tools: expected a list of tools, got an object"),
    ],
)
@pytest.mark.parametrize("model", ["via-anthropic", "via-openai"])
def test_anthropic_shapes_are_400_whatever_the_targets(
    gw: GatewayThread, sim: SimServer, model: str, extra: dict[str, Any], said: str
) -> None:
    body = {"model": model, "messages": HI, "max_tokens": 9, **extra}
    assert said in anthropic_400(post(gw, "/v1/messages", body, ant=True))
    assert sim.requests() == []


def test_anthropic_requires_max_tokens(gw: GatewayThread, sim: SimServer) -> None:
    body = {"model": "via-anthropic", "messages": HI}
    assert anthropic_400(post(gw, "/v1/messages", body, ant=True)).startswith("max_tokens:")
    assert sim.requests() == []


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"input": ["hi"]}, "input[0]: expected an input item"),
        ({"input": [{"role": "user", "content": 5}]}, "input[0].content: expected"),
        ({"input": "hi", "tools": "x"}, "tools: expected a list of tools"),
        ({"input": "hi", "max_output_tokens": 1.5}, "max_output_tokens: expected an integer"),
    ],
)
def test_responses_shapes(gw: GatewayThread, sim: SimServer, body: Any, said: str) -> None:
    for model in ("via-responses", "via-anthropic"):
        assert said in openai_400(post(gw, "/v1/responses", {"model": model, **body}))
    assert sim.requests() == []


def test_unknown_fields_and_part_types_pass_to_same_dialect_targets(
    gw: GatewayThread, sim: SimServer
) -> None:
    part = {"type": "input_hologram", "hologram": {"id": "h1"}}
    body = {
        "model": "via-openai",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, part]}],
        "future_option": {"x": 1},
    }
    resp = post(gw, "/v1/chat/completions", body)
    assert resp.status == 200, resp.body
    sent = sim.requests()[-1].body
    assert sent["messages"][0]["content"][1] == part
    assert sent["future_option"] == {"x": 1}


def test_an_uncarried_system_block_is_a_warning(gw: GatewayThread, sim: SimServer) -> None:
    system = [{"type": "text", "text": "Be brief."}, {"type": "hologram", "data": "x"}]
    body = {"model": "via-openai", "messages": HI, "max_tokens": 9, "system": system}
    resp = post(gw, "/v1/messages", body, ant=True)
    assert resp.status == 200, resp.body
    assert "system[1] (hologram block)" in resp.headers["x-failsoft-warning"]


# ------------------------------------------------------------------------ the SDKs


def test_sdks_see_a_400(gw: GatewayThread, sim: SimServer) -> None:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key=CALLER_KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.chat.completions.create(
                model="claude-then-gpt",
                messages=[{"role": "user", "content": {"text": "hi"}}],  # type: ignore[typeddict-item]
            )
        assert caught.value.status_code == 400
        assert "messages[0].content" in caught.value.message
    with anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as client:
        with pytest.raises(anthropic.BadRequestError) as caught2:
            client.messages.create(model="gpt\r\n-then", max_tokens=9, messages=HI)  # type: ignore[arg-type]
        assert caught2.value.status_code == 400
        assert "printable" in caught2.value.message
    assert sim.requests() == []


def test_what_a_translator_cannot_read_is_a_400_without_python_words(
    gw: GatewayThread, sim: SimServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the door check misses: a translator's Python error (here a stand-in for a
    shape it did not expect) is a 400 in the caller's words, not a skip to a fallback of
    the caller's dialect, and not Python's words."""
    from failsoft.translate import bridge

    def unreadable(payload: dict[str, Any]) -> Any:
        raise AttributeError("'str' object has no attribute 'get'")

    monkeypatch.setitem(bridge._PARSE, "openai", unreadable)
    for model in ("via-anthropic", "claude-then-gpt"):
        message = openai_400(post(gw, "/v1/chat/completions", {"model": model, "messages": HI}))
        assert message == "the request does not have the shape the openai API documents"
    assert sim.requests() == []


def test_anthropic_block_fields_are_checked(gw: GatewayThread, sim: SimServer) -> None:
    image = {"type": "image", "source": "https://example.invalid/cat.png"}
    content = [{"type": "text", "text": "hi"}, image]
    for model in ("via-openai", "claude-then-gpt"):
        body = {"model": model, "max_tokens": 9, "messages": [{"role": "user", "content": content}]}
        message = anthropic_400(post(gw, "/v1/messages", body, ant=True))
        assert message == "messages[0].content[1].source: expected an object, got a string"
    assert sim.requests() == []

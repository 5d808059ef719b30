"""The Gemini surface through the real google-genai SDK, to targets of every dialect.

`via-gemini` gets the caller's bytes as they are; the others get the request translated and
answer in Gemini's shape. Each answer is read two ways: `generate_content` and
`generate_content_stream` (whose chunks the SDK hands over one by one, joined here). The
SDK is pointed at the gateway with `http_options.base_url` and sends nothing elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from google import genai
from google.genai import errors, types

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY
from tests.translate.sdk import QUESTION, REPORT_SCHEMA, WEATHER_SCHEMA, report

MODES = ("plain", "stream")
UPSTREAMS = {
    "openai": ("via-openai", "gpt-4o"),
    "anthropic": ("via-anthropic", "claude-opus-4-7"),
    "gemini": ("via-gemini", "gemini-2.5-flash"),
    "responses": ("via-responses", "gpt-5-pro"),
}
"""upstream dialect → (virtual model, the simulator's model behind it)"""
HI = "Say something about breakers"
OVERLOADED = {"kind": "status", "status": 529}
TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The current weather in a city.",
            parameters_json_schema=WEATHER_SCHEMA,
        )
    ]
)
OPENAPI_TOOL = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            description="The current weather in a city.",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"location": types.Schema(type=types.Type.STRING)},
                required=["location"],
            ),
        )
    ]
)


@pytest.fixture
def gclient(tgw: GatewayThread) -> Iterator[genai.Client]:
    options = types.HttpOptions(base_url=tgw.url, timeout=10_000)
    with genai.Client(api_key=CALLER_KEY, http_options=options) as client:
        yield client


@dataclass
class Answer:
    text: str
    calls: list[types.FunctionCall]
    finish: types.FinishReason | None
    model: str | None
    output_tokens: int | None
    content: types.Content


def ask(client: genai.Client, mode: str, model: str, contents: Any, **config: Any) -> Answer:
    """One answer, read as `mode` says, reduced to what every mode can tell."""
    settings = types.GenerateContentConfig(**config) if config else None
    if mode == "plain":
        response = client.models.generate_content(model=model, contents=contents, config=settings)
        chunks = [response]
    else:
        chunks = list(
            client.models.generate_content_stream(model=model, contents=contents, config=settings)
        )
    parts: list[types.Part] = []
    for chunk in chunks:
        assert chunk.candidates, chunk
        content = chunk.candidates[0].content
        parts += (content.parts or []) if content is not None else []
    last = chunks[-1]
    assert last.candidates is not None
    text = "".join(p.text for p in parts if p.text and not p.thought)
    calls = [p.function_call for p in parts if p.function_call is not None]
    usage = last.usage_metadata
    kept = [p for p in parts if p.text != ""]
    return Answer(
        text,
        calls,
        last.candidates[0].finish_reason,
        last.model_version,
        usage.candidates_token_count if usage is not None else None,
        types.Content(role="model", parts=kept),
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_plain_text(
    gclient: genai.Client, upstream: str, mode: str, direct: Callable[..., str], sim: SimServer
) -> None:
    virtual, model = UPSTREAMS[upstream]
    answer = ask(gclient, mode, virtual, HI)
    assert answer.text == direct(model, [{"role": "user", "content": HI}])
    assert answer.finish == types.FinishReason.STOP
    assert answer.model == model
    assert answer.output_tokens == len(answer.text.split(" "))
    [seen] = sim.requests(model)[:1]
    assert seen.dialect == ("openai" if upstream == "responses" else upstream)
    assert seen.path.endswith("/responses") == (upstream == "responses")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_system_instruction_and_settings_cross(
    gclient: genai.Client, upstream: str, mode: str, sim: SimServer
) -> None:
    virtual, model = UPSTREAMS[upstream]
    limit = 16 if upstream == "responses" else 5  # the least the Responses API takes
    answer = ask(
        gclient,
        mode,
        virtual,
        HI,
        system_instruction="Be brief.",
        temperature=0.2,
        max_output_tokens=limit,
        stop_sequences=["zzz"],
    )
    assert len(answer.text.split(" ")) <= limit
    if upstream != "responses":  # its 16 words may be the whole answer
        assert answer.finish == types.FinishReason.MAX_TOKENS
    [seen] = sim.requests(model)
    assert seen.outcome == "200"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
@pytest.mark.parametrize("tool", [TOOL, OPENAPI_TOOL], ids=["json-schema", "openapi"])
def test_tool_round_trip(
    gclient: genai.Client, upstream: str, mode: str, tool: types.Tool, sim: SimServer
) -> None:
    virtual, model = UPSTREAMS[upstream]
    first = ask(gclient, mode, virtual, QUESTION, tools=[tool])
    [call] = first.calls
    assert (call.name, call.args) == ("get_weather", {"location": "Paris"})
    history: list[Any] = [
        types.Content(role="user", parts=[types.Part.from_text(text=QUESTION)]),
        first.content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "sunny"})
            ],
        ),
    ]
    second = ask(gclient, mode, virtual, history, tools=[tool])
    assert second.text == f"Simulated answer from {model}: the tool said sunny."
    assert second.calls == []
    assert [r.outcome for r in sim.requests(model)] == ["200", "200"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("first", ["via-anthropic", "via-openai", "via-gemini3"])
def test_a_conversation_moves_to_gemini_3_with_its_calls_signed(
    gclient: genai.Client, mode: str, first: str, sim: SimServer
) -> None:
    """Gemini 3 refuses a history whose calls lost their thought signature: a call another
    dialect made carries Google's skip signature, one Gemini 3 made its own."""
    answer = ask(gclient, mode, first, QUESTION, tools=[TOOL])
    [part] = [p for p in answer.content.parts or [] if p.function_call is not None]
    assert part.thought_signature
    history: list[Any] = [
        types.Content(role="user", parts=[types.Part.from_text(text=QUESTION)]),
        answer.content,
        types.Content(
            role="user",
            parts=[
                types.Part.from_function_response(name="get_weather", response={"result": "rain"})
            ],
        ),
    ]
    second = ask(gclient, mode, "via-gemini3", history, tools=[TOOL])
    assert second.text == "Simulated answer from gemini-3-pro-preview: the tool said rain."
    assert sim.requests("gemini-3-pro-preview")[-1].outcome == "200"


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_json_mode_with_a_schema(
    gclient: genai.Client, upstream: str, mode: str, direct: Callable[..., str], sim: SimServer
) -> None:
    virtual, model = UPSTREAMS[upstream]
    answer = ask(
        gclient,
        mode,
        virtual,
        QUESTION,
        response_mime_type="application/json",
        response_schema={
            "type": "OBJECT",
            "properties": {
                "summary": {"type": "STRING"},
                "temperature": {"type": "NUMBER"},
                "sunny": {"type": "BOOLEAN"},
            },
            "required": ["summary", "temperature", "sunny"],
        },
    )
    expected = report(direct(model, [{"role": "user", "content": QUESTION}]))
    assert json.loads(answer.text) == expected


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_json_mode_with_a_json_schema(
    gclient: genai.Client, upstream: str, direct: Callable[..., str]
) -> None:
    virtual, model = UPSTREAMS[upstream]
    answer = ask(
        gclient,
        "plain",
        virtual,
        QUESTION,
        response_mime_type="application/json",
        response_json_schema=REPORT_SCHEMA,
    )
    expected = report(direct(model, [{"role": "user", "content": QUESTION}]))
    assert json.loads(answer.text) == expected


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("virtual", "down", "backup"),
    [
        ("claude-then-gpt", ["claude-opus-4-7", "claude-sonnet-4-5"], "gpt-4o"),
        ("claude-then-gemini", ["claude-opus-4-7"], "gemini-2.5-flash"),
        ("gpt-then-claude", ["gpt-4o"], "claude-opus-4-7"),
        ("gemini-then-gpt", ["gemini-3-pro-preview"], "gpt-4o"),
    ],
)
def test_overloaded_primary_fails_over_across_dialects(
    gclient: genai.Client,
    sim: SimServer,
    direct: Callable[..., str],
    mode: str,
    virtual: str,
    down: list[str],
    backup: str,
) -> None:
    for model in down:
        sim.set_fault(model, OVERLOADED)
    answer = ask(gclient, mode, virtual, HI)
    assert answer.text == direct(backup, [{"role": "user", "content": HI}])
    assert answer.model == backup
    assert all(sim.attempts(model) == 1 for model in down)


def test_failover_headers(gclient: genai.Client, sim: SimServer) -> None:
    sim.set_fault("gemini-3-pro-preview", OVERLOADED)
    response = gclient.models.generate_content(model="gemini-then-gpt", contents=HI)
    assert response.sdk_http_response is not None
    headers = response.sdk_http_response.headers or {}
    assert headers["x-failsoft-provider"] == "openai"
    assert "gemini/gemini-3-pro-preview:529" in headers["x-failsoft-trail"]


def test_a_stream_cut_before_its_first_content_fails_over(
    gclient: genai.Client, sim: SimServer, direct: Callable[..., str]
) -> None:
    sim.set_fault("gemini-3-pro-preview", {"kind": "cut", "after": 0, "stream": True})
    answer = ask(gclient, "stream", "gemini-then-gpt", HI)
    assert answer.text == direct("gpt-4o", [{"role": "user", "content": HI}])
    assert sim.attempts("gemini-3-pro-preview") == 1


@pytest.mark.parametrize(("virtual", "model"), [("via-openai", "gpt-4o"), UPSTREAMS["gemini"]])
def test_a_break_after_the_first_content_is_an_in_band_error(
    gclient: genai.Client, sim: SimServer, virtual: str, model: str
) -> None:
    """Translated or relayed as is, the caller gets the chunks so far, then Google's
    `{"error": ...}` chunk, which the SDK raises."""
    sim.set_fault(model, {"kind": "cut", "after": 3, "stream": True})
    seen: list[str] = []
    with pytest.raises(errors.ServerError) as info:
        for chunk in gclient.models.generate_content_stream(model=virtual, contents=HI):
            seen.append(chunk.text or "")
    assert "".join(seen) and f"Simulated answer from {model}".startswith("".join(seen))
    assert info.value.code == 503
    assert info.value.status == "UNAVAILABLE"
    assert "failsoft" in (info.value.message or "")


def test_every_target_down_is_503_unavailable(gclient: genai.Client, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", OVERLOADED)
    with pytest.raises(errors.ServerError) as info:
        gclient.models.generate_content(model="via-openai", contents=HI)
    assert (info.value.code, info.value.status) == (503, "UNAVAILABLE")


def test_a_refusal_from_another_dialect_is_said_in_googles_words(
    gclient: genai.Client, sim: SimServer
) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 400})
    with pytest.raises(errors.ClientError) as info:
        gclient.models.generate_content(model="via-openai", contents=HI)
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")


def test_an_unknown_model_is_404_not_found(gclient: genai.Client, sim: SimServer) -> None:
    with pytest.raises(errors.ClientError) as info:
        gclient.models.generate_content(model="no-such-model", contents=HI)
    assert (info.value.code, info.value.status) == (404, "NOT_FOUND")
    assert sim.requests() == []


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_count_tokens_is_an_estimate(gclient: genai.Client, upstream: str) -> None:
    virtual, _ = UPSTREAMS[upstream]
    counted = gclient.models.count_tokens(model=virtual, contents="hello there, world")
    assert counted.total_tokens == 5
    assert counted.sdk_http_response is not None
    assert (counted.sdk_http_response.headers or {})["x-failsoft-estimate"] == "true"


def test_the_model_list(gclient: genai.Client) -> None:
    names = [m.name for m in gclient.models.list()]
    assert "models/via-gemini" in names and "models/claude-then-gpt" in names
    assert gclient.models.get(model="via-openai").name == "models/via-openai"


@pytest.mark.parametrize(
    ("error_type", "status", "code"),
    [("overloaded_error", "UNAVAILABLE", 503), ("rate_limit_error", "RESOURCE_EXHAUSTED", 429)],
)
def test_an_upstream_in_band_error_is_said_in_googles_words(
    gclient: genai.Client, sim: SimServer, error_type: str, status: str, code: int
) -> None:
    fault = {"kind": "mid_stream_error", "after": 3, "error_type": error_type, "message": "busy"}
    sim.set_fault("claude-opus-4-7", fault)
    with pytest.raises(errors.APIError) as info:
        for _ in gclient.models.generate_content_stream(model="via-anthropic", contents=HI):
            pass
    assert (info.value.status, info.value.code, info.value.message) == (status, code, "busy")


@pytest.mark.parametrize(
    ("virtual", "model"),
    [("plain-openai", "gpt-4o"), ("plain-anthropic", "claude-opus-4-7"),
     ("plain-gemini", "gemini-2.5-flash"), ("plain-responses", "gpt-5-pro")],
)  # fmt: skip
def test_targets_that_do_not_stream_a_whole_answer(
    gclient: genai.Client, direct: Callable[..., str], virtual: str, model: str
) -> None:
    answer = ask(gclient, "plain", virtual, HI)
    assert answer.text == direct(model, [{"role": "user", "content": HI}])
    assert answer.model == model

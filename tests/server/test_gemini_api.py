"""The Gemini surface over raw HTTP: routes, refusals in Google's error shape, countTokens,
and callers' keys kept out of logs and answers (tests/translate/test_gemini_sdk.py drives
it with google-genai)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.helpers import request
from tests.translate.conftest import translate_config

SECRET = "AIzaSy-caller-secret-0123456789"
HI = {"contents": [{"role": "user", "parts": [{"text": "Say something about breakers"}]}]}


@pytest.fixture(scope="module")
def gemini_server(sim_server: SimServer) -> Iterator[GatewayThread]:
    with GatewayThread(translate_config(sim_server.url)).running() as gw:
        yield gw


@pytest.fixture
def ggw(gemini_server: GatewayThread, sim: SimServer) -> GatewayThread:
    gemini_server.runtime.reset()
    return gemini_server


def post(gw: GatewayThread, path: str, body: Any, **headers: str) -> Any:
    return request(gw.url + path, body=body, headers=headers or None)


def google_error(response: Any, status: int, name: str) -> str:
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    error = json.loads(response.body)["error"]
    assert (error["code"], error["status"]) == (status, name)
    return str(error["message"])


@pytest.mark.parametrize(
    "path",
    [
        "/v1beta/models/via-openai:generateContent",
        "/v1beta/models/models/via-openai:generateContent",
        "/v1/models/via-openai:generateContent",
        "/v1beta/models/openai%2Fgpt-4o:generateContent",
        "/v1beta/models/openai/gpt-4o:generateContent",
    ],
)
def test_routes_and_model_names(ggw: GatewayThread, sim: SimServer, path: str) -> None:
    response = post(ggw, path + f"?key={SECRET}", HI)
    assert response.status == 200, response.body
    answer = json.loads(response.body)
    assert answer["modelVersion"] == "gpt-4o"
    assert answer["candidates"][0]["finishReason"] == "STOP"
    assert sim.requests("gpt-4o")[0].outcome == "200"


def test_snake_case_fields_are_read(ggw: GatewayThread, sim: SimServer) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Say something about breakers"}]}],
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "generation_config": {"max_output_tokens": 3, "top_k": 5},
    }
    response = post(ggw, "/v1beta/models/via-anthropic:generateContent", body)
    assert response.status == 200, response.body
    answer = json.loads(response.body)
    assert answer["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert answer["usageMetadata"]["candidatesTokenCount"] == 3


def test_same_dialect_gets_the_callers_bytes(ggw: GatewayThread, sim: SimServer) -> None:
    body = {**HI, "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT",
                                      "threshold": "BLOCK_NONE"}]}  # fmt: skip
    response = post(ggw, "/v1beta/models/via-gemini:streamGenerateContent?alt=sse", body)
    assert response.status == 200, response.body
    assert "x-failsoft-warning" not in response.headers
    lines = [line for line in response.body.decode().splitlines() if line.strip()]
    assert all(line.startswith("data: {") for line in lines)
    assert json.loads(lines[-1][6:])["candidates"][0]["finishReason"] == "STOP"


def test_what_other_dialects_cannot_carry_is_dropped_with_a_warning(ggw: GatewayThread) -> None:
    body = {
        **HI,
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }
    response = post(ggw, "/v1beta/models/via-openai:generateContent", body)
    assert response.status == 200, response.body
    assert "dropped safetySettings" in response.headers["x-failsoft-warning"]


def test_gemini_only_tools_are_untranslatable(ggw: GatewayThread, sim: SimServer) -> None:
    body = {**HI, "tools": [{"googleSearch": {}}]}
    response = post(ggw, "/v1beta/models/via-openai:generateContent", body)
    message = google_error(response, 400, "INVALID_ARGUMENT")
    assert "googleSearch" in message
    assert sim.requests() == []


def test_a_malformed_part_is_refused_not_skipped(ggw: GatewayThread, sim: SimServer) -> None:
    """Found by the fuzz suite: a system text that is an object crashed the Responses
    translator, so the target was skipped and the fallback answered. Now a 400, no call."""
    body = {**HI, "systemInstruction": {"parts": [{"text": {"a": 1}}]}}
    response = post(ggw, "/v1beta/models/responses-then-claude:generateContent", body)
    message = google_error(response, 400, "INVALID_ARGUMENT")
    assert message.startswith("systemInstruction.parts[0].text: expected a string")
    assert sim.requests() == []


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "JSON object"),
        ({}, "contents: required"),
        ({"contents": "hi"}, "contents: expected a list of Content objects, got a string"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "role"),
        ({"contents": [{"role": "user", "parts": "x"}]}, "contents[0].parts: expected a list"),
        ({"contents": [{"role": "user", "parts": [{"functionResponse": {}}]}]}, "'name'"),
    ],
)
def test_malformed_input_is_400_in_googles_shape(
    ggw: GatewayThread, sim: SimServer, body: Any, words: str
) -> None:
    response = post(ggw, "/v1beta/models/via-openai:generateContent", body)
    assert words in google_error(response, 400, "INVALID_ARGUMENT")
    assert response.headers["x-should-retry"] == "false"
    assert sim.requests() == []


def test_a_json_array_stream_is_refused_saying_how(ggw: GatewayThread, sim: SimServer) -> None:
    response = post(ggw, "/v1beta/models/via-openai:streamGenerateContent", HI)
    assert "?alt=sse" in google_error(response, 400, "INVALID_ARGUMENT")
    assert sim.requests() == []


def test_bounded_model_names(ggw: GatewayThread) -> None:
    response = post(ggw, "/v1beta/models/" + "m" * 300 + ":generateContent", HI)
    assert "at most 256 characters" in google_error(response, 400, "INVALID_ARGUMENT")


def test_unknown_model_and_methods(ggw: GatewayThread) -> None:
    google_error(post(ggw, "/v1beta/models/nope:generateContent", HI), 404, "NOT_FOUND")
    google_error(post(ggw, "/v1beta/models/via-openai:embedContent", HI), 404, "NOT_FOUND")
    response = request(ggw.url + "/v1beta/models/via-openai:generateContent", "GET")
    google_error(response, 405, "INVALID_ARGUMENT")
    assert response.headers["allow"] == "POST"


def test_count_tokens_estimates(ggw: GatewayThread, sim: SimServer) -> None:
    path = "/v1beta/models/via-anthropic:countTokens"
    response = post(ggw, path, {"contents": [{"parts": [{"text": "a" * 40}]}]})
    assert response.status == 200
    assert response.headers["x-failsoft-estimate"] == "true"
    assert json.loads(response.body) == {"totalTokens": 10}
    image = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}
    response = post(ggw, path, {"contents": [{"parts": [{"text": "hi"}, image]}]})
    assert json.loads(response.body) == {"totalTokens": 1 + 258}
    wrapped = {"generateContentRequest": {"model": "models/x", **HI}}
    assert json.loads(post(ggw, path, wrapped).body)["totalTokens"] > 0
    assert json.loads(post(ggw, path, {"contents": []}).body) == {"totalTokens": 0}
    google_error(post(ggw, "/v1beta/models/nope:countTokens", HI), 404, "NOT_FOUND")
    google_error(post(ggw, path, b"{"), 400, "INVALID_ARGUMENT")
    assert sim.requests() == []


def test_model_list_in_googles_shape(ggw: GatewayThread) -> None:
    listed = json.loads(request(ggw.url + "/v1beta/models", "GET").body)
    assert {"name": "models/via-gemini"}.items() <= listed["models"][3].items()
    google = request(ggw.url + "/v1/models", "GET", headers={"x-goog-api-key": SECRET})
    assert json.loads(google.body) == listed
    openai = json.loads(request(ggw.url + "/v1/models", "GET").body)
    assert openai["object"] == "list"


def test_the_callers_key_is_never_logged_nor_echoed(
    ggw: GatewayThread, sim: SimServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    paths = [
        "/v1beta/models/via-openai:generateContent",
        "/v1beta/models/via-openai:streamGenerateContent?alt=sse",
        "/v1beta/models/nope:generateContent",
        "/v1beta/models/via-openai:streamGenerateContent",
        "/v1beta/models/via-openai:countTokens",
        "/v1beta/models/via-openai:nothing",
    ]
    bodies = []
    for path in paths:
        joiner = "&" if "?" in path else "?"
        bodies.append(post(ggw, f"{path}{joiner}key={SECRET}", HI).body)
        bodies.append(post(ggw, path, b"{", **{"x-goog-api-key": SECRET}).body)
    assert all(SECRET.encode() not in body for body in bodies)
    assert SECRET not in caplog.text
    assert all(SECRET not in (r.auth or "") for r in sim.requests())


def test_failsofts_own_refusals_say_their_status(ggw: GatewayThread) -> None:
    path = "/v1beta/models/via-openai:generateContent"
    response = request(ggw.url + path, body=b"{}", headers={"content-type": "text/plain"})
    google_error(response, 415, "INVALID_ARGUMENT")
    huge = {"contents": [{"parts": [{"text": "x" * (ggw.runtime.config.server.max_body_bytes)}]}]}
    google_error(post(ggw, path, huge), 413, "INVALID_ARGUMENT")


def test_other_v1_model_paths_stay_openais(ggw: GatewayThread) -> None:
    response = request(ggw.url + "/v1/models/via-openai", "GET")
    assert response.status == 404
    assert "type" in json.loads(response.body)["error"]
    google = request(ggw.url + "/v1/models/via-openai", "GET", headers={"x-goog-api-client": "x"})
    assert json.loads(google.body)["name"] == "models/via-openai"


CLI_TURN = {
    "contents": [
        {"role": "user", "parts": [{"text": "What's the weather in Paris?"}]},
        {
            "role": "model",
            "parts": [
                {"text": "Checking the weather tool", "thought": True},
                {
                    "functionCall": {"id": "c1", "name": "get_weather", "args": {"location": "Paris"}},
                    "thoughtSignature": "skip_thought_signature_validator",
                },
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"id": "c1", "name": "get_weather",
                                      "response": {"output": "sunny"}}}
            ],
        },
    ],
    "systemInstruction": {"role": "user", "parts": [{"text": "You are a CLI agent."}]},
    "tools": [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "The current weather in a city.",
                    "parametersJsonSchema": {
                        "type": "object",
                        "properties": {"location": {"type": "string"}},
                        "required": ["location"],
                    },
                }
            ]
        }
    ],
    "generationConfig": {
        "temperature": 0,
        "topP": 1,
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": -1},
    },
}  # fmt: skip
"""A turn shaped as Gemini CLI sends it: thoughts and signatures in the history, JSON
Schema tool parameters, a thinking config, call ids on calls and responses."""


@pytest.mark.parametrize(
    ("virtual", "model"),
    [("via-openai", "gpt-4o"), ("via-anthropic", "claude-opus-4-7"),
     ("via-responses", "gpt-5-pro"), ("via-gemini3", "gemini-3-pro-preview")],
)  # fmt: skip
def test_a_gemini_cli_turn_reaches_every_dialect(
    ggw: GatewayThread, sim: SimServer, virtual: str, model: str
) -> None:
    path = f"/v1beta/models/{virtual}:streamGenerateContent?alt=sse"
    response = post(ggw, path, CLI_TURN, **{"x-goog-api-key": SECRET})
    assert response.status == 200, response.body
    chunks = [json.loads(line[6:]) for line in response.body.decode().splitlines() if line]
    text = "".join(
        part.get("text", "")
        for chunk in chunks
        for part in chunk["candidates"][0]["content"].get("parts", [])
        if not part.get("thought")
    )
    assert text == f"Simulated answer from {model}: the tool said sunny."
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    assert chunks[-1]["usageMetadata"]["totalTokenCount"] > 0
    assert [r.outcome for r in sim.requests(model)] == ["200"]

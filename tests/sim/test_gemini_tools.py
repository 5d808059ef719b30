"""Gemini function calls: answers, streams, thought signatures and round trips."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp

from failsoft.sim import SimServer

from .helpers import GEMINI, GEMINI3, gemini_frames, gemini_path

WEATHER = {
    "name": "get_weather",
    "description": "Current weather",
    "parameters": {"type": "OBJECT", "properties": {"location": {"type": "STRING"}}},
}
TIME = {
    "name": "get_time",
    "parametersJsonSchema": {"type": "object", "properties": {"hours": {"type": "integer"}}},
}
QUESTION = {"role": "user", "parts": [{"text": "What's the weather in Paris?"}]}


def body(*contents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    tools = [{"functionDeclarations": [WEATHER, TIME]}]
    return {"contents": [QUESTION, *contents], "tools": tools, **extra}


async def generate(
    sim: SimServer, request: dict[str, Any], model: str = GEMINI, stream: bool = False
) -> Any:
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + gemini_path(model, stream=stream), json=request) as resp,
    ):
        raw = await resp.read()
        assert resp.status == 200, raw
    return gemini_frames(raw) if stream else json.loads(raw)


def parts(response: Any) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = response["candidates"][0]["content"]["parts"]
    return result


async def test_function_call_answer(sim: SimServer) -> None:
    response = await generate(sim, body())
    assert parts(response) == [
        {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}}
    ]
    assert response["candidates"][0]["finishReason"] == "STOP"
    assert response["usageMetadata"]["candidatesTokenCount"] == 3


async def test_function_call_stream(sim: SimServer) -> None:
    sim.set_model(GEMINI, tool_calls=2, tool_preface="On it.")
    *content, final = await generate(sim, body(), stream=True)
    texts = [parts(chunk) for chunk in content[:-1]]
    assert texts == [[{"text": "On"}], [{"text": " it."}]]
    assert parts(content[-1]) == [
        {"functionCall": {"name": "get_weather", "args": {"location": "Paris"}}},
        {"functionCall": {"name": "get_time", "args": {"hours": 1}}},
    ]
    assert "finishReason" not in content[-1]["candidates"][0]
    assert final["candidates"][0]["finishReason"] == "STOP"
    assert final["usageMetadata"]["candidatesTokenCount"] == 2 + 3 + 3
    whole = await generate(sim, body())
    assert [list(part) for part in parts(whole)] == [["text"], ["functionCall"], ["functionCall"]]


async def test_tool_config_modes(sim: SimServer) -> None:
    def config(mode: str, *names: str) -> dict[str, Any]:
        calling: dict[str, Any] = {"mode": mode}
        if names:
            calling["allowedFunctionNames"] = list(names)
        return {"toolConfig": {"functionCallingConfig": calling}}

    none = await generate(sim, body(**config("NONE")))
    assert parts(none)[0]["text"].startswith("Simulated answer")
    forced = await generate(sim, body(**config("ANY", "get_time")))
    assert parts(forced) == [{"functionCall": {"name": "get_time", "args": {"hours": 1}}}]
    auto = await generate(sim, body(**config("AUTO")))
    assert parts(auto)[0]["functionCall"]["name"] == "get_weather"
    snake = {
        "tool_config": {
            "function_calling_config": {"mode": "ANY", "allowed_function_names": ["get_time"]}
        }
    }
    assert parts(await generate(sim, body(**snake)))[0]["functionCall"]["name"] == "get_time"


async def test_gemini_3_signs_its_calls_and_accepts_them_back(sim: SimServer) -> None:
    sim.set_model(GEMINI3, tool_calls=2)
    called = parts(await generate(sim, body(), GEMINI3))
    signature = called[0]["thoughtSignature"]
    assert "thoughtSignature" not in called[1]  # parallel calls: only the first is signed
    assert 40 <= len(signature) <= 80
    assert signature.endswith("=")
    assert "+" in signature or "/" in signature
    base64.b64decode(signature, validate=True)
    again = parts(await generate(sim, body(), GEMINI3))
    assert again[0]["thoughtSignature"] == signature  # deterministic
    assert "thoughtSignature" not in parts(await generate(sim, body()))[0]  # 2.5: none
    results = {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"result": "15 C"}}},
            {"functionResponse": {"name": "get_time", "response": {"hour": 9}}},
        ],
    }
    answer = await generate(sim, body({"role": "model", "parts": called}, results), GEMINI3)
    assert parts(answer) == [
        {"text": f'Simulated answer from {GEMINI3}: the tool said 15 C; {{"hour":9}}.'}
    ]


async def test_a_mangled_signature_is_rejected(sim: SimServer) -> None:
    """A signature that is not the one issued; the same one in URL-safe base64 (what
    google-genai sends: proto JSON takes both) is accepted."""
    called = parts(await generate(sim, body(), GEMINI3))
    signature = called[0]["thoughtSignature"]
    urlsafe = signature.replace("+", "-").replace("/", "_").rstrip("=")
    results = {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}],
    }
    called[0]["thoughtSignature"] = urlsafe
    accepted = await generate(sim, body({"role": "model", "parts": called}, results), GEMINI3)
    assert "candidates" in accepted
    called[0]["thoughtSignature"] = ("B" if signature[0] == "A" else "A") + signature[1:]
    results = {
        "role": "user",
        "parts": [{"functionResponse": {"name": "get_weather", "response": {}}}],
    }
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            sim.url + gemini_path(GEMINI3), json=body({"role": "model", "parts": called}, results)
        ) as resp,
    ):
        error = (await resp.json())["error"]
    assert (resp.status, error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["message"].startswith("Corrupted thought signature.")


async def test_stall_counts_the_call_chunk_as_content(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "stall", "after": 1})
    received = bytearray()
    timeout = aiohttp.ClientTimeout(sock_read=0.3)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        try:
            async with http.post(sim.url + gemini_path(stream=True), json=body()) as resp:
                async for data in resp.content.iter_any():
                    received += data
        except TimeoutError:
            pass
    (chunk,) = gemini_frames(bytes(received))
    assert "functionCall" in parts(chunk)[0]
    assert sim.requests()[-1].outcome == "stall"

"""The Gemini dialect over real HTTP: routes, auth, validation, errors, stream framing.

There is no Gemini SDK in the environment, so these use aiohttp and check the bytes
against what Google sends (CRLF frames, no event names, no end marker).
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import openai
import pytest

from failsoft.sim import SimServer

from .helpers import GEMINI, GEMINI3, GPT, gemini_body, gemini_frames, gemini_path, gemini_text


async def post(
    sim: SimServer, path: str, body: object, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + path, json=body, headers=headers or {}) as resp,
    ):
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()


async def error_of(sim: SimServer, body: object, model: str = GEMINI) -> dict[str, Any]:
    status, _, raw = await post(sim, gemini_path(model), body)
    error: dict[str, Any] = json.loads(raw)["error"]
    assert status == error["code"]
    return error


# --- healthy answers -------------------------------------------------------------------


async def test_generate_content(sim: SimServer, oai: openai.OpenAI) -> None:
    status, headers, raw = await post(sim, gemini_path(), gemini_body())
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    response = json.loads(raw)
    assert set(response) == {"candidates", "usageMetadata", "modelVersion", "responseId"}
    (candidate,) = response["candidates"]
    assert candidate["finishReason"] == "STOP"
    assert candidate["index"] == 0
    assert candidate["content"]["role"] == "model"
    text = gemini_text(response)
    assert text.startswith(f"Simulated answer from {GEMINI}: ")
    usage = response["usageMetadata"]
    assert usage["candidatesTokenCount"] == len(text.split(" "))
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert response["modelVersion"] == GEMINI
    assert response["responseId"]
    # the same question gets the same words through every dialect
    same = oai.chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert text.split(" ")[4:] == (same.choices[0].message.content or "").split(" ")[4:]


async def test_max_output_tokens_cuts_the_answer(sim: SimServer) -> None:
    body = gemini_body(generationConfig={"maxOutputTokens": 3})
    response = json.loads((await post(sim, gemini_path(), body))[2])
    assert response["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert gemini_text(response) == "Simulated answer from"


async def test_sse_stream_framing(sim: SimServer) -> None:
    whole = gemini_text(json.loads((await post(sim, gemini_path(), gemini_body()))[2]))
    status, headers, raw = await post(sim, gemini_path(stream=True), gemini_body())
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    assert b"event:" not in raw
    assert b"[DONE]" not in raw
    *pieces, final = gemini_frames(raw)
    assert len(pieces) == len(whole.split(" "))
    assert "".join(gemini_text(chunk) for chunk in pieces) == whole
    prompt = pieces[0]["usageMetadata"]["promptTokenCount"]
    for chunk in pieces:
        assert "finishReason" not in chunk["candidates"][0]
        assert chunk["usageMetadata"] == {"promptTokenCount": prompt, "totalTokenCount": prompt}
    assert final["candidates"][0]["finishReason"] == "STOP"
    assert final["candidates"][0]["content"]["parts"] == [{"text": ""}]
    assert final["usageMetadata"]["candidatesTokenCount"] == len(pieces)
    assert len({chunk["responseId"] for chunk in [*pieces, final]}) == 1


async def test_stream_without_alt_sse_is_one_json_array(sim: SimServer) -> None:
    sse = gemini_frames((await post(sim, gemini_path(stream=True), gemini_body()))[2])
    status, headers, raw = await post(sim, gemini_path(stream=True, sse=False), gemini_body())
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert raw.startswith(b"[{") and raw.endswith(b"}]")
    chunks = json.loads(raw)
    assert [gemini_text(chunk) for chunk in chunks] == [gemini_text(chunk) for chunk in sse]
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.parametrize(
    "path",
    [
        f"/v1beta/models/{GEMINI}%3AgenerateContent",
        f"/v1beta/models%2F{GEMINI}:generateContent",
        f"/v1beta/models/models/{GEMINI}:generateContent",
    ],
)
async def test_model_comes_from_the_path_even_encoded(sim: SimServer, path: str) -> None:
    status, _, raw = await post(sim, path, gemini_body(model="models/ignored"))
    assert status == 200
    assert json.loads(raw)["modelVersion"] == GEMINI
    assert sim.requests()[-1].model == GEMINI


async def test_models_list_and_get(sim: SimServer) -> None:
    await post(sim, gemini_path(), gemini_body())
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.url + "/v1beta/models") as resp:
            listed = await resp.json()
        async with http.get(sim.url + f"/v1beta/models/{GEMINI}") as resp:
            one = await resp.json()
        async with http.get(sim.url + f"/v1beta/models/{GEMINI}:countTokens") as resp:
            assert resp.status == 404
            assert (await resp.json())["error"]["status"] == "NOT_FOUND"
        async with http.get(sim.url + gemini_path()) as resp:
            assert resp.status == 405
    methods = ["generateContent", "streamGenerateContent"]
    assert listed["models"][-1] == {
        "name": f"models/{GEMINI}",
        "displayName": GEMINI,
        "supportedGenerationMethods": methods,
    }
    assert [m["name"] for m in listed["models"]] == [f"models/{GPT}", f"models/{GEMINI}"]
    assert one["name"] == f"models/{GEMINI}"
    assert sim.attempts(GEMINI) == 1  # listing is not an attempt


async def test_api_key_header_or_query() -> None:
    with SimServer(api_key="right").run_in_thread() as sim:
        ok_header = await post(sim, gemini_path(), gemini_body(), {"x-goog-api-key": "right"})
        ok_query = await post(sim, gemini_path() + "?key=right", gemini_body())
        assert ok_header[0] == ok_query[0] == 200
        for path, headers in [
            (gemini_path(), {}),
            (gemini_path(), {"x-goog-api-key": "wrong"}),
            (gemini_path() + "?key=wrong", {}),
            (gemini_path(), {"authorization": "Bearer right"}),
        ]:
            status, _, raw = await post(sim, path, gemini_body(), headers)
            error = json.loads(raw)["error"]
            assert status == 400
            assert error["status"] == "INVALID_ARGUMENT"
            assert error["message"] == "API key not valid. Please pass a valid API key."
            info = error["details"][0]
            assert info["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"
            assert info["reason"] == "API_KEY_INVALID"
        async with aiohttp.ClientSession() as http:
            async with http.get(sim.url + "/v1beta/models") as resp:
                assert resp.status == 400
            async with http.get(sim.url + "/v1beta/models?key=right") as resp:
                assert resp.status == 200
        log = sim.requests()
        assert [r.auth for r in log[:2]] == ["x-goog-api-key", "key"]
        assert all("right" not in repr(r.to_dict()) for r in log)
        assert [r.outcome for r in log] == ["200", "200", "400", "400", "400", "400"]


# --- validation ----------------------------------------------------------------------------


def _with_part(part: object) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [part]}]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({"contents": []}, "* GenerateContentRequest.contents: contents is not specified\n"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
         "Please use a valid role: user, model."),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]},
         "Please use a valid role: user, model."),
        ({"contents": [{"role": "user", "parts": []}]},
         "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n"),
        ({"contents": [{"role": "user"}]},
         "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n"),
        (_with_part({"thoughtSignature": "abc"}),
         "* GenerateContentRequest.contents[0].parts[0].data: required oneof field 'data' must "
         "have one initialized field\n"),
        (_with_part({"functionResponse": {"response": {}}}),
         "* GenerateContentRequest.contents[0].parts[0].function_response.name: Name cannot be "
         "empty.\n"),
        (_with_part({"type": "text", "text": "x"}),
         "Invalid JSON payload received. Unknown name \"type\" at 'contents[0].parts[0]': Cannot "
         "find field."),
        ({"messages": [{"role": "user", "content": "x"}]},
         'Invalid JSON payload received. Unknown name "messages": Cannot find field.'),
        ({**gemini_body(), "generationConfig": {"max_tokens": 5}},
         "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': "
         "Cannot find field."),
        ({**gemini_body(), "toolConfig": {"functionCallingConfig": {"mode": "auto"}}},
         "Invalid value at 'tool_config.function_calling_config.mode' (type.googleapis.com/"
         'google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), "auto"'),
    ],
)  # fmt: skip
async def test_validation(sim: SimServer, body: dict[str, Any], message: str) -> None:
    error = await error_of(sim, body)
    assert error == {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}


async def test_snake_case_fields_are_accepted(sim: SimServer) -> None:
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "system_instruction": {"parts": [{"text": "Be terse."}]},
        "generation_config": {"max_output_tokens": 2, "thinking_config": {"thinking_budget": 0}},
    }
    status, _, raw = await post(sim, gemini_path(), body)
    assert status == 200
    assert gemini_text(json.loads(raw)) == "Simulated answer"


def _call(name: str = "f", signature: str | None = None) -> dict[str, Any]:
    part: dict[str, Any] = {"functionCall": {"name": name, "args": {}}}
    if signature is not None:
        part["thoughtSignature"] = signature
    return part


def _response(name: str = "f") -> dict[str, Any]:
    return {"functionResponse": {"name": name, "response": {"result": "ok"}}}


def _turns(*contents: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return {"contents": [{"role": role, "parts": parts} for role, parts in contents]}


async def test_function_turn_order_rules(sim: SimServer) -> None:
    question = ("user", [{"text": "q"}])
    orphan = await error_of(sim, _turns(question, ("user", [_response()])))
    assert orphan["message"] == (
        "Please ensure that function response turn comes immediately after a function call turn."
    )
    short = await error_of(
        sim, _turns(question, ("model", [_call(), _call("g")]), ("user", [_response()]))
    )
    assert short["message"] == (
        "Please ensure that the number of function response parts is equal to the number of "
        "function call parts of the function call turn."
    )
    misplaced = await error_of(
        sim, _turns(question, ("model", [{"text": "a"}]), ("model", [_call()]))
    )
    assert misplaced["message"].startswith("Please ensure that function call turn comes")
    fine = _turns(
        question, ("model", [_call(), _call("g")]), ("user", [_response(), _response("g")])
    )
    assert (await post(sim, gemini_path(), fine))[0] == 200


async def test_gemini_3_needs_thought_signatures(sim: SimServer) -> None:
    question = ("user", [{"text": "q"}])
    unsigned = _turns(question, ("model", [_call("lookup")]), ("user", [_response("lookup")]))
    assert (await post(sim, gemini_path(GEMINI), unsigned))[0] == 200  # 2.5: optional
    error = await error_of(sim, unsigned, GEMINI3)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"].startswith(
        "Function call is missing a thought_signature in functionCall parts. This is required "
        "for tools to work correctly"
    )
    assert "`default_api:lookup` , position 2." in error["message"]
    # the documented skip value passes; only the first of parallel calls needs one
    skip = _turns(
        question,
        ("model", [_call(signature="skip_thought_signature_validator"), _call("g")]),
        ("user", [_response(), _response("g")]),
    )
    assert (await post(sim, gemini_path(GEMINI3), skip))[0] == 200
    second_only = _turns(
        question,
        ("model", [_call(), _call("g", "skip_thought_signature_validator")]),
        ("user", [_response(), _response("g")]),
    )
    assert "missing a thought_signature" in (await error_of(sim, second_only, GEMINI3))["message"]
    forged = _turns(question, ("model", [_call(signature="EjQKMgE=")]), ("user", [_response()]))
    assert "Corrupted thought signature" in (await error_of(sim, forged, GEMINI3))["message"]


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "rpc", "message"),
    [
        (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        (401, "UNAUTHENTICATED", None),
        (403, "PERMISSION_DENIED", "The caller does not have permission"),
        (404, "NOT_FOUND",
         f"models/{GEMINI} is not found for API version v1beta, or is not supported for "
         "generateContent. Call ListModels to see the list of available models and their "
         "supported methods."),
        (408, "ABORTED", None),
        (409, "ABORTED", None),
        (429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
        (500, "INTERNAL",
         "An internal error has occurred. Please retry or report in "
         "https://developers.generativeai.google/guide/troubleshooting"),
        (502, "UNAVAILABLE", None),
        (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (504, "DEADLINE_EXCEEDED", None),
        (529, "UNAVAILABLE", None),
    ],
)  # fmt: skip
async def test_error_bodies_per_status(
    sim: SimServer, status: int, rpc: str, message: str | None
) -> None:
    sim.set_fault(GEMINI, {"kind": "status", "status": status})
    for path in (gemini_path(), gemini_path(stream=True)):
        code, headers, raw = await post(sim, path, gemini_body())
        assert code == status
        error = json.loads(raw)["error"]
        assert error["code"] == status
        assert error["status"] == rpc
        assert error["message"] == (message or error["message"])
        assert error["message"]
        assert "details" not in error
        assert headers["x-sim-request-id"].startswith("req_")


async def test_presets_retry_info_and_overrides(sim: SimServer) -> None:
    sim.set_fault(GEMINI, {"kind": "status", "body": "context_length"})
    assert (await error_of(sim, gemini_body()))["message"] == (
        "The input token count (250000) exceeds the maximum number of tokens allowed (1048576)."
    )
    sim.set_fault(GEMINI, {"kind": "status", "body": "content_policy"})
    policy = await error_of(sim, gemini_body())
    assert (policy["code"], policy["status"]) == (400, "INVALID_ARGUMENT")
    assert "safety" in policy["message"]
    sim.set_fault(GEMINI, {"kind": "status", "body": "insufficient_quota", "retry_after": 21})
    status, headers, raw = await post(sim, gemini_path(), gemini_body())
    quota = json.loads(raw)["error"]
    assert (status, quota["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert quota["message"].startswith(
        "You exceeded your current quota, please check your plan and billing details."
    )
    kinds = [detail["@type"].rsplit(".", 1)[1] for detail in quota["details"]]
    assert kinds == ["QuotaFailure", "Help", "RetryInfo"]
    violation = quota["details"][0]["violations"][0]
    assert violation["quotaId"] == "GenerateRequestsPerDayPerProjectPerModel-FreeTier"
    assert quota["details"][2]["retryDelay"] == "21s"
    assert headers["retry-after"] == "21"  # sent too, as for the other dialects
    sim.set_fault(
        GEMINI,
        {"kind": "status", "status": 503, "retry_after": 1.5, "message": "busy",
         "type": "RESOURCE_EXHAUSTED", "code": "CUSTOM_REASON"},
    )  # fmt: skip
    custom = await error_of(sim, gemini_body())
    assert (custom["message"], custom["status"]) == ("busy", "RESOURCE_EXHAUSTED")
    assert custom["details"] == [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CUSTOM_REASON",
         "domain": "googleapis.com"},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1.5s"},
    ]  # fmt: skip


async def test_request_log_and_counters(sim: SimServer) -> None:
    body = gemini_body(generationConfig={"temperature": 0.2})
    await post(sim, gemini_path(stream=True), body, {"x-goog-api-key": "k"})
    await post(sim, gemini_path(), {"contents": []})
    first, second = sim.requests()
    assert (first.dialect, first.model, first.stream, first.outcome) == (
        "gemini",
        GEMINI,
        True,
        "200",
    )
    assert first.path == f"/v1beta/models/{GEMINI}:streamGenerateContent"
    assert first.body == body
    assert (second.outcome, second.body) == ("400", {"contents": []})
    assert sim.stats()["models"][GEMINI] == {"attempts": 2, "outcomes": {"200": 1, "400": 1}}

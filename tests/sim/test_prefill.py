"""Prefills: conversations that end with an assistant turn, in every dialect.

A gateway resuming a broken stream sends the part it already has as a trailing assistant
turn; whether the model continues it, ignores it or refuses it depends on the provider,
so each of the `prefill` modes is pinned here as the SDKs (or a plain client) see it.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import anthropic
import openai
import pytest

from failsoft.sim import Scenario, SimServer, SpecError

from .helpers import GEMINI, GPT, MODEL, gemini_frames, gemini_path, gemini_text

Q = "Tell me about resumable streams"
REJECTED = (
    "This model does not support assistant message prefill. The conversation must end with "
    "a user message."
)


def full_text(client: anthropic.Anthropic, model: str = MODEL) -> str:
    """F: what the model answers the question without a prefill."""
    message = client.messages.create(
        model=model, max_tokens=100, messages=[{"role": "user", "content": Q}]
    )
    block = message.content[0]
    assert block.type == "text"
    return block.text


def prefilled(prefill: Any) -> list[Any]:
    return [{"role": "user", "content": Q}, {"role": "assistant", "content": prefill}]


def words(text: str) -> list[str]:
    """The pieces the simulator streams: each word but the first with its leading space."""
    first, *rest = text.split(" ")
    return [first, *(" " + word for word in rest)]


def said(error: anthropic.APIStatusError | openai.APIStatusError) -> str:
    """The error message in the body, as the API wrote it (the SDKs decorate `.message`)."""
    body: Any = error.body
    return str(body["error"]["message"] if "error" in body else body["message"])


def anthropic_text(message: Any) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


async def gemini_post(
    sim: SimServer, contents: list[Any], *, stream: bool = False
) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + gemini_path(stream=stream), json={"contents": contents}) as resp,
    ):
        return resp.status, await resp.read()


def gemini_contents(prefill: str | None) -> list[Any]:
    contents: list[Any] = [{"role": "user", "parts": [{"text": Q}]}]
    if prefill is not None:
        contents.append({"role": "model", "parts": [{"text": prefill}]})
    return contents


# --- auto: Anthropic and Gemini continue -------------------------------------------------


def test_anthropic_continues_a_prefill_without_repeating_it(ant: anthropic.Anthropic) -> None:
    full = full_text(ant)
    prefill = " ".join(full.split(" ")[:5])  # "Simulated answer from MODEL: w1"
    rest = full[len(prefill) :]
    assert rest.startswith(" ")  # the prefill was right-stripped: the rest keeps its space
    message = ant.messages.create(model=MODEL, max_tokens=100, messages=prefilled(prefill))
    assert anthropic_text(message) == rest
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == len(words(full)) - 5  # only what was generated
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=prefilled(prefill)) as stream:
        deltas = list(stream.text_stream)
        final = stream.get_final_message()
    assert deltas == words(full)[5:]
    assert final.usage.output_tokens == len(deltas)


def test_max_tokens_limits_the_continuation(ant: anthropic.Anthropic) -> None:
    full = full_text(ant)
    prefill = " ".join(full.split(" ")[:4])
    message = ant.messages.create(model=MODEL, max_tokens=3, messages=prefilled(prefill))
    assert anthropic_text(message) == "".join(words(full)[4:7])
    assert message.stop_reason == "max_tokens"
    assert message.usage.output_tokens == 3


def test_a_prefill_cut_inside_a_word_is_completed_word_by_word(
    ant: anthropic.Anthropic,
) -> None:
    full = full_text(ant)
    prefill = full[: len("Simulated answer fr")]
    with ant.messages.stream(model=MODEL, max_tokens=100, messages=prefilled(prefill)) as stream:
        deltas = list(stream.text_stream)
    assert deltas[:2] == ["om", f" {MODEL}:"]
    assert prefill + "".join(deltas) == full


def test_a_prefill_the_model_would_not_say_gets_the_whole_answer(
    ant: anthropic.Anthropic,
) -> None:
    full = full_text(ant)
    message = ant.messages.create(model=MODEL, max_tokens=100, messages=prefilled("Well,"))
    assert anthropic_text(message) == full
    blocks = [{"type": "text", "text": full}]  # the complete answer as a prefill
    done = ant.messages.create(model=MODEL, max_tokens=100, messages=prefilled(blocks))
    assert anthropic_text(done) == ""
    assert done.usage.output_tokens == 0


@pytest.mark.parametrize(
    "prefill", ["Simulated answer ", "Simulated\n", [{"type": "text", "text": "x\t"}]]
)
@pytest.mark.parametrize("mode", ["auto", "continue", "ignore", "reject"])
def test_anthropic_refuses_trailing_whitespace_in_a_prefill(
    sim: SimServer, ant: anthropic.Anthropic, prefill: Any, mode: str
) -> None:
    """Checked with the request validation, so it comes before `reject` too."""
    sim.set_model(MODEL, prefill=mode)
    with pytest.raises(anthropic.BadRequestError) as error:
        ant.messages.create(model=MODEL, max_tokens=100, messages=prefilled(prefill))
    assert error.value.type == "invalid_request_error"
    assert said(error.value) == (
        "messages: final assistant content cannot end with trailing whitespace"
    )
    assert sim.requests()[-1].outcome == "400"


async def test_gemini_continues_a_model_turn(sim: SimServer) -> None:
    status, raw = await gemini_post(sim, gemini_contents(None))
    assert status == 200
    full = gemini_text(json.loads(raw))
    prefill = full[: len("Simulated answer ")]  # Gemini accepts trailing whitespace
    status, raw = await gemini_post(sim, gemini_contents(prefill))
    assert status == 200
    response = json.loads(raw)
    assert gemini_text(response) == full[len(prefill) :]
    assert response["usageMetadata"]["candidatesTokenCount"] == len(words(full)) - 2
    status, raw = await gemini_post(sim, gemini_contents(prefill), stream=True)
    chunks = gemini_frames(raw)
    assert [gemini_text(chunk) for chunk in chunks[:2]] == ["from", f" {GEMINI}:"]
    assert prefill + "".join(gemini_text(chunk) for chunk in chunks) == full
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"


# --- auto: OpenAI ignores, unless vLLM's continue_final_message -------------------------


def openai_full(oai: openai.OpenAI) -> str:
    answer = oai.chat.completions.create(model=GPT, messages=[{"role": "user", "content": Q}])
    text = answer.choices[0].message.content
    assert text is not None
    return text


def test_openai_answers_afresh_by_default(oai: openai.OpenAI) -> None:
    full = openai_full(oai)
    prefill = " ".join(full.split(" ")[:5])
    answer = oai.chat.completions.create(model=GPT, messages=prefilled(prefill))
    assert answer.choices[0].message.content == full


VLLM = {"continue_final_message": True, "add_generation_prompt": False}


def test_openai_continues_with_vllms_continue_final_message(oai: openai.OpenAI) -> None:
    full = openai_full(oai)
    prefill = " ".join(full.split(" ")[:5])
    answer = oai.chat.completions.create(model=GPT, messages=prefilled(prefill), extra_body=VLLM)
    assert answer.choices[0].message.content == full[len(prefill) :]
    assert answer.usage is not None
    assert answer.usage.completion_tokens == len(words(full)) - 5
    chunks = list(
        oai.chat.completions.create(
            model=GPT,
            messages=prefilled(prefill),
            stream=True,
            stream_options={"include_usage": True},
            extra_body=VLLM,
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert prefill + text == full
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(words(full)) - 5
    # the flag only matters with a prefill: after a user turn it is an ordinary question
    plain = oai.chat.completions.create(
        model=GPT, messages=[{"role": "user", "content": Q}], extra_body=VLLM
    )
    assert plain.choices[0].message.content == full


@pytest.mark.parametrize(
    ("extra", "message", "param"),
    [
        ({"continue_final_message": True},
         "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
         "add_generation_prompt"),
        ({"continue_final_message": True, "add_generation_prompt": True},
         "Cannot set both `continue_final_message` and `add_generation_prompt` to True.",
         "add_generation_prompt"),
        ({"continue_final_message": "yes"},
         "Invalid type for 'continue_final_message': expected a boolean, but got a string "
         "instead.", "continue_final_message"),
        ({"add_generation_prompt": 0},
         "Invalid type for 'add_generation_prompt': expected a boolean, but got a number "
         "instead.", "add_generation_prompt"),
    ],
)  # fmt: skip
def test_vllm_flags_are_validated(
    sim: SimServer, oai: openai.OpenAI, extra: dict[str, Any], message: str, param: str
) -> None:
    with pytest.raises(openai.BadRequestError) as error:
        oai.chat.completions.create(model=GPT, messages=prefilled("Simulated"), extra_body=extra)
    assert said(error.value) == message
    assert error.value.param == param
    assert sim.requests()[-1].outcome == "400"
    # add_generation_prompt alone is accepted (it is vLLM's default)
    oai.chat.completions.create(
        model=GPT, messages=prefilled("Simulated"), extra_body={"add_generation_prompt": True}
    )


# --- the settings: continue, ignore, reject ---------------------------------------------


def test_continue_makes_openai_continue(sim: SimServer, oai: openai.OpenAI) -> None:
    full = openai_full(oai)
    sim.set_model(GPT, prefill="continue")
    prefill = full[: len("Simulated answer from")]
    answer = oai.chat.completions.create(model=GPT, messages=prefilled(prefill), max_tokens=2)
    assert answer.choices[0].message.content == "".join(words(full)[3:5])
    assert answer.choices[0].finish_reason == "length"


async def test_ignore_answers_afresh_in_every_dialect(
    sim: SimServer, ant: anthropic.Anthropic
) -> None:
    full = full_text(ant)
    prefill = " ".join(full.split(" ")[:5])
    sim.set_model(MODEL, prefill="ignore")
    message = ant.messages.create(model=MODEL, max_tokens=100, messages=prefilled(prefill))
    assert anthropic_text(message) == full
    assert message.usage.output_tokens == len(words(full))
    _, raw = await gemini_post(sim, gemini_contents(None))
    gemini_full = gemini_text(json.loads(raw))
    sim.set_model(GEMINI, prefill="ignore")
    _, raw = await gemini_post(sim, gemini_contents(gemini_full[:30]))
    assert gemini_text(json.loads(raw)) == gemini_full


async def test_reject_is_a_400_in_every_dialect(
    sim: SimServer, oai: openai.OpenAI, ant: anthropic.Anthropic
) -> None:
    for model in (MODEL, GPT, GEMINI):
        sim.set_model(model, prefill="reject")
        sim.set_fault(model, {"kind": "status", "status": 529, "count": 1})
    with pytest.raises(anthropic.BadRequestError) as a_error:
        ant.messages.create(model=MODEL, max_tokens=100, messages=prefilled("Simulated"))
    assert a_error.value.type == "invalid_request_error"
    assert said(a_error.value) == REJECTED
    with pytest.raises(openai.BadRequestError) as o_error:
        oai.chat.completions.create(model=GPT, messages=prefilled("Simulated"), stream=True)
    assert o_error.value.type == "invalid_request_error"
    assert said(o_error.value) == REJECTED
    status, raw = await gemini_post(sim, gemini_contents("Simulated"), stream=True)
    assert status == 400
    error = json.loads(raw)["error"]
    assert (error["status"], error["message"]) == ("INVALID_ARGUMENT", REJECTED)
    assert [(r.outcome, r.fault) for r in sim.requests()] == [("400", None)] * 3
    # validation comes first: the faults were not used up, and a user turn is answered
    assert all(entry["remaining"] == 1 for entry in sim.faults()["runtime"].values())
    with pytest.raises(anthropic.OverloadedError):
        ant.messages.create(model=MODEL, max_tokens=9, messages=[{"role": "user", "content": Q}])


def test_a_prefill_after_a_tool_result_continues_the_reply(
    sim: SimServer, oai: openai.OpenAI
) -> None:
    sim.set_model(GPT, prefill="continue")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    history: list[Any] = [
        {"role": "user", "content": Q},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "15 C"},
        {"role": "assistant", "content": f"Simulated answer from {GPT}: the tool"},
    ]
    answer = oai.chat.completions.create(model=GPT, messages=history)
    assert answer.choices[0].message.content == " said 15 C."


async def test_the_setting_is_validated_everywhere(sim: SimServer) -> None:
    with pytest.raises(SpecError, match=r"^m\.prefill: unknown prefill mode 'sometimes' "):
        sim.set_model("m", prefill="sometimes")
    with pytest.raises(SpecError, match=r"^m\.prefill: unknown prefill mode None"):
        sim.set_model("m", prefill=None)
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + "/_sim/models", json={"model": "m", "prefill": "rejct"}) as resp,
    ):
        assert resp.status == 400
        assert (await resp.json())["error"] == (
            "m.prefill: unknown prefill mode 'rejct' (expected one of: auto, continue, reject, "
            "ignore); did you mean 'reject'?"
        )
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + "/_sim/models", json={"model": "m", "prefill": "reject"}) as resp,
    ):
        assert (await resp.json())["settings"]["prefill"] == "reject"
    with pytest.raises(SpecError, match=r"^models\.m\.prefill: unknown prefill mode 'yes'"):
        Scenario.from_dict({"models": {"m": {"prefill": "yes"}}})
    sim.load_scenario(Scenario.from_dict({"defaults": {"prefill": "ignore"}}))
    async with (
        aiohttp.ClientSession() as http,
        http.post(sim.url + "/_sim/models", json={"model": "other"}) as resp,
    ):
        assert (await resp.json())["settings"]["prefill"] == "ignore"

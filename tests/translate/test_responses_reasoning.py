"""Reasoning state through a Responses caller, with the real openai SDK (and, at the end,
the reasoning knobs of Chat Completions and Anthropic callers).

Anthropic thinking comes back as `reasoning` items whose `encrypted_content` holds the
signed blocks; the caller returns them and a Responses → Anthropic tool loop with thinking
on keeps working (the simulator refuses a loop that lost them, as the API does). Gemini
thought signatures ride in call ids. `reasoning.effort` reaches every dialect that has a
knob for it; what cannot be carried is named in `x-failsoft-warning`.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.sim.anthropic_thinking import THINKING
from failsoft.translate import thinking
from tests.helpers import request
from tests.translate.sdk import MODES, OPENAI_TOOLS, QUESTION, ask_openai
from tests.translate.test_responses_sdk import HI, TOOLS, ask, calls, check_grammar, raw_events

CLAUDE = "claude-opus-4-7"
ANTHROPIC_HEADERS = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
LOW = {"effort": "low"}


def history(response: Any) -> list[Any]:
    """The answer's items as a caller sends them back."""
    return [item.model_dump(exclude_none=True) for item in response.output]


def result(call: Any, text: str = "sunny, 21°C") -> dict[str, Any]:
    return {"type": "function_call_output", "call_id": call.call_id, "output": text}


@pytest.mark.parametrize("mode", MODES)
def test_a_thinking_tool_loop_with_anthropic_keeps_working_after_its_first_turn(
    toai: openai.OpenAI, sim: SimServer, mode: str
) -> None:
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask(toai, mode, "via-anthropic", items, tools=TOOLS, reasoning=LOW)
    kinds = [item.type for item in first.output]
    assert kinds == ["reasoning", "function_call"], kinds
    reasoning = first.output[0]
    assert [s.text for s in reasoning.summary] == [THINKING]
    assert reasoning.encrypted_content.startswith(thinking.PREFIX)
    sent = sim.requests(CLAUDE)[-1].body
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": thinking.BUDGETS["low"]}
    assert sent["max_tokens"] > sent["thinking"]["budget_tokens"]

    [call] = calls(first)
    items += [*history(first), result(call)]
    second = ask(toai, mode, "via-anthropic", items, tools=TOOLS, reasoning=LOW)
    assert second.output_text == f"Simulated answer from {CLAUDE}: the tool said sunny, 21°C."
    assert [item.type for item in second.output] == ["reasoning", "message"]
    sent = sim.requests(CLAUDE)[-1].body
    assert "thinking" in sent
    [assistant] = [m for m in sent["messages"] if m["role"] == "assistant"]
    assert [b["type"] for b in assistant["content"]] == ["thinking", "tool_use"]
    assert assistant["content"][0]["thinking"] == THINKING
    assert [r.outcome for r in sim.requests(CLAUDE)] == ["200", "200"]


def test_an_altered_signature_reaches_anthropic_and_is_refused_there(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """Failsoft restores the block as the caller returned it; the signature is checked."""
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first = toai.responses.create(model="via-anthropic", input=items, tools=TOOLS, reasoning=LOW)
    [block] = thinking.decode(first.output[0].encrypted_content) or []
    forged = thinking.encode([{**block, "signature": "Zm9yZ2Vk"}])
    returned = [{**history(first)[0], "encrypted_content": forged}, *history(first)[1:]]
    with pytest.raises(openai.BadRequestError) as info:
        toai.responses.create(
            model="via-anthropic",
            input=[*items, *returned, result(calls(first)[0])],
            tools=TOOLS,
            reasoning=LOW,
        )
    assert "signature" in str(info.value.body)


def test_a_loop_returned_without_its_reasoning_item_turns_thinking_off_and_says_so(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first = toai.responses.create(model="via-anthropic", input=items, tools=TOOLS, reasoning=LOW)
    [call] = calls(first)
    items += [item for item in history(first) if item["type"] != "reasoning"] + [result(call)]
    raw = toai.responses.with_raw_response.create(
        model="via-anthropic", input=items, tools=TOOLS, reasoning=LOW
    )
    assert raw.parse().output_text.endswith("the tool said sunny, 21°C.")
    assert "reasoning.effort" in raw.headers["x-failsoft-warning"]
    assert "thinking" not in sim.requests(CLAUDE)[-1].body


def test_the_stream_carries_thinking_as_a_reasoning_item_in_order(
    tgw: GatewayThread, sim: SimServer
) -> None:
    body = {"model": "via-anthropic", "input": QUESTION, "tools": TOOLS, "reasoning": LOW}
    events = raw_events(tgw, body)
    check_grammar([data for _, data in events])
    kinds = [kind for kind, _ in events]
    start = kinds.index("response.output_item.added")
    words = len(THINKING.split(" "))
    assert kinds[start : start + 2 + words + 3] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        *["response.reasoning_summary_text.delta"] * words,
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    added, done = events[start][1], events[start + 2 + words + 2][1]
    assert added["item"]["type"] == "reasoning" and added["output_index"] == 0
    assert done["item"]["id"] == added["item"]["id"]
    assert done["item"]["summary"] == [{"type": "summary_text", "text": THINKING}]
    [restored] = thinking.decode(done["item"]["encrypted_content"]) or [{}]
    assert restored["type"] == "thinking" and restored["thinking"] == THINKING
    assert restored["signature"]
    deltas = "".join(d["delta"] for k, d in events if k.endswith("summary_text.delta"))
    assert deltas == THINKING
    final = events[-1][1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "function_call"]
    assert final["output"][0] == done["item"]


def test_the_sdk_stream_helper_keeps_the_reasoning_item(toai: openai.OpenAI) -> None:
    with toai.responses.stream(
        model="via-anthropic", input=QUESTION, tools=TOOLS, reasoning=LOW
    ) as stream:
        summary = "".join(
            e.delta for e in stream if e.type == "response.reasoning_summary_text.delta"
        )
        final = stream.get_final_response()
    assert summary == THINKING
    reasoning = final.output[0]
    assert reasoning.type == "reasoning"
    assert thinking.decode(reasoning.encrypted_content) is not None


@pytest.mark.parametrize("virtual", ["via-openai", "via-gemini"])
def test_anthropic_reasoning_items_are_dropped_quietly_elsewhere(
    toai: openai.OpenAI, sim: SimServer, virtual: str
) -> None:
    """A conversation that thought on Claude continues on another provider."""
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first = toai.responses.create(model="via-anthropic", input=items, tools=TOOLS, reasoning=LOW)
    items += [*history(first), result(calls(first)[0])]
    raw = toai.responses.with_raw_response.create(model=virtual, input=items, tools=TOOLS)
    assert raw.parse().output_text.endswith("the tool said sunny, 21°C.")
    assert "reasoning" not in raw.headers.get("x-failsoft-warning", "")
    assert thinking.PREFIX not in json.dumps(sim.requests()[-1].body)


@pytest.mark.parametrize("mode", MODES)
def test_gemini_thought_signatures_survive_a_responses_caller(
    toai: openai.OpenAI, sim: SimServer, mode: str
) -> None:
    items: list[Any] = [{"role": "user", "content": QUESTION}]
    first = ask(toai, mode, "via-gemini3", items, tools=TOOLS)
    [call] = calls(first)
    assert "__sig__" in call.call_id
    items += [*history(first), result(call, "fog")]
    second = ask(toai, mode, "via-gemini3", items, tools=TOOLS)
    assert second.output_text == "Simulated answer from gemini-3-pro-preview: the tool said fog."
    sent = sim.requests("gemini-3-pro-preview")[-1].body
    [part] = [p for c in sent["contents"] for p in c["parts"] if "functionCall" in p]
    assert part["thoughtSignature"] not in (None, "skip_thought_signature_validator")


def test_reasoning_effort_reaches_an_openai_chat_target(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    raw = toai.responses.with_raw_response.create(
        model="via-o4", input=QUESTION, reasoning={"effort": "high", "summary": "auto"}
    )
    assert raw.parse().status == "completed"
    assert sim.requests("o4-mini")[-1].body["reasoning_effort"] == "high"
    warning = raw.headers["x-failsoft-warning"]
    assert "reasoning.summary" in warning and "reasoning.effort" not in warning


@pytest.mark.parametrize("mode", MODES)
def test_a_chat_model_that_refuses_reasoning_effort_does_not_get_it(
    toai: openai.OpenAI, sim: SimServer, mode: str
) -> None:
    """gpt-4o refuses the field (the simulator too); the answer comes, with a warning."""
    raw = toai.responses.with_raw_response.create(
        model="via-openai", input=QUESTION, reasoning={"effort": "high"}
    )
    assert raw.parse().status == "completed"
    assert "reasoning_effort" not in sim.requests("gpt-4o")[-1].body
    assert "dropped reasoning.effort (gpt-4o" in raw.headers["x-failsoft-warning"]
    answer = ask(toai, mode, "via-openai", QUESTION, reasoning={"effort": "high"})
    assert answer.status == "completed"


def test_reasoning_effort_reaches_gemini_as_a_thinking_budget(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    toai.responses.create(model="via-gemini", input=QUESTION, reasoning={"effort": "medium"})
    config = sim.requests("gemini-2.5-flash")[-1].body["generationConfig"]
    assert config["thinkingConfig"] == {"thinkingBudget": thinking.BUDGETS["medium"]}


@pytest.mark.parametrize(
    ("tools", "choice"),
    [
        ([{"type": "web_search"}, *TOOLS], {"type": "web_search"}),
        ([{"type": "file_search", "vector_store_ids": ["vs_1"]}], "required"),
        ([{"type": "code_interpreter", "container": {"type": "auto"}}], {"type": "code_interpreter"}),
    ],
)  # fmt: skip
def test_a_request_that_needs_a_hosted_tool_is_refused(
    toai: openai.OpenAI, sim: SimServer, tools: list[Any], choice: Any
) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        toai.responses.create(
            model="via-anthropic", input=QUESTION, tools=tools, tool_choice=choice
        )
    assert "hosted" in str(info.value.body)
    assert sim.requests(CLAUDE) == []


def test_hosted_tools_the_request_can_do_without_are_dropped_with_a_warning(
    toai: openai.OpenAI,
) -> None:
    raw = toai.responses.with_raw_response.create(
        model="via-anthropic",
        input=QUESTION,
        tools=[{"type": "web_search"}, *TOOLS],
        tool_choice="required",
    )
    assert calls(raw.parse())
    assert "web_search" in raw.headers["x-failsoft-warning"]


@pytest.mark.parametrize(
    ("virtual", "extra", "named"),
    [
        ("via-anthropic", {"metadata": {"run": "7"}}, "metadata"),
        ("via-openai", {"metadata": {"run": "7"}}, "metadata"),
        ("via-gemini", {"metadata": {"run": "7"}}, "metadata"),
        ("via-openai", {"include": ["message.output_text.logprobs"]}, "include"),
        ("via-anthropic", {"background": True}, "background"),
        ("via-gemini", {"reasoning": {"effort": "none"}}, "reasoning.effort"),
    ],
)
def test_what_is_dropped_is_named(
    toai: openai.OpenAI, virtual: str, extra: dict[str, Any], named: str
) -> None:
    raw = toai.responses.with_raw_response.create(model=virtual, input=QUESTION, **extra)
    assert raw.parse().status == "completed"
    assert named in raw.headers["x-failsoft-warning"]


def test_encrypted_content_is_asked_for_without_a_warning(toai: openai.OpenAI) -> None:
    raw = toai.responses.with_raw_response.create(
        model="via-anthropic", input=QUESTION, include=["reasoning.encrypted_content"]
    )
    assert "x-failsoft-warning" not in raw.headers


def test_warnings_about_hostile_field_names_stay_a_short_printable_header(
    tgw: GatewayThread,
) -> None:
    """Field names are the caller's: control characters once broke the response."""
    body: dict[str, Any] = {"model": "via-anthropic", "input": "hi", "a\r\nx-evil": 1}
    body.update({f"field_{n}_" + "x" * 200: n for n in range(500)})
    response = request(tgw.url + "/v1/responses", body=body)
    assert response.status == 200, response.body
    assert "x-evil" not in response.headers
    warning = response.headers["x-failsoft-warning"]
    assert "a??x-evil" in warning and warning.endswith("more warnings left out")
    assert len(warning) < 4000


# --------------------------------------------------------------------------- other callers


def test_a_chat_caller_s_reasoning_effort_turns_on_anthropic_thinking(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """The thinking is not the chat caller's to keep, so the next tool turn thinks no more
    (Anthropic refuses a thinking loop without the block), and says so."""
    messages: list[Any] = [{"role": "user", "content": QUESTION}]
    first = toai.chat.completions.create(
        model="via-anthropic", messages=messages, tools=OPENAI_TOOLS, reasoning_effort="medium"
    )
    assert sim.requests(CLAUDE)[-1].body["thinking"]["budget_tokens"] == thinking.BUDGETS["medium"]
    message = first.choices[0].message
    [call] = message.tool_calls or []
    messages += [
        message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "rain"},
    ]
    raw = toai.chat.completions.with_raw_response.create(
        model="via-anthropic", messages=messages, tools=OPENAI_TOOLS, reasoning_effort="medium"
    )
    assert (
        raw.parse().choices[0].message.content
        == f"Simulated answer from {CLAUDE}: the tool said rain."
    )
    assert "reasoning.effort" in raw.headers["x-failsoft-warning"]


def test_an_anthropic_caller_s_thinking_budget_becomes_an_effort(
    tgw: GatewayThread, sim: SimServer
) -> None:
    body = {
        "model": "via-o4",
        "max_tokens": 20000,
        "thinking": {"type": "enabled", "budget_tokens": 16000},
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = request(tgw.url + "/v1/messages", body=body, headers=ANTHROPIC_HEADERS)
    assert response.status == 200, response.body
    assert sim.requests("o4-mini")[-1].body["reasoning_effort"] == "high"
    assert "x-failsoft-warning" not in response.headers


@pytest.mark.parametrize("mode", MODES)
def test_a_chat_caller_reads_a_thinking_answer_without_the_thinking(
    toai: openai.OpenAI, sim: SimServer, mode: str
) -> None:
    answer = ask_openai(toai, mode, "via-anthropic", [{"role": "user", "content": HI}],
                        reasoning_effort="low")  # fmt: skip
    assert "thinking" in sim.requests(CLAUDE)[-1].body
    assert answer.text.startswith(f"Simulated answer from {CLAUDE}")
    assert THINKING not in answer.text

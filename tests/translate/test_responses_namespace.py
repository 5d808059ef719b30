"""Responses `namespace` tools, flattened for other dialects and their calls mapped back.

The shape of a namespaced call is the openai SDK's: a `function_call` (or
`custom_tool_call`) item whose `name` is the inner tool's and whose `namespace` is the
group's (`ResponseFunctionToolCall.namespace`)."""

from __future__ import annotations

import json
import re
from typing import Any

import openai
import pytest
from openai.types.responses import Response as SDKResponse
from openai.types.responses import ResponseInputItemParam
from pydantic import TypeAdapter

from failsoft.sim import SimServer
from failsoft.translate import TargetOptions, translate
from failsoft.translate.bridge import Translation
from failsoft.translate.ir import Response, ToolCall, Usage
from failsoft.translate.responses import parse_request
from failsoft.translate.responses_answer import build_response
from failsoft.translate.responses_namespace import MAX_NAME, Flattened, flat_name
from failsoft.translate.responses_stream import ResponsesEncoder
from failsoft.types import ChatRequest
from tests.translate.sdk import MODES
from tests.translate.test_responses_sdk import ask

ITEMS: Any = TypeAdapter(list[ResponseInputItemParam])
VALID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")
"""A name every provider takes (Gemini's rule, the narrowest)."""

AGENTS: dict[str, Any] = {
    "type": "namespace",
    "name": "multi_agent_v1",
    "description": "Sub-agents.",
    "tools": [
        {
            "type": "function",
            "name": "close_agent",
            "description": "Close an agent.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
        },
        {"type": "custom", "name": "note", "description": "A free-form note."},
    ],
}
SHELL: dict[str, Any] = {"type": "function", "name": "shell", "parameters": {"type": "object"}}


def test_inner_tools_become_tools_of_their_own() -> None:
    request = parse_request({"input": "hi", "tools": [SHELL, AGENTS]})
    names = [tool.name for tool in request.tools]
    assert names == ["shell", "multi_agent_v1__close_agent", "multi_agent_v1__note"]
    assert request.namespaced == {
        "multi_agent_v1__close_agent": ("multi_agent_v1", "close_agent"),
        "multi_agent_v1__note": ("multi_agent_v1", "note"),
    }
    close, note = request.tools[1:]
    assert close.parameters["properties"] == {"id": {"type": "string"}}
    assert close.description is not None and "Close an agent." in close.description
    assert "Sub-agents." in close.description  # the namespace's own description is kept
    assert note.freeform
    assert request.dropped == []


@pytest.mark.parametrize("target", ["anthropic", "openai", "gemini"])
def test_every_dialect_gets_the_flat_tools(target: str) -> None:
    payload = {"model": "m", "input": "hi", "tools": [AGENTS]}
    request = ChatRequest("responses", "m", False, payload, json.dumps(payload).encode())
    translation = translate(request, TargetOptions(target))
    body = json.dumps(translation.payload)
    assert "multi_agent_v1__close_agent" in body and '"namespace"' not in body
    assert translation.namespaced["multi_agent_v1__close_agent"] == (
        "multi_agent_v1",
        "close_agent",
    )
    assert translation.freeform == frozenset({"multi_agent_v1__note"})


def test_a_forced_member_is_forced_by_its_flat_name() -> None:
    choice = {"type": "function", "name": "close_agent"}
    request = parse_request({"input": "hi", "tools": [SHELL, AGENTS], "tool_choice": choice})
    assert request.tool_choice is not None
    assert request.tool_choice.name == "multi_agent_v1__close_agent"
    request = parse_request({"input": "hi", "tools": [SHELL, AGENTS],
                             "tool_choice": {"type": "function", "name": "shell"}})  # fmt: skip
    assert request.tool_choice is not None and request.tool_choice.name == "shell"


def test_names_are_valid_everywhere_and_unique() -> None:
    long = "n" * 80
    flattened = Flattened()
    taken: set[str] = {"a__b"}  # a top-level tool already has the plain flat name
    names = [
        flattened.add("a", "b", taken),
        flattened.add("a.b", "c d", taken),
        flattened.add("9lives", "x", taken),
        flattened.add(long, "close", taken),
        flattened.add(long, "open", taken),
    ]
    assert len(set(names)) == len(names) == len(taken) - 1
    assert all(VALID.match(name) for name in names), names
    assert names[0] != "a__b" and names[0].startswith("a__b_")
    assert names[1] == "a_b__c_d"
    assert max(len(name) for name in names) <= MAX_NAME
    assert flattened.add("a", "b", taken) == names[0]  # the same tool, the same name


def test_a_history_call_in_a_namespace_goes_out_under_the_flat_name() -> None:
    items: list[Any] = [
        {"role": "user", "content": "close it"},
        {"type": "function_call", "call_id": "c1", "name": "close_agent",
         "namespace": "multi_agent_v1", "arguments": '{"id": "a1"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "closed"},
    ]  # fmt: skip
    ITEMS.validate_python(items)  # the shape the SDK itself sends
    request = parse_request({"input": items, "tools": [AGENTS]})
    [call] = request.messages[1].content
    assert isinstance(call, ToolCall)
    assert call.name == "multi_agent_v1__close_agent"
    # A namespace no longer declared still gets the same flat name.
    request = parse_request({"input": items, "tools": []})
    assert request.messages[1].content[0].name == flat_name("multi_agent_v1", "close_agent")  # type: ignore[union-attr]


def _answer() -> Response:
    return Response(
        id="r1",
        model="claude",
        content=[ToolCall("c1", "multi_agent_v1__close_agent", {"id": "a1"}),
                 ToolCall("c2", "multi_agent_v1__note", {"input": "hello"})],
        stop="tool_use",
        usage=Usage(3, 4),
    )  # fmt: skip


def _origin() -> dict[str, tuple[str, str]]:
    return parse_request({"input": "hi", "tools": [AGENTS]}).namespaced


def test_a_whole_answer_names_the_call_as_openai_would() -> None:
    freeform = frozenset({"multi_agent_v1__note"})
    out = build_response(_answer(), freeform, _origin())
    SDKResponse.model_validate(out)
    close, note = out["output"]
    assert (close["type"], close["name"], close["namespace"]) == (
        "function_call",
        "close_agent",
        "multi_agent_v1",
    )
    assert json.loads(close["arguments"]) == {"id": "a1"}
    assert (note["type"], note["name"], note["namespace"], note["input"]) == (
        "custom_tool_call",
        "note",
        "multi_agent_v1",
        "hello",
    )


def test_a_stream_names_the_call_as_openai_would() -> None:
    encoder = ResponsesEncoder(0, frozenset(), _origin())
    encoder.start("r1", "claude", Usage())
    encoder.tool_start(0, "c1", "multi_agent_v1__close_agent")
    encoder.tool_args(0, '{"id": "a1"}')
    encoder.block_stop(0)
    encoder.finish("tool_use", None, Usage(1, 2))
    items = [
        data["item"] for kind, data in encoder.frames if kind.startswith("response.output_item")
    ]
    for item in items:
        assert (item["name"], item["namespace"]) == ("close_agent", "multi_agent_v1")
    final = encoder.frames[-1][1]["response"]
    SDKResponse.model_validate(final)
    assert final["output"][0]["namespace"] == "multi_agent_v1"


def test_a_translation_without_namespaces_is_unchanged() -> None:
    out = Translation("responses", "anthropic", {}, ()).response(
        {"id": "m", "model": "c", "content": [{"type": "tool_use", "id": "t", "name": "shell",
         "input": {}}], "stop_reason": "tool_use", "usage": {}}
    )  # fmt: skip
    assert "namespace" not in out["output"][0]


# Through the gateway with the openai SDK: an Anthropic target sees flat tools, the caller
# gets OpenAI's namespaced call, sends it back in its history, and the conversation goes on.


@pytest.mark.parametrize("mode", MODES)
def test_a_namespaced_call_from_an_anthropic_target(
    toai: openai.OpenAI, sim: SimServer, mode: str
) -> None:
    sim.set_model("claude-opus-4-7", tool_name="multi_agent_v1__close_agent")
    items: list[Any] = [{"role": "user", "content": "close the agent"}]
    first = ask(toai, mode, "via-anthropic", items, tools=[SHELL, AGENTS])
    [call] = [item for item in first.output if item.type == "function_call"]
    assert (call.name, call.namespace) == ("close_agent", "multi_agent_v1")
    sent = sim.requests("claude-opus-4-7")[0].body
    assert [tool["name"] for tool in sent["tools"]] == [
        "shell",
        "multi_agent_v1__close_agent",
        "multi_agent_v1__note",
    ]
    items += [
        call.model_dump(exclude_none=True),
        {"type": "function_call_output", "call_id": call.call_id, "output": "closed"},
    ]
    second = ask(toai, mode, "via-anthropic", items, tools=[SHELL, AGENTS])
    assert second.output_text.endswith("the tool said closed.")
    history = sim.requests("claude-opus-4-7")[1].body["messages"]
    [use] = [b for m in history if isinstance(m["content"], list) for b in m["content"]
             if b["type"] == "tool_use"]  # fmt: skip
    assert use["name"] == "multi_agent_v1__close_agent"


def test_the_simulator_takes_namespace_tools_as_openai_does(
    toai: openai.OpenAI, sim: SimServer
) -> None:
    """A Responses target gets the caller's bytes: the namespace reaches the simulator,
    whose model calls the member by its own name, with the namespace beside it."""
    sim.set_model("gpt-5-pro", tool_name="close_agent")
    response = toai.responses.create(model="via-responses", input="close it", tools=[AGENTS])
    [call] = [item for item in response.output if item.type == "function_call"]
    assert (call.name, call.namespace) == ("close_agent", "multi_agent_v1")
    bad = {**AGENTS, "tools": [{"type": "web_search"}]}
    with pytest.raises(openai.BadRequestError):
        toai.responses.create(model="plain-responses", input="hi", tools=[bad])

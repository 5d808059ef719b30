"""The acceptance matrix: caller {OpenAI SDK, Anthropic SDK} × upstream {openai, anthropic,
gemini} × {plain, raw stream, SDK stream helper} × {text, tool round trip, image input,
JSON schema output}.

The simulator answers the same question with the same words in every dialect, names the
images it saw, calls tools with arguments derived from their schema, and quotes tool results,
so each case checks that the whole request crossed and the whole answer came back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from tests.translate.conftest import UPSTREAMS
from tests.translate.sdk import (
    ANTHROPIC_TOOLS,
    MODES,
    OPENAI_TOOLS,
    QUESTION,
    REPORT_SCHEMA,
    Result,
    anthropic_history,
    anthropic_image_turn,
    ask_anthropic,
    ask_openai,
    openai_history,
    openai_image_turn,
    report,
)

CALLERS = ("openai", "anthropic")
ANTHROPIC_ID = re.compile(r"^[a-zA-Z0-9_-]+$")


class Caller:
    """One SDK, with the shapes its application would send."""

    def __init__(self, name: str, oai: openai.OpenAI, ant: anthropic.Anthropic) -> None:
        self.name = name
        self.oai, self.ant = oai, ant

    def ask(self, mode: str, model: str, messages: list[Any], **kw: Any) -> Result:
        if self.name == "openai":
            return ask_openai(self.oai, mode, model, messages, **kw)
        return ask_anthropic(self.ant, mode, model, messages, **kw)

    @property
    def tools(self) -> list[Any]:
        return OPENAI_TOOLS if self.name == "openai" else ANTHROPIC_TOOLS

    def history(self, result: Result) -> dict[str, Any]:
        if self.name == "openai":
            return openai_history(result)
        return anthropic_history(result)

    def results(self, result: Result, outputs: list[str]) -> list[Any]:
        """The tool results an application sends back for `result.calls`."""
        if self.name == "openai":
            return [
                {"role": "tool", "tool_call_id": c.id, "content": out}
                for c, out in zip(result.calls, outputs, strict=True)
            ]
        blocks = [
            {"type": "tool_result", "tool_use_id": c.id, "content": out}
            for c, out in zip(result.calls, outputs, strict=True)
        ]
        return [{"role": "user", "content": blocks}]

    def image_turn(self, text: str) -> dict[str, Any]:
        return openai_image_turn(text) if self.name == "openai" else anthropic_image_turn(text)

    def schema_options(self, schema: dict[str, Any]) -> dict[str, Any]:
        """How this SDK's application asks for output following `schema`."""
        if self.name == "openai":
            fmt = {"name": "report", "schema": schema, "strict": True}
            return {"response_format": {"type": "json_schema", "json_schema": fmt}}
        return {
            "extra_body": {"output_config": {"format": {"type": "json_schema", "schema": schema}}}
        }

    def stop(self) -> str:
        return "stop" if self.name == "openai" else "end_turn"

    def tool_stop(self) -> str:
        return "tool_calls" if self.name == "openai" else "tool_use"


@pytest.fixture(params=CALLERS)
def caller(
    request: pytest.FixtureRequest, toai: openai.OpenAI, tant: anthropic.Anthropic
) -> Caller:
    return Caller(request.param, toai, tant)


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_text(
    caller: Caller, upstream: str, mode: str, sim: SimServer, direct: Callable[..., str]
) -> None:
    virtual, model = UPSTREAMS[upstream]
    question = "How does a gateway keep answering when a provider fails?"
    result = caller.ask(mode, virtual, [user(question)])
    assert result.text == direct(model, [user(question)])
    assert result.finish == caller.stop()
    assert result.model == model
    assert result.calls == []
    # Usage survives the trip: one output token per word, input counted by the upstream.
    assert result.output_tokens == len(result.text.split(" "))
    assert result.input_tokens and result.input_tokens > 0
    assert sim.requests(model)[0].dialect == upstream  # [1] is the oracle's direct call


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_tool_round_trip(caller: Caller, upstream: str, mode: str, sim: SimServer) -> None:
    virtual, model = UPSTREAMS[upstream]
    messages: list[Any] = [user(QUESTION)]
    first = caller.ask(mode, virtual, messages, tools=caller.tools)
    assert [(c.name, c.arguments) for c in first.calls] == [("get_weather", {"location": "Paris"})]
    assert first.finish == caller.tool_stop()
    assert first.calls[0].id
    if caller.name == "anthropic":
        assert ANTHROPIC_ID.match(first.calls[0].id)

    messages += [caller.history(first), *caller.results(first, ["sunny, 21°C"])]
    second = caller.ask(mode, virtual, messages, tools=caller.tools)
    assert second.text == f"Simulated answer from {model}: the tool said sunny, 21°C."
    assert second.finish == caller.stop()
    assert second.calls == []
    assert [r.outcome for r in sim.requests(model)] == ["200", "200"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_image_input(caller: Caller, upstream: str, mode: str, direct: Callable[..., str]) -> None:
    virtual, model = UPSTREAMS[upstream]
    text = "What is in these pictures?"
    result = caller.ask(mode, virtual, [caller.image_turn(text)])
    assert result.text == direct(model, [openai_image_turn(text)])
    assert result.text.endswith("(saw 2 images: image/png, url)")
    assert result.finish == caller.stop()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_json_schema_output(
    caller: Caller, upstream: str, mode: str, sim: SimServer, direct: Callable[..., str]
) -> None:
    virtual, model = UPSTREAMS[upstream]
    result = caller.ask(mode, virtual, [user(QUESTION)], **caller.schema_options(REPORT_SCHEMA))
    assert json.loads(result.text) == report(direct(model, [user(QUESTION)]))
    assert result.finish == caller.stop()
    assert sim.requests(model)[0].dialect == upstream


@pytest.mark.parametrize("mode", ["plain", "helper"])
@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_parallel_calls_after_text(
    caller: Caller, upstream: str, mode: str, sim: SimServer
) -> None:
    """Text before two parallel calls to two tools, then both results in one turn."""
    virtual, model = UPSTREAMS[upstream]
    sim.set_model(model, tool_calls=2, tool_preface="Let me check both.")
    second_tool: dict[str, Any]
    if caller.name == "openai":
        second_tool = {
            "type": "function",
            "function": {
                "name": "get_time",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}, "utc": {"type": "boolean"}},
                },
            },
        }
    else:
        second_tool = {
            "name": "get_time",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "utc": {"type": "boolean"}},
            },
        }
    tools = [*caller.tools, second_tool]
    try:
        messages: list[Any] = [user(QUESTION)]
        first = caller.ask(mode, virtual, messages, tools=tools)
        assert first.text == "Let me check both."
        assert [(c.name, c.arguments) for c in first.calls] == [
            ("get_weather", {"location": "Paris"}),
            ("get_time", {"city": "Paris", "utc": True}),
        ]
        assert len({c.id for c in first.calls}) == 2
        assert first.finish == caller.tool_stop()
        messages += [caller.history(first), *caller.results(first, ["sunny", "09:00"])]
        second = caller.ask(mode, virtual, messages, tools=tools)
        assert second.text == f"Simulated answer from {model}: the tool said sunny; 09:00."
    finally:
        sim.set_model(model, tool_calls=1, tool_preface=None)


@pytest.mark.parametrize("upstream", UPSTREAMS)
def test_non_streaming_upstream_calls(
    caller: Caller, upstream: str, sim: SimServer, direct: Callable[..., str]
) -> None:
    """`always_stream: false`: a non-streaming request goes upstream as one (Gemini's
    `:generateContent`) and the whole answer is translated at once."""
    model = UPSTREAMS[upstream][1]
    virtual = f"plain-{upstream}"
    result = caller.ask("plain", virtual, [caller.image_turn("Look")])
    assert result.text == direct(model, [openai_image_turn("Look")])
    assert result.output_tokens == len(result.text.split(" "))
    first = sim.requests(model)[0]
    assert first.dialect == upstream and not first.stream
    messages: list[Any] = [user(QUESTION)]
    calls = caller.ask("plain", virtual, messages, tools=caller.tools)
    assert [(c.name, c.arguments) for c in calls.calls] == [("get_weather", {"location": "Paris"})]
    messages += [caller.history(calls), *caller.results(calls, ["dry"])]
    answer = caller.ask("plain", virtual, messages, tools=caller.tools)
    assert answer.text == f"Simulated answer from {model}: the tool said dry."

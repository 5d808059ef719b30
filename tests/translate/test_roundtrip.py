"""Property tests: a request translated to another dialect and read back means the same.

Hypothesis draws whole conversations (system prompts, text and images, tool calls answered
by tool results, sampling settings, tool choice, JSON output) as plain data; the test
renders them as an OpenAI or Anthropic caller would (independently of failsoft's code),
then checks two things:

* reading the caller's request gives back exactly what was drawn;
* writing it for each other dialect and reading that back gives it back too, except
  for what docs/translation.md says that dialect cannot carry (and then a warning says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from failsoft.translate import TargetOptions, anthropic, gemini, openai
from failsoft.translate.common import Warnings
from failsoft.translate.ir import Image, Request, Text, ToolCall, ToolResult

NAMES = ("get_weather", "get_time", "lookup")
texts = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and s)
arg_values = st.one_of(st.text(max_size=10), st.integers(-100, 100), st.booleans())
arguments = st.dictionaries(st.sampled_from(("city", "zone", "n", "flag")), arg_values, max_size=3)
images = st.one_of(
    st.builds(lambda d: ("b64", "image/png", d), st.sampled_from(("iVBORw0KGgo=", "AAAA"))),
    st.builds(lambda n: ("url", f"https://example.com/{n}.jpg"), st.integers(0, 99)),
)


@dataclass
class Convo:
    system: list[str]
    turns: list[tuple[str, Any]]
    tools: list[str]
    params: dict[str, Any] = field(default_factory=dict)


@st.composite
def convos(draw: st.DrawFn) -> Convo:
    turns: list[tuple[str, Any]] = []
    used: set[str] = set()
    call_no = 0
    for _ in range(draw(st.integers(1, 3))):
        content = draw(
            st.lists(st.one_of(texts.map(lambda t: ("text", t)), images), min_size=1, max_size=3)
        )
        if not any(part[0] == "text" for part in content):
            content.insert(0, ("text", draw(texts)))
        turns.append(("user", content))
        said = draw(st.one_of(st.none(), texts))
        calls = []
        for _ in range(draw(st.integers(0, 2))):
            name = draw(st.sampled_from(NAMES))
            used.add(name)
            call_no += 1
            calls.append((f"call_{call_no}", name, draw(arguments)))
        if said is None and not calls:
            said = draw(texts)
        turns.append(("assistant", (said, calls)))
        if calls:
            results = [(ident, draw(texts), draw(st.booleans())) for ident, _, _ in calls]
            turns.append(("results", results))
    params: dict[str, Any] = {"max_tokens": draw(st.integers(1, 8192))}
    if draw(st.booleans()):
        params["temperature"] = draw(st.floats(0, 1, allow_nan=False).map(lambda f: round(f, 3)))
    if draw(st.booleans()):
        params["top_p"] = draw(st.floats(0.01, 1).map(lambda f: round(f, 3)))
    params["stop"] = draw(st.lists(texts, max_size=4))
    if draw(st.booleans()):
        params["user"] = draw(texts)
    tools = sorted(used | set(draw(st.lists(st.sampled_from(NAMES), max_size=2))))
    if tools:
        params["tool_choice"] = draw(st.sampled_from(("auto", "none", "required", "tool")))
        params["tool_name"] = draw(st.sampled_from(tools))
        params["parallel"] = draw(st.sampled_from((None, False)))
    if draw(st.booleans()):
        params["schema"] = {"type": "object", "properties": {"answer": {"type": "string"}}}
    system = draw(st.lists(texts, max_size=2))
    return Convo(system, turns, tools, params)


# --------------------------------------------------------------------------- rendering


def _schema(name: str) -> dict[str, Any]:
    return {"type": "object", "properties": {name: {"type": "string"}}}


def render_openai(c: Convo) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": s} for s in c.system]
    for role, value in c.turns:
        if role == "user":
            parts = []
            for part in value:
                if part[0] == "text":
                    parts.append({"type": "text", "text": part[1]})
                elif part[0] == "b64":
                    url = f"data:{part[1]};base64,{part[2]}"
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    parts.append({"type": "image_url", "image_url": {"url": part[1]}})
            messages.append({"role": "user", "content": parts})
        elif role == "assistant":
            said, calls = value
            message: dict[str, Any] = {"role": "assistant", "content": said}
            if calls:
                message["tool_calls"] = [
                    {"id": i, "type": "function",
                     "function": {"name": n, "arguments": orjson.dumps(a).decode()}}
                    for i, n, a in calls
                ]  # fmt: skip
            messages.append(message)
        else:
            for ident, text, _ in value:
                messages.append({"role": "tool", "tool_call_id": ident, "content": text})
    p = c.params
    out: dict[str, Any] = {
        "model": "m",
        "messages": messages,
        "max_completion_tokens": p["max_tokens"],
    }
    for key in ("temperature", "top_p", "user"):
        if key in p:
            out[key] = p[key]
    if p["stop"]:
        out["stop"] = p["stop"]
    if c.tools:
        out["tools"] = [
            {"type": "function", "function": {"name": n, "parameters": _schema(n)}} for n in c.tools
        ]
        choice = p["tool_choice"]
        out["tool_choice"] = (
            {"type": "function", "function": {"name": p["tool_name"]}}
            if choice == "tool"
            else choice
        )
        if p["parallel"] is False:
            out["parallel_tool_calls"] = False
    if "schema" in p:
        out["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": p["schema"]},
        }
    return out


def render_anthropic(c: Convo) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    for role, value in c.turns:
        if role == "user":
            blocks = []
            for part in value:
                if part[0] == "text":
                    blocks.append({"type": "text", "text": part[1]})
                elif part[0] == "b64":
                    source = {"type": "base64", "media_type": part[1], "data": part[2]}
                    blocks.append({"type": "image", "source": source})
                else:
                    blocks.append({"type": "image", "source": {"type": "url", "url": part[1]}})
            if messages and messages[-1]["role"] == "user":
                messages[-1]["content"].extend(blocks)
            else:
                messages.append({"role": "user", "content": blocks})
        elif role == "assistant":
            said, calls = value
            blocks = [{"type": "text", "text": said}] if said else []
            blocks += [{"type": "tool_use", "id": i, "name": n, "input": a} for i, n, a in calls]
            messages.append({"role": "assistant", "content": blocks})
        else:
            blocks = [
                {"type": "tool_result", "tool_use_id": i, "content": t, "is_error": e}
                for i, t, e in value
            ]
            messages.append({"role": "user", "content": blocks})
    p = c.params
    out: dict[str, Any] = {"model": "m", "messages": messages, "max_tokens": p["max_tokens"]}
    if c.system:
        out["system"] = [{"type": "text", "text": s} for s in c.system]
    for key in ("temperature", "top_p"):
        if key in p:
            out[key] = p[key]
    if p["stop"]:
        out["stop_sequences"] = p["stop"]
    if "user" in p:
        out["metadata"] = {"user_id": p["user"]}
    if c.tools:
        out["tools"] = [{"name": n, "input_schema": _schema(n)} for n in c.tools]
        kind = {"auto": "auto", "none": "none", "required": "any", "tool": "tool"}[p["tool_choice"]]
        choice: dict[str, Any] = {"type": kind}
        if kind == "tool":
            choice["name"] = p["tool_name"]
        if p["parallel"] is False and kind != "none":
            choice["disable_parallel_tool_use"] = True
        out["tool_choice"] = choice
    if "schema" in p:
        out["output_config"] = {"format": {"type": "json_schema", "schema": p["schema"]}}
    return out


# --------------------------------------------------------------------------- meaning


def meaning(r: Request, *, ids: bool = True, is_error: bool = True) -> dict[str, Any]:
    """What a request asks, with representation details (id spelling, how turns are cut)
    taken out; `ids=False` compares calls and results by position (Gemini has no ids)."""
    numbering: dict[str, int] = {}

    def ident(value: str) -> Any:
        return value if ids else numbering.setdefault(value, len(numbering))

    turns: list[Any] = []
    for message in r.messages:
        blocks: list[Any] = []
        for b in message.content:
            if isinstance(b, Text):
                if b.text:
                    blocks.append(("text", b.text))
            elif isinstance(b, Image):
                blocks.append(("image", b.media_type if b.url is None else None, b.data, b.url))
            elif isinstance(b, ToolCall):
                blocks.append(("call", ident(b.id), b.name, b.arguments))
            elif isinstance(b, ToolResult):
                text = "\n".join(p.text for p in b.content if isinstance(p, Text))
                blocks.append(("result", ident(b.call_id), text, b.is_error if is_error else None))
        if turns and turns[-1][0] == message.role:
            turns[-1][1].extend(blocks)
        elif blocks:
            turns.append((message.role, blocks))
    choice = r.tool_choice
    parallel = r.parallel_tool_calls
    if choice is not None and choice.mode == "none":
        parallel = None  # no calls: whether they may be parallel means nothing
    return {
        "system": r.system,
        "turns": turns,
        "tools": [(t.name, t.parameters) for t in r.tools],
        "tool_choice": None if choice is None else (choice.mode, choice.name),
        "parallel": parallel,
        "max_tokens": r.max_tokens,
        "temperature": r.temperature,
        "top_p": r.top_p,
        "stop": r.stop,
        "user": r.user,
        "schema": None if r.response_format is None else r.response_format.schema,
    }


def there_and_back(request: Request, target: str) -> tuple[Request, list[str]]:
    warnings = Warnings(request.dropped)
    build = {"openai": openai.build_request, "anthropic": anthropic.build_request,
             "gemini": gemini.build_request}[target]  # fmt: skip
    payload = build(request, TargetOptions(target), warnings)
    payload = orjson.loads(orjson.dumps(payload))  # it must be plain JSON
    parse = {"openai": openai.parse_request, "anthropic": anthropic.parse_request,
             "gemini": gemini.parse_request}[target]  # fmt: skip
    return parse({"model": "m", **payload}), warnings.items


PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("target", ["anthropic", "gemini"])
@PROFILE
@given(c=convos())
def test_openai_request_there_and_back(c: Convo, target: str) -> None:
    read = openai.parse_request(render_openai(c))
    expected = meaning(read)
    back, warnings = there_and_back(read, target)
    if target == "gemini":
        # No ids (calls and results pair by position), no user id, no parallel switch.
        got = meaning(back, ids=False)
        want = meaning(read, ids=False)
        want["user"] = None
        if want["parallel"] is False:
            assert any("parallel_tool_calls" in w for w in warnings)
        want["parallel"] = None
    else:
        got, want = meaning(back), expected
    assert got == want


@pytest.mark.parametrize("target", ["openai", "gemini"])
@PROFILE
@given(c=convos())
def test_anthropic_request_there_and_back(c: Convo, target: str) -> None:
    read = anthropic.parse_request(render_anthropic(c))
    back, warnings = there_and_back(read, target)
    if target == "openai":
        # OpenAI tool messages have no error flag; a warning says so.
        got, want = meaning(back, is_error=False), meaning(read, is_error=False)
        if any(isinstance(b, ToolResult) and b.is_error for m in read.messages for b in m.content):
            assert any("is_error" in w for w in warnings)
    else:
        got, want = meaning(back, ids=False), meaning(read, ids=False)
        want["user"] = None
        want["parallel"] = None
    assert got == want


@PROFILE
@given(c=convos())
def test_reading_a_caller_request_keeps_everything(c: Convo) -> None:
    """Both callers' renderings of one conversation read as the same internal request
    (OpenAI tool messages cannot say a tool failed, so that flag is left out)."""
    from_openai = openai.parse_request(render_openai(c))
    from_anthropic = anthropic.parse_request(render_anthropic(c))
    assert meaning(from_openai, is_error=False) == meaning(from_anthropic, is_error=False)

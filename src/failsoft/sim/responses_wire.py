"""OpenAI Responses wire output (`POST /v1/responses`), independent of failsoft's translators.

A stream is named SSE events whose payloads all carry a `sequence_number` counting from 0,
in the order the API sends them: the response created and in progress, then per output item
its `added`, its content or argument deltas and their `done`, its `done`, and last
`response.completed` (or `response.incomplete` when `max_output_tokens` cut the text).
Errors and models are the Chat Completions shapes: the API shares them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from failsoft.sim import responses_input, responses_reasoning
from failsoft.sim.answers import Answer
from failsoft.sim.http import Request
from failsoft.sim.openai_wire import OpenAIWire
from failsoft.sim.prompt import Prompt
from failsoft.sim.tools import ToolCall, fragments, openai_call_id
from failsoft.sim.wire import UNNUMBERED, ErrorSpec, Reply, StreamPlan


class ResponsesWire(OpenAIWire):
    """Same keys, errors and request ids as Chat Completions; its own items and events."""

    response_prefix = "resp_"

    def check(
        self, body: Mapping[str, Any], request: Request, model: str | None
    ) -> ErrorSpec | None:
        return responses_input.check(body)

    def prompt(self, body: Mapping[str, Any]) -> Prompt:
        return responses_input.prompt(body)

    def max_tokens(self, body: Mapping[str, Any]) -> int | None:
        value = body.get("max_output_tokens")
        return value if isinstance(value, int) else None

    def completion(self, reply: Reply, answer: Answer, body: Mapping[str, Any]) -> bytes:
        output = _output(reply, answer, body)
        return orjson.dumps(_response(reply, answer, body, output))

    def stream(
        self, reply: Reply, answer: Answer, body: Mapping[str, Any], request: Request
    ) -> StreamPlan:
        events = _Events()
        opening = _response(reply, answer, body, [], status="in_progress")
        preamble = [
            events.add("response.created", response=opening),
            events.add("response.in_progress", response=opening),
        ]
        content: list[bytes] = []
        index = 0
        reasoning = _reasoning(reply, body)
        if reasoning is not None:  # in the preamble: faults count the answer's events
            preamble.extend(_reasoning_events(events, reasoning))
            index = 1
        if answer.pieces or not answer.calls:
            message = _message(reply, answer, done=False)
            item_id = message["id"]
            where = {"item_id": item_id, "output_index": index, "content_index": 0}
            part = {"type": "output_text", "annotations": [], "logprobs": [], "text": ""}
            preamble.append(
                events.add("response.output_item.added", output_index=index, item=message)
            )
            preamble.append(events.add("response.content_part.added", **where, part=part))
            for piece in answer.pieces:
                content.append(
                    events.add("response.output_text.delta", **where, delta=piece, logprobs=[])
                )
            done = {**part, "text": answer.text}
            content.append(
                events.add("response.output_text.done", **where, text=answer.text, logprobs=[])
            )
            content.append(events.add("response.content_part.done", **where, part=done))
            item = _message(reply, answer, done=True)
            content.append(events.add("response.output_item.done", output_index=index, item=item))
            index += 1
        content.extend(_call_events(events, reply, answer, _custom_tools(body), index))
        # The closing events of the last item end the content without ending the answer.
        closing = 3 if not answer.calls else 2
        ending = "response.incomplete" if answer.truncated else "response.completed"
        final = _response(reply, answer, body, _output(reply, answer, body))
        terminal = events.add(ending, response=final)
        return StreamPlan(
            preamble=tuple(preamble),
            content=tuple(content[:-closing]),
            close=tuple(content[-closing:]),
            terminal=(terminal,),
            marker=(),
            numbered=True,
        )

    def stream_error_event(
        self, request: Request, error_type: str | None, message: str | None
    ) -> bytes:
        """The in-band `error` event; playback numbers it as the event it replaces."""
        payload = {
            "type": "error",
            "code": "server_error",
            "message": message or "The server had an error while processing your request.",
            "param": None,
        }
        return b"event: error\ndata: " + orjson.dumps(payload)[:-1] + b"," + UNNUMBERED + b"\n\n"

    def malformed_event(self, reply: Reply, request: Request) -> bytes:
        return b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta"\n\n'

    def corrupt_event(self, event: bytes) -> bytes:
        """Cut just after the delta's fields, so the fragment is there but nothing closes."""
        cut = event.rfind(b',"sequence_number":')
        return (event[:cut] if cut >= 0 else event[:-3]) + b"\n\n"


class _Events:
    """Numbers events as they are built: `sequence_number` counts every event from 0."""

    def __init__(self) -> None:
        self.number = 0

    def add(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, **fields, "sequence_number": self.number}
        self.number += 1
        return b"event: %s\ndata: %s\n\n" % (kind.encode(), orjson.dumps(payload))


_ECHOED: dict[str, Any] = {
    "instructions": None,
    "max_output_tokens": None,
    "metadata": {},
    "parallel_tool_calls": True,
    "previous_response_id": None,
    "reasoning": {"effort": None, "summary": None},
    "store": True,
    "temperature": 1.0,
    "text": {"format": {"type": "text"}, "verbosity": "medium"},
    "tool_choice": "auto",
    "tools": [],
    "top_p": 1.0,
    "truncation": "disabled",
    "user": None,
}
"""Request fields the response object repeats, with the API's defaults when not sent."""


def _response(
    reply: Reply,
    answer: Answer,
    body: Mapping[str, Any],
    output: list[dict[str, Any]],
    status: str | None = None,
) -> dict[str, Any]:
    finished = status is None
    if status is None:
        status = "incomplete" if answer.truncated else "completed"
    incomplete = {"reason": "max_output_tokens"} if finished and answer.truncated else None
    echoed = {name: body.get(name, default) for name, default in _ECHOED.items()}
    return {
        "id": reply.response_id,
        "object": "response",
        "created_at": reply.created,
        "status": status,
        "background": False,
        "error": None,
        "incomplete_details": incomplete,
        "model": reply.model,
        "output": output,
        "service_tier": "default",
        **echoed,
        "usage": _usage(answer, body) if finished else None,
    }


def _output(reply: Reply, answer: Answer, body: Mapping[str, Any]) -> list[dict[str, Any]]:
    output = []
    reasoning = _reasoning(reply, body)
    if reasoning is not None:
        output.append(reasoning)
    if answer.pieces or not answer.calls:
        output.append(_message(reply, answer, done=True))
    custom = _custom_tools(body)
    for position, call in enumerate(answer.calls):
        output.append(_call(reply, position, call, custom, done=True))
    return output


def _reasoning(reply: Reply, body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The reasoning item that opens the output when the request asks for reasoning."""
    reasons, summarized, encrypted = responses_reasoning.wanted(body)
    if not reasons:
        return None
    item: dict[str, Any] = {
        "id": "rs_" + _hex(reply),
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": responses_reasoning.SUMMARY}]
        if summarized
        else [],
    }
    if encrypted:
        item["encrypted_content"] = responses_reasoning.issue(reply.response_id)
    return item


def _call_events(
    events: _Events, reply: Reply, answer: Answer, custom: Declared, index: int
) -> list[bytes]:
    """Each call's item events, its output index counted after `index` earlier items."""
    content: list[bytes] = []
    for position, call in enumerate(answer.calls):
        output_index = index + position
        item = _call(reply, position, call, custom, done=False)
        at = {"item_id": item["id"], "output_index": output_index}
        content.append(
            events.add("response.output_item.added", output_index=output_index, item=item)
        )
        if item["type"] == "custom_tool_call":
            payload = _custom_input(call)
            for fragment in fragments(payload) if payload else ():
                content.append(
                    events.add("response.custom_tool_call_input.delta", **at, delta=fragment)
                )
            content.append(events.add("response.custom_tool_call_input.done", **at, input=payload))
        else:
            for fragment in call.fragments:
                content.append(
                    events.add("response.function_call_arguments.delta", **at, delta=fragment)
                )
            content.append(
                events.add("response.function_call_arguments.done", **at, arguments=call.json)
            )
        item = _call(reply, position, call, custom, done=True)
        content.append(
            events.add("response.output_item.done", output_index=output_index, item=item)
        )
    return content


def _reasoning_events(events: _Events, item: dict[str, Any]) -> list[bytes]:
    opening = {**item, "summary": []}
    sent = [events.add("response.output_item.added", output_index=0, item=opening)]
    at = {"item_id": item["id"], "output_index": 0, "summary_index": 0}
    for summary in item["summary"]:
        text = summary["text"]
        part = {"type": "summary_text", "text": ""}
        sent.append(events.add("response.reasoning_summary_part.added", **at, part=part))
        words = text.split(" ")
        for number, word in enumerate(words):
            delta = word if number == 0 else " " + word
            sent.append(events.add("response.reasoning_summary_text.delta", **at, delta=delta))
        sent.append(events.add("response.reasoning_summary_text.done", **at, text=text))
        done = {"type": "summary_text", "text": text}
        sent.append(events.add("response.reasoning_summary_part.done", **at, part=done))
    sent.append(events.add("response.output_item.done", output_index=0, item=item))
    return sent


def _message(reply: Reply, answer: Answer, *, done: bool) -> dict[str, Any]:
    content = []
    status = "in_progress"
    if done:
        text = {"type": "output_text", "annotations": [], "logprobs": [], "text": answer.text}
        content.append(text)
        status = "incomplete" if answer.truncated else "completed"
    return {
        "id": "msg_" + _hex(reply),
        "type": "message",
        "status": status,
        "content": content,
        "role": "assistant",
    }


def _call(
    reply: Reply, position: int, call: ToolCall, custom: Declared, *, done: bool
) -> dict[str, Any]:
    """A `function_call` item, or a `custom_tool_call` for a freeform tool (its one string)."""
    status = "completed" if done else "in_progress"
    call_id = openai_call_id(reply.response_id, position)
    is_custom, namespace = custom.get(call.name, (False, None))
    item = _call_item(reply, call, call_id, status, is_custom, done=done, position=position)
    if namespace is not None:
        item["namespace"] = namespace
    return item


def _call_item(
    reply: Reply,
    call: ToolCall,
    call_id: str,
    status: str,
    is_custom: bool,
    *,
    done: bool,
    position: int,
) -> dict[str, Any]:
    if is_custom:
        return {
            "id": f"ctc_{_hex(reply)}{position:02x}",
            "type": "custom_tool_call",
            "status": status,
            "call_id": call_id,
            "input": _custom_input(call) if done else "",
            "name": call.name,
        }
    return {
        "id": f"fc_{_hex(reply)}{position:02x}",
        "type": "function_call",
        "status": status,
        "arguments": call.json if done else "",
        "call_id": call_id,
        "name": call.name,
    }


def _custom_input(call: ToolCall) -> str:
    value = call.arguments.get("input")
    return value if isinstance(value, str) else call.json


Declared = Mapping[str, tuple[bool, str | None]]
"""A declared tool's name → (is it a custom tool, its namespace if it is in one)."""


def _custom_tools(body: Mapping[str, Any]) -> Declared:
    """The request's tools, namespace tools' members by their own names (a top-level tool
    of the same name wins: the model's choice is by name only)."""
    tools = body.get("tools")
    out: dict[str, tuple[bool, str | None]] = {}
    for tool in tools if isinstance(tools, list) else ():
        if not isinstance(tool, dict):
            continue
        if tool.get("type") == "namespace":
            for member in tool.get("tools") or ():
                if isinstance(member, dict) and isinstance(member.get("name"), str):
                    out.setdefault(member["name"], (member.get("type") == "custom", tool["name"]))
        elif isinstance(tool.get("name"), str):
            out[tool["name"]] = (tool.get("type") == "custom", None)
    return out


def _hex(reply: Reply) -> str:
    return reply.response_id.removeprefix(ResponsesWire.response_prefix)


def _usage(answer: Answer, body: Mapping[str, Any]) -> dict[str, Any]:
    reasoning = responses_reasoning.REASONING_TOKENS if responses_reasoning.wanted(body)[0] else 0
    output = answer.output_tokens + reasoning
    return {
        "input_tokens": answer.input_tokens,
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": answer.input_tokens + output,
    }

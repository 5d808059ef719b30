"""OpenAI `chat.completion` answers ⇄ the internal form, and the shared answer vocabulary
(finish reasons, usage, ids) that the stream translation uses too."""

from __future__ import annotations

import time
from typing import Any

from failsoft.translate.common import args_json, parse_args
from failsoft.translate.ir import Reasoning, Response, Text, ToolCall, Usage

FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def parse_response(obj: dict[str, Any]) -> Response:
    """An OpenAI `chat.completion` in the internal form (first choice)."""
    choices = obj.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content: list[Text | ToolCall | Reasoning] = []
    text = message.get("content")
    if isinstance(text, str) and text:
        content.append(Text(text))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append(Text(refusal))
    for call in message.get("tool_calls") or ():
        function = call.get("function") or {}
        content.append(
            ToolCall(
                str(call.get("id") or ""),
                str(function.get("name") or ""),
                parse_args(str(function.get("arguments") or "")),
            )
        )
    stop = FINISH_TO_STOP.get(str(choice.get("finish_reason")), "end_turn")
    if refusal and stop == "end_turn":
        stop = "refusal"
    return Response(
        id=str(obj.get("id") or ""),
        model=str(obj.get("model") or ""),
        content=content,
        stop=stop,
        usage=parse_usage(obj.get("usage")),
        created=obj.get("created") if isinstance(obj.get("created"), int) else None,
    )


def parse_usage(value: Any) -> Usage:
    if not isinstance(value, dict):
        return Usage()
    prompt = value.get("prompt_tokens_details") or {}
    completion = value.get("completion_tokens_details") or {}
    return Usage(
        input=value.get("prompt_tokens"),
        output=value.get("completion_tokens"),
        cache_read=prompt.get("cached_tokens") if isinstance(prompt, dict) else None,
        reasoning=completion.get("reasoning_tokens") if isinstance(completion, dict) else None,
    )


def usage_body(usage: Usage) -> dict[str, Any]:
    prompt = usage.input or 0
    completion = usage.output or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read or 0},
        "completion_tokens_details": {"reasoning_tokens": usage.reasoning or 0},
    }


def completion_id(upstream_id: str) -> str:
    return upstream_id if upstream_id.startswith("chatcmpl") else f"chatcmpl-{upstream_id}"


def build_response(response: Response) -> dict[str, Any]:
    """The `chat.completion` an OpenAI caller gets for an answer from another dialect."""
    texts = [b.text for b in response.content if isinstance(b, Text)]
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": args_json(b.arguments)},
        }
        for b in response.content
        if isinstance(b, ToolCall)
    ]
    message: dict[str, Any] = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if calls:
        message["tool_calls"] = calls
    return {
        "id": completion_id(response.id),
        "object": "chat.completion",
        "created": response.created or int(time.time()),
        "model": response.model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": STOP_TO_FINISH.get(response.stop, "stop"),
            }
        ],
        "usage": usage_body(response.usage),
    }

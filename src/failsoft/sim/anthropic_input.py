"""Anthropic Messages requests: the validation the real API does, and the neutral view.

Beyond required fields, the checks are the ones a broken translation trips: a system
message left in `messages` where the model or its place forbids it (`anthropic_system.py`),
tool results that answer no call, calls left unanswered,
ids a translator invented, sampling parameters that API 2026-10-21 rejects, and thinking
blocks lost or altered on the way back (`anthropic_thinking.py`).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from typing import Any

from failsoft.sim import anthropic_system, anthropic_thinking
from failsoft.sim.prompt import (
    Prompt,
    ToolSpec,
    Turn,
    call_chars,
    joined,
    result_turn,
    schema_properties,
    user_turn,
)
from failsoft.sim.structured import anthropic_schema
from failsoft.sim.wire import ErrorSpec

NO_SAMPLING_FROM = datetime.date(2026, 10, 21)
"""The API version that stopped accepting temperature, top_p and top_k."""
SAMPLING = ("temperature", "top_p", "top_k")
_ID = re.compile(r"^[a-zA-Z0-9_-]+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check(body: Mapping[str, Any], headers: Mapping[str, str]) -> ErrorSpec | None:
    version = headers.get("anthropic-version")
    if version is None:
        return _invalid("anthropic-version: header is required")
    if not isinstance(body.get("model"), str) or not body["model"]:
        return _invalid("model: Field required")
    max_tokens = body.get("max_tokens")
    if max_tokens is None:
        return _invalid("max_tokens: Field required")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int):
        return _invalid("max_tokens: Input should be a valid integer")
    if max_tokens < 1:
        return _invalid("max_tokens: Input should be greater than or equal to 1")
    messages = body.get("messages")
    if messages is None:
        return _invalid("messages: Field required")
    if not isinstance(messages, list):
        return _invalid("messages: Input should be a valid list")
    if _no_sampling(version):
        for name in SAMPLING:
            if name in body:
                return _invalid(
                    f"{name}: Extra inputs are not permitted ({name} is not supported in API "
                    f"version {version}; send anthropic-version 2023-06-01 to use it)"
                )
    error = anthropic_thinking.check_params(body, max_tokens)
    if error is None:
        error = _check_messages(messages, body["model"])
    if error is None and anthropic_thinking.enabled(body):
        error = anthropic_thinking.check_loop(messages)
    return error


def _no_sampling(version: str) -> bool:
    """ISO dates compare as dates; anything else is taken as an old version."""
    if not _DATE.match(version):
        return False
    try:
        return datetime.date.fromisoformat(version) >= NO_SAMPLING_FROM
    except ValueError:
        return False


def _check_messages(messages: Sequence[Any], model: str) -> ErrorSpec | None:
    calls: list[str] = []  # tool_use ids of the previous message, if it was an assistant turn
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            return _invalid(f"messages.{index}: Input should be a valid dictionary")
        role = message.get("role")
        if role == "system":
            error = anthropic_system.check(model, messages, index)
            if error is not None:
                return error
            continue
        if role not in ("user", "assistant"):
            return _invalid(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        blocks = _blocks(message.get("content"))
        if role == "user":
            error = _check_results(index, blocks, calls)
            if error is not None:
                return error
        if calls:
            error = _check_answered(index - 1, calls, message)
            if error is not None:
                return error
        calls = []
        if role == "user":
            continue
        for position, block in enumerate(blocks):
            if block.get("type") in ("thinking", "redacted_thinking"):
                error = anthropic_thinking.check_block(
                    f"messages.{index}.content.{position}", block
                )
                if error is not None:
                    return error
            if block.get("type") != "tool_use":
                continue
            where = f"messages.{index}.content.{position}.tool_use"
            call_id = block.get("id")
            if not isinstance(call_id, str) or not _ID.match(call_id):
                return _invalid(f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'")
            if not isinstance(block.get("input"), dict):
                return _invalid(f"{where}.input: Input should be a valid dictionary")
            calls.append(call_id)
    if messages and messages[-1].get("role") == "assistant":
        final = _text(messages[-1].get("content"))
        if final[-1:].isspace():
            # A prefill ending in whitespace makes the model continue oddly; the API refuses it.
            return _invalid("messages: final assistant content cannot end with trailing whitespace")
    return None


def _check_results(
    index: int, blocks: Sequence[dict[str, Any]], calls: Sequence[str]
) -> ErrorSpec | None:
    for position, block in enumerate(blocks):
        if block.get("type") != "tool_result":
            continue
        call_id = block.get("tool_use_id")
        if not isinstance(call_id, str) or not _ID.match(call_id):
            return _invalid(
                f"messages.{index}.content.{position}.tool_result.tool_use_id: String should "
                "match pattern '^[a-zA-Z0-9_-]+$'"
            )
        if call_id not in calls:
            return _invalid(
                f"messages.{index}.content.{position}: unexpected `tool_use_id` found in "
                f"`tool_result` blocks: {call_id}. Each `tool_result` block must have a "
                "corresponding `tool_use` block in the previous message."
            )
    return None


def _check_answered(index: int, calls: Sequence[str], following: object) -> ErrorSpec | None:
    answered = set()
    if isinstance(following, dict) and following.get("role") == "user":
        answered = {
            block.get("tool_use_id")
            for block in _blocks(following.get("content"))
            if block.get("type") == "tool_result"
        }
    missing = [call_id for call_id in calls if call_id not in answered]
    if not missing:
        return None
    return _invalid(
        f"messages.{index}: `tool_use` ids were found without `tool_result` blocks immediately "
        f"after: {', '.join(missing)}. Each `tool_use` block must have a corresponding "
        "`tool_result` block in the next message."
    )


def _invalid(message: str) -> ErrorSpec:
    return ErrorSpec(400, message=message)


def prompt(body: Mapping[str, Any]) -> Prompt:
    turns = []
    system_chars = len(_text(body.get("system")))
    for message in body.get("messages") or ():
        blocks = _blocks(message.get("content"))
        text = _text(message.get("content"))
        if message.get("role") == "system":
            turns.append(Turn("system", text, chars=len(text)))
            continue
        if message.get("role") == "assistant":
            chars = len(text) + sum(
                call_chars(block.get("name"), block.get("input"))
                for block in blocks
                if block.get("type") == "tool_use"
            )
            turns.append(Turn("assistant", text, chars=chars))
            continue
        images = [_image(block) for block in blocks if block.get("type") == "image"]
        results = [
            _text(block.get("content")) for block in blocks if block.get("type") == "tool_result"
        ]
        if results:
            turns.append(result_turn(results, text, images))
        else:
            turns.append(user_turn(text, images))
    tools, forced = _tools(body)
    schema = anthropic_schema(body)
    return Prompt(tuple(turns), tools, forced, system_chars, continues=True, schema=schema)


def _blocks(content: object) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, dict)]


def _text(content: object) -> str:
    if isinstance(content, str):
        return content
    return joined(
        block["text"]
        for block in _blocks(content)
        if block.get("type") == "text" and isinstance(block.get("text"), str)
    )


def _image(block: Mapping[str, Any]) -> str:
    source = block.get("source")
    if isinstance(source, dict) and source.get("type") == "base64":
        media = source.get("media_type")
        return media if isinstance(media, str) and media else "image"
    return "url"


def _tools(body: Mapping[str, Any]) -> tuple[tuple[ToolSpec, ...], str | None]:
    choice = body.get("tool_choice")
    choice_type = choice.get("type") if isinstance(choice, dict) else None
    if choice_type == "none":
        return (), None
    tools = []
    raw = body.get("tools")
    for tool in raw if isinstance(raw, list) else ():
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            continue
        if tool.get("type") not in (None, "custom"):
            continue  # server tools (web search, …) are run by the API, not called
        tools.append(ToolSpec(tool["name"], schema_properties(tool.get("input_schema"))))
    forced = None
    if isinstance(choice, dict) and choice_type == "tool" and isinstance(choice.get("name"), str):
        forced = choice["name"]
    return tuple(tools), forced if tools else None

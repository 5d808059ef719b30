"""Helpers every dialect's translation shares: options, warnings, ids, arguments, data URLs."""

from __future__ import annotations

import base64
import binascii
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from failsoft.errors import Untranslatable
from failsoft.translate.ir import RawArguments, Request, Text

__all__ = [
    "TargetOptions",
    "Untranslatable",
    "args_json",
    "data_url",
    "guess_media_type",
    "parse_args",
    "parse_data_url",
]


@dataclass(frozen=True, slots=True)
class TargetOptions:
    """What about the target provider changes a translated request."""

    dialect: str
    anthropic_version: str = "2023-06-01"
    default_max_tokens: int = 4096
    """Anthropic requires `max_tokens`; used when the caller gave none."""
    max_tokens_field: Literal["max_tokens", "max_completion_tokens"] = "max_completion_tokens"
    """OpenAI's own API wants `max_completion_tokens` (reasoning models refuse `max_tokens`);
    most OpenAI-compatible servers (vLLM, Ollama, ...) know only `max_tokens`."""

    @property
    def rejects_sampling(self) -> bool:
        """Anthropic API 2026-10-21 and later reject temperature/top_p/top_k outright."""
        return self.dialect == "anthropic" and self.anthropic_version >= "2026-10-21"


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")
MAX_WARNINGS = 16
"""Warnings name caller fields, so a caller decides how many there are: enough to say what
happened, few enough for a response header."""


class Warnings:
    """Collects what a translation could not carry, each said once. Caller-chosen names are
    cut short and made printable: the list becomes a header (`x-failsoft-warning`)."""

    __slots__ = ("items",)

    def __init__(self, items: list[str] | None = None) -> None:
        self.items: list[str] = list(items or ())

    def drop(self, name: str, why: str) -> None:
        shown = name if len(name) <= 60 else name[:57] + "..."
        self.note(f"dropped {shown} ({why})")

    def note(self, text: str) -> None:
        text = _UNPRINTABLE.sub("?", text)
        if text in self.items:
            return
        if len(self.items) < MAX_WARNINGS:
            self.items.append(text)
        elif len(self.items) == MAX_WARNINGS:
            self.items.append("more warnings left out")


def parse_args(text: str) -> Any:
    """OpenAI's JSON-string arguments as an object; kept verbatim when they do not parse."""
    if not text:
        return {}
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return RawArguments(text)


def args_json(arguments: Any) -> str:
    if isinstance(arguments, RawArguments):
        return arguments.text
    return orjson.dumps(arguments).decode()


def args_object(arguments: Any) -> dict[str, Any]:
    """Arguments as the JSON object Anthropic and Gemini require.

    Invalid JSON from a model (it happens) is wrapped rather than dropped, so the
    conversation history stays intact; the wrapping is documented.
    """
    if isinstance(arguments, dict):
        return arguments
    if isinstance(arguments, RawArguments):
        return {"_unparsed_arguments": arguments.text}
    return {"_arguments": arguments}


_DATA_URL = re.compile(r"data:([\w.+/-]+)?((?:;[\w-]+=[^;,]*)*);base64,(.*)", re.S)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """`(media_type, base64 data)` of a `data:...;base64,` URL, or None for other URLs."""
    if not url.startswith("data:"):
        return None
    match = _DATA_URL.fullmatch(url)
    if match is None:
        raise Untranslatable("an image data: URL is not base64 (data:<type>;base64,<data>)")
    data = match.group(3)
    try:
        base64.b64decode(data[:64] + "=" * (-len(data[:64]) % 4), validate=False)
    except binascii.Error:
        raise Untranslatable("an image data: URL does not hold base64 data") from None
    return match.group(1) or "application/octet-stream", data


def data_url(media_type: str | None, data: str) -> str:
    return f"data:{media_type or 'application/octet-stream'};base64,{data}"


def guess_media_type(url: str) -> str:
    """Gemini's fileData needs a MIME type for a URL; guessed from its extension."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "image/jpeg"


_ANTHROPIC_ID = re.compile(r"[^a-zA-Z0-9_-]")


def short_id(value: str, limit: int, prefix: str) -> str:
    """`value` if it fits in `limit` characters, else a digest of it (deterministic, so a
    call and its result still match). Gemini call ids carry their signature and grow long;
    OpenAI refuses tool-call ids over 40 characters."""
    if len(value) <= limit:
        return value
    return prefix + hashlib.blake2b(value.encode(), digest_size=16).hexdigest()


def openai_id(value: str) -> str:
    return short_id(value, 40, "call_")


def anthropic_id(value: str) -> str:
    """A tool-call id as the Anthropic API accepts it (`^[a-zA-Z0-9_-]+$`, not too long)."""
    return short_id(caller_anthropic_id(value), 64, "toolu_")


def caller_anthropic_id(value: str) -> str:
    """A tool-call id for an Anthropic caller: the right characters, but never shortened,
    because a Gemini thought signature rides in it and must come back whole."""
    return _ANTHROPIC_ID.sub("_", value) if value else "toolu_empty"


def system_texts(request: Request) -> list[str]:
    """The system prompt, then the text of every mid-conversation system message, for
    dialects that hold instructions in one place for the whole conversation."""
    return request.system + [
        block.text
        for message in request.messages
        if message.role == "system"
        for block in message.content
        if isinstance(block, Text) and block.text
    ]


def text_of(value: Any) -> str:
    """Text content that may be a string or a list of text parts/blocks."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(
            part["text"]
            for part in value
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise Untranslatable(message)


def need_str(value: Any, message: str) -> str:
    """`value` if it is a non-empty string; else the request is untranslatable."""
    if not isinstance(value, str) or not value:
        raise Untranslatable(message)
    return value


def number(value: Any, name: str) -> float | None:
    if value is None:
        return None
    expect(
        isinstance(value, int | float) and not isinstance(value, bool),
        f"'{name}' must be a number",
    )
    return float(value)


def integer(value: Any, name: str) -> int | None:
    if value is None:
        return None
    expect(isinstance(value, int) and not isinstance(value, bool), f"'{name}' must be an integer")
    return int(value)

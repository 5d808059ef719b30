"""The internal message form: what OpenAI, Anthropic and Gemini chat APIs have in common.

A caller's request is parsed into this form only when a target speaks another dialect
(same-dialect requests travel as the caller's bytes). Each dialect module reads its wire
format into these types and writes them back out; nothing here knows any wire format.

Conventions, chosen so that no dialect's information is lost on the way through:

* `Usage.input` is the whole prompt, cached tokens included (OpenAI's and Gemini's
  convention; Anthropic's `input_tokens` excludes cache reads and writes).
* Stop reasons use Anthropic's words (`end_turn`, `max_tokens`, `stop_sequence`,
  `tool_use`, `refusal`, `pause_turn`), the richest of the three vocabularies.
* Tool-call arguments are parsed JSON (Anthropic and Gemini send objects, OpenAI a JSON
  string); a string that does not parse is kept as `RawArguments`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "system"]
"""`system`: an instruction given mid-conversation (Anthropic's `role: "system"` messages),
kept in place; it holds text only. Writers put it where their dialect allows: in place
(OpenAI, Responses) or appended to the system instruction (Gemini, Anthropic)."""
StopReason = str
"""One of `STOP_REASONS`; an unknown upstream reason maps to `end_turn`."""

STOP_REASONS = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal", "pause_turn"}
)


@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Image:
    """An image by value (base64 `data` with its `media_type`) or by reference (`url`)."""

    media_type: str | None = None
    data: str | None = None
    url: str | None = None


@dataclass(slots=True)
class RawArguments:
    """Tool-call arguments that were not valid JSON, kept verbatim."""

    text: str


@dataclass(slots=True)
class ToolCall:
    id: str
    name: str
    arguments: Any
    """Usually a dict; `RawArguments` when the model produced invalid JSON."""


@dataclass(slots=True)
class ToolResult:
    call_id: str
    content: list[Text | Image]
    is_error: bool = False


@dataclass(slots=True)
class Reasoning:
    """A model's reasoning item (OpenAI Responses), kept so it can go back to the provider
    that issued it: `encrypted_content` is opaque and only that provider can read it. Other
    dialects have no place for it and drop it."""

    id: str | None = None
    summary: list[str] = field(default_factory=list)
    encrypted_content: str | None = None


Block = Text | Image | ToolCall | ToolResult | Reasoning


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Block]


@dataclass(slots=True)
class Tool:
    name: str
    description: str | None
    parameters: dict[str, Any]
    """A JSON Schema object (`{"type": "object", ...}`)."""
    freeform: bool = False
    """A Responses custom (freeform) tool: called with one string, carried to other
    dialects as a function whose one string parameter is `input`."""


@dataclass(slots=True)
class ToolChoice:
    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None


@dataclass(slots=True)
class ResponseFormat:
    kind: Literal["json_object", "json_schema"]
    schema: dict[str, Any] | None = None
    name: str | None = None
    strict: bool | None = None


@dataclass(slots=True)
class Request:
    messages: list[Message]
    system: list[str] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: list[str] = field(default_factory=list)
    response_format: ResponseFormat | None = None
    user: str | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    reasoning_effort: str | None = None
    reasoning_summary: str | None = None
    metadata: dict[str, str] | None = None
    namespaced: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Responses namespace tools' flat names → (namespace, name) (`responses_namespace.py`)."""
    dropped: list[str] = field(default_factory=list)
    """Warnings about caller fields that no other dialect can carry (see docs/translation.md)."""


@dataclass(slots=True)
class Usage:
    input: int | None = None
    output: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None
    reasoning: int | None = None
    """Part of `output` spent on hidden reasoning, where the upstream says so."""


@dataclass(slots=True)
class Response:
    id: str
    model: str
    content: list[Text | ToolCall | Reasoning]
    stop: StopReason
    stop_sequence: str | None = None
    usage: Usage = field(default_factory=Usage)
    created: int | None = None

"""What the request handler needs from a dialect, so fault playback is written once.

Each dialect (`openai_*`, `anthropic_*`, `gemini_*`) reads requests and builds its own
bytes from scratch; this module only names the seams between them and the handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from failsoft.sim.answers import Answer
from failsoft.sim.http import Request
from failsoft.sim.prompt import Prompt

SSE_TYPE = b"text/event-stream; charset=utf-8"


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A healthy stream as events, split where faults cut into it."""

    preamble: tuple[bytes, ...]
    """Events before any content (OpenAI role chunk; Anthropic message_start … ping)."""
    content: tuple[bytes, ...]
    """One event per answer piece or tool-call delta; faults count `after` in these."""
    close: tuple[bytes, ...]
    """Events that close the content but do not end the answer (Anthropic content_block_stop)."""
    terminal: tuple[bytes, ...]
    """Events that tell a client how the answer ended (OpenAI finish_reason and usage chunks,
    Anthropic message_delta, Gemini's finishReason chunk); `no_terminal` drops them."""
    marker: tuple[bytes, ...] = ()
    """The bare end marker after them (OpenAI `[DONE]`, Anthropic message_stop, the `]` of a
    Gemini JSON array): `no_done` drops only this, `no_terminal` drops it too."""
    content_type: bytes = SSE_TYPE
    """Gemini streams without `alt=sse` are one JSON array, not SSE."""
    numbered: bool = False
    """Every event carries a `sequence_number` counted from 0 (Responses): an in-band error
    takes the number of the event it replaces, so the numbers a client sees stay in order."""


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An HTTP error to render in a dialect's shape; unset fields take the status's defaults."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    preset: str | None = None
    retry_after: float | None = None
    """Gemini repeats this in the body (a RetryInfo detail); the others use headers only."""


@dataclass(frozen=True, slots=True)
class Reply:
    """Identity shared by every byte of one response."""

    model: str
    request_id: str
    response_id: str
    created: int


class Wire(Protocol):
    dialect: str
    request_id_header: str
    response_prefix: str
    auth_error: ErrorSpec
    """What a missing or wrong key gets (401, except Gemini's 400 API_KEY_INVALID)."""

    def authorized(self, request: Request, api_key: str) -> bool: ...

    def target(self, request: Request, body: object) -> tuple[str | None, bool]:
        """The model asked for (None: not given) and whether the answer is a stream."""
        ...

    def check(
        self, body: Mapping[str, Any], request: Request, model: str | None
    ) -> ErrorSpec | None:
        """The validation error the real API would give, or None."""
        ...

    def prompt(self, body: Mapping[str, Any]) -> Prompt:
        """The request in neutral form; only called on bodies `check` accepted."""
        ...

    def max_tokens(self, body: Mapping[str, Any]) -> int | None: ...

    def completion(self, reply: Reply, answer: Answer, body: Mapping[str, Any]) -> bytes:
        """The whole answer as one JSON body; `body` is the request, for APIs that echo it."""
        ...

    def stream(
        self, reply: Reply, answer: Answer, body: Mapping[str, Any], request: Request
    ) -> StreamPlan: ...

    def error(self, spec: ErrorSpec, reply: Reply) -> bytes: ...

    def malformed_event(self, reply: Reply, request: Request) -> bytes:
        """A junk event that carries no content, for `malformed` with `target: extra`."""
        ...

    def corrupt_event(self, event: bytes) -> bytes:
        """A content event whose JSON no longer parses but whose bytes still hold its text
        fragment, for `malformed` with `target: content`."""
        ...

    def stream_error_event(
        self, request: Request, error_type: str | None, message: str | None
    ) -> bytes: ...

    def models(self, names: Sequence[str], created: int, more: str | None = None) -> bytes:
        """One page of the model list; `more`: the next page's cursor (None: last page)."""
        ...


UNNUMBERED = b'"sequence_number":-1}'
"""Where an in-band error event leaves its sequence number to be filled in by `renumber`."""


def renumber(event: bytes, number: int) -> bytes:
    return event.replace(UNNUMBERED, b'"sequence_number":%d}' % number)


def response_id(prefix: str, number: int) -> str:
    """Counter-based ids look like real ones and stay unique within a process."""
    return f"{prefix}{number:024x}"


def body_model(body: object) -> str | None:
    """OpenAI and Anthropic name the model in the body."""
    model = body.get("model") if isinstance(body, dict) else None
    return model if isinstance(model, str) and model else None


def body_stream(body: object) -> bool:
    return isinstance(body, dict) and body.get("stream") is True

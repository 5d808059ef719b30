"""What the request handler needs from a dialect, so fault playback is written once.

Each dialect module (`openai_wire`, `anthropic_wire`) builds its own bytes from scratch;
this module only names the seams between them and the handler.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from failsoft.sim.answers import Answer


@dataclass(frozen=True, slots=True)
class StreamPlan:
    """A healthy stream as SSE events, split where faults cut into it."""

    preamble: tuple[bytes, ...]
    """Events before any content (OpenAI role chunk; Anthropic message_start … ping)."""
    content: tuple[bytes, ...]
    """One event per answer piece; faults count `after` in these."""
    close: tuple[bytes, ...]
    """Events that close the content but do not end the answer (Anthropic content_block_stop)."""
    terminal: tuple[bytes, ...]
    """Events that tell a client the answer is complete; `no_terminal` drops them."""


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    """An HTTP error to render in a dialect's shape; unset fields take the status's defaults."""

    status: int
    message: str | None = None
    type: str | None = None
    code: str | None = None
    param: str | None = None
    preset: str | None = None


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

    def authorized(self, headers: Mapping[str, str], api_key: str) -> bool: ...

    def check(self, body: Mapping[str, Any], headers: Mapping[str, str]) -> ErrorSpec | None:
        """The validation error the real API would give, or None."""
        ...

    def max_tokens(self, body: Mapping[str, Any]) -> int | None: ...

    def system(self, body: Mapping[str, Any]) -> object: ...

    def completion(self, reply: Reply, answer: Answer) -> bytes: ...

    def stream(self, reply: Reply, answer: Answer, body: Mapping[str, Any]) -> StreamPlan: ...

    def error(self, spec: ErrorSpec, reply: Reply) -> bytes: ...

    def malformed_event(self, reply: Reply) -> bytes: ...

    def stream_error_event(self, error_type: str | None, message: str | None) -> bytes: ...

    def models(self, names: Sequence[str], created: int) -> bytes: ...


def response_id(prefix: str, number: int) -> str:
    """Counter-based ids look like real ones and stay unique within a process."""
    return f"{prefix}{number:024x}"

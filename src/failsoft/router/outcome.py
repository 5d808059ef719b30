"""How one attempt (or one raced pair of attempts) ended, as the fallback loop sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from failsoft.errors import UpstreamError
from failsoft.policy.classify import Verdict
from failsoft.router.attempt import Attempt
from failsoft.types import AttemptRecord, Target

T = TypeVar("T")


@dataclass(slots=True)
class Answer:
    """A whole non-streaming answer, ready to send."""

    body: bytes
    target: Target
    attempts: list[AttemptRecord]
    upstream_request_id: str | None
    warnings: tuple[str, ...] = ()
    """What translating the request for the answering target could not carry."""
    parsed: Any = None
    """The object `body` is the JSON of, when the router parsed or built it (None for a
    stored or static answer): the access line reads the token counts off it
    (`logfmt.usage_known`) rather than scanning `body` for them."""


class Outcome(Generic[T]):
    """A result, or an error and what it means; neither when the target was skipped (at
    its cap) or a race was lost."""

    __slots__ = ("attempt", "error", "ok", "result", "verdict")

    def __init__(
        self,
        attempt: Attempt | None,
        result: T | None = None,
        error: UpstreamError | None = None,
        verdict: Verdict | None = None,
    ) -> None:
        self.attempt = attempt
        self.result = result
        self.error = error
        self.verdict = verdict
        self.ok = error is None and attempt is not None
        """A result (an attribute, not a property: read once or twice per request)."""


async def discard(result: object) -> None:
    """Release a result nobody will use (a stream that lost a race it also won)."""
    close = getattr(result, "aclose", None)
    if close is not None:
        await close()

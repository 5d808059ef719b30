"""`POST /v1/responses`: the OpenAI Responses surface.

No provider speaks Responses yet, so a Responses caller is always translated: the body is
parsed into the internal form here, once, and a request the Responses API itself would
refuse gets its 400 before any target is tried (in the OpenAI error shape). Conversation
state (`previous_response_id`, `conversation`) is refused with a 400 that says so:
failsoft keeps no conversations yet, and no other provider holds OpenAI's.
"""

from __future__ import annotations

from typing import Any

from failsoft.dialects.base import load_body, stream_flag
from failsoft.errors import InvalidRequest, Untranslatable
from failsoft.server.chat import Surface
from failsoft.translate.responses import parse_request
from failsoft.types import ChatRequest


class ConversationState(InvalidRequest):
    code = "unsupported_parameter"


_STATEFUL = ("previous_response_id", "conversation")


def parse_body(body: bytes) -> tuple[dict[str, Any], str, bool]:
    """`(payload, model, stream)` of a Responses request, or `InvalidRequest` saying why not."""
    payload, model = load_body(body)
    for field in _STATEFUL:
        if payload.get(field) is not None:
            raise ConversationState(
                f"'{field}' is not supported: failsoft does not keep conversations yet "
                "(server-side storage, `responses.store`, is planned), and it may answer from "
                "a provider that never saw the earlier turns. Send the whole conversation in "
                "'input' instead.",
                param=field,
            )
    items = payload.get("input")
    if not isinstance(items, str | list):
        raise InvalidRequest("'input' is required and must be a string or an array", param="input")
    return payload, model, stream_flag(payload)


def prepare(request: ChatRequest) -> None:
    """Parse the request into the internal form now: every target needs it."""
    try:
        request.ir = parse_request(request.payload)
    except Untranslatable:
        raise  # a 400 already, in the caller's shape
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise InvalidRequest(f"the request does not have the documented shape ({exc})") from None


SURFACE = Surface("responses", parse=parse_body, prepare=prepare)

"""`POST /v1/responses`: the OpenAI Responses surface.

No provider speaks Responses yet, so a Responses caller is always translated: the body is
parsed into the internal form here, once, and a request the Responses API itself would
refuse gets its 400 before any target is tried (in the OpenAI error shape).
`previous_response_id` is expanded from failsoft's own record before this parse when
`responses.store` is on (failsoft/conversations.py); the Conversations API (`conversation`)
is refused with a 400 that says so.
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


def parse_body(body: bytes) -> tuple[dict[str, Any], str, bool]:
    """`(payload, model, stream)` of a Responses request, or `InvalidRequest` saying why not."""
    payload, model = load_body(body)
    if payload.get("conversation") is not None:
        raise ConversationState(
            "'conversation' is not supported: failsoft does not serve OpenAI's Conversations "
            "API. Continue a conversation with 'previous_response_id' (with `responses.store: "
            "true` in failsoft's config), or send the whole conversation in 'input'.",
            param="conversation",
        )
    items = payload.get("input")
    if not isinstance(items, str | list):
        raise InvalidRequest("'input' is required and must be a string or an array", param="input")
    return payload, model, stream_flag(payload)


def prepare(request: ChatRequest) -> None:
    """Parse the request into the internal form now: every target needs it. Except with a
    `previous_response_id` still there (storage off, and a target of the plan speaks the
    Responses API itself: failsoft/conversations.py checked): only that target can carry
    it, and the others find it untranslatable one by one."""
    if request.payload.get("previous_response_id") is not None:
        return
    try:
        request.ir = parse_request(request.payload)
    except Untranslatable:
        raise  # a 400 already, in the caller's shape
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        raise InvalidRequest(f"the request does not have the documented shape ({exc})") from None


SURFACE = Surface("responses", parse=parse_body, prepare=prepare)

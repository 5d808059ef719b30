"""`POST /v1/responses`: the OpenAI Responses surface.

A target with `api: responses` gets the caller's own bytes (only `model` renamed); any
other target gets the request translated. The body is parsed into the internal form here,
once, and a request whose shape the Responses API itself would refuse gets its 400 before
any target is tried (in the OpenAI error shape). What only a Responses target can carry
(`previous_response_id`, `conversation`, stored prompts) is left for routing to decide:
other targets are skipped as untranslatable, and with none of the caller's dialect left
the caller gets a 400 naming the field. With `responses.store` on, `previous_response_id`
is expanded from failsoft's own record before any of this (failsoft/conversations.py), so
every target can take the conversation.
"""

from __future__ import annotations

from typing import Any

from failsoft.dialects.base import load_body, stream_flag
from failsoft.errors import InvalidRequest
from failsoft.server.chat import Surface, parse_now
from failsoft.translate.responses import parse_request


def parse_body(body: bytes) -> tuple[dict[str, Any], str, bool]:
    """`(payload, model, stream)` of a Responses request, or `InvalidRequest` saying why not."""
    payload, model = load_body(body)
    items = payload.get("input")
    if not isinstance(items, str | list):
        raise InvalidRequest("'input' is required and must be a string or an array", param="input")
    return payload, model, stream_flag(payload)


SURFACE = Surface("responses", parse=parse_body, prepare=parse_now(parse_request))
"""Parsed into the internal form before routing: most targets need it. What only a
Responses target could take is decided per target (`translate` says it again)."""

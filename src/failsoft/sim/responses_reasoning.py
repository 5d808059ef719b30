"""Reasoning items for the Responses API: issued when asked for, checked when sent back.

A gateway must return a reasoning item's `encrypted_content` to the provider that issued it
byte for byte. The simulator issues a keyed value it can verify later without keeping any
state (as it does for Gemini thought signatures), so a test sees whether the value came back
intact; and because it keeps no responses, a reasoning item sent back without it cannot be
resolved, as with the real API under `store: false`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping
from typing import Any

from failsoft.sim.wire import ErrorSpec

SUMMARY = "**Planning the answer**\n\nThe simulated model weighs the request before answering."
"""The summary said when `reasoning.summary` asks for one; its words are the reasoning tokens."""
REASONING_TOKENS = len(SUMMARY.split(" "))
_MAGIC = b"FSimRsn"
_KEY = b"failsoft-sim-reasoning"
_TAG = 9
_ENCRYPTED = "reasoning.encrypted_content"
_SUMMARIES = ("auto", "concise", "detailed")


def wanted(body: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    """(reason at all, with a summary, with `encrypted_content`): a `reasoning` object whose
    effort is not "none" turns reasoning on; `include` asks for the encrypted content."""
    options = body.get("reasoning")
    if not isinstance(options, dict) or options.get("effort") == "none":
        return False, False, False
    include = body.get("include")
    encrypted = isinstance(include, list) and _ENCRYPTED in include
    return True, options.get("summary") in _SUMMARIES, encrypted


def issue(response_id: str) -> str:
    body = _MAGIC + hashlib.blake2b(response_id.encode(), digest_size=24).digest()
    return base64.b64encode(body + _tag(body)).decode()


def verify(item: Mapping[str, Any]) -> ErrorSpec | None:
    """The API's refusals for a reasoning item it cannot use."""
    value = item.get("encrypted_content")
    if value is None:
        return not_persisted(item)
    name = item.get("id") if isinstance(item.get("id"), str) else "(no id)"
    if not _issued(value):
        return ErrorSpec(
            400,
            message=f"The encrypted content for item {name} could not be verified.",
            code="invalid_encrypted_content",
        )
    return None


def not_persisted(item: Mapping[str, Any]) -> ErrorSpec:
    """What an item given only by its id gets: the simulator stores no items."""
    name = item.get("id") if isinstance(item.get("id"), str) else "(no id)"
    return ErrorSpec(
        404,
        message=f"Item with id '{name}' not found. Items are not persisted when `store` is set "
        "to false. Try again with `store` set to true, or remove this item from your input.",
        code="",
        param="input",
    )


def _issued(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    body, tag = raw[:-_TAG], raw[-_TAG:]
    return body.startswith(_MAGIC) and len(body) == len(_MAGIC) + 24 and tag == _tag(body)


def _tag(body: bytes) -> bytes:
    return hashlib.blake2b(body, key=_KEY, digest_size=_TAG).digest()

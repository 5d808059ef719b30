"""Door checks: every inbound request is checked in its own API's terms before routing, so
a request its API would refuse is a 400 in the caller's dialect whatever the targets, and
nothing malformed reaches a translator or an upstream.

One module per dialect, each small and fast (it runs on every request: about a
microsecond or two for a typical chat body, about 1.5 to 2 times orjson parsing it, and
half of that for a 200 KB one; `bench/door_check.py` measures it). Only the
fields failsoft reads are checked; unknown fields and content-part types pass through to
same-dialect targets. Limits (nesting depth, model name) are in `common`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from failsoft.validate import anthropic, gemini, openai, responses
from failsoft.validate.common import MAX_DEPTH, MAX_MODEL, check_depth, check_model

__all__ = ["MAX_DEPTH", "MAX_MODEL", "check_model", "request"]

_CHECKS: dict[str, Callable[[dict[str, Any]], None]] = {
    "openai": openai.check,
    "anthropic": anthropic.check,
    "responses": responses.check,
    "gemini": gemini.check,
}


def request(dialect: str, payload: dict[str, Any], model: str, body: bytes | None = None) -> None:
    """`InvalidRequest` when the request is not one its own API would take: too deeply
    nested, a model name too long or with control characters, a field failsoft reads of
    the wrong type.

    `body`, the bytes `payload` was parsed from, spares the walk for depth when they hold
    at most MAX_DEPTH opening brackets: every level of nesting opens with one, so the
    payload cannot nest deeper (a bracket inside a string only makes the count larger).
    Two byte counts in C where the walk visits every container in Python."""
    check_model(model)
    _CHECKS[dialect](payload)
    if body is None or body.count(b"{") + body.count(b"[") > MAX_DEPTH:
        check_depth(payload)

"""The request an attempt sends: the caller's own bytes (capped, folded, the model
renamed) or the translation for a target of another dialect.

Split from `attempt.py`, which sends what these functions write.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from failsoft.translate.mid_system import fold_native
from failsoft.translate.native import native_request
from failsoft.translate.output_cap import cap_native

if TYPE_CHECKING:
    from failsoft.router.attempt import Attempt


def upstream_body(attempt: Attempt, stream: bool) -> bytes:
    """The request as this target gets it: the caller's bytes with the model renamed,
    or the translation."""
    translation = attempt.translation
    if translation is not None:
        body = translation.body(attempt.target.model, stream, attempt.output_limit)
    else:
        payload, body, _ = native_parts(attempt)
        body = attempt.provider.wire.stream_body(payload, body, attempt.target.model)
    extra = attempt.request.upstream_extra
    if attempt.provider.dialect == "openai":
        usage = stream and attempt.asks_usage()
        if extra or usage:
            obj = {**orjson.loads(body), **extra}
            if usage:
                options = obj.get("stream_options")
                options = options if isinstance(options, dict) else {}
                obj["stream_options"] = {**options, "include_usage": True}
            body = orjson.dumps(obj)
    return body


def native_parts(attempt: Attempt) -> tuple[dict[str, Any], bytes, str | None]:
    """The caller's own request for this target, capped to its output limit (and, for
    an older Claude model, with mid-conversation system messages folded into `system`).
    Worked out once per attempt (its body, then its warnings, both need it)."""
    parts = attempt._native_parts
    if parts is not None:
        return parts
    request = attempt.request
    payload, body = native_request(request)
    model = attempt.target.model
    payload, body, note = cap_native(request, payload, body, attempt.output_limit, model)
    if request.dialect == "anthropic":
        payload, body, moved = fold_native(request, payload, body, model)
        if moved is not None:
            note = moved if note is None else f"{note}; {moved}"
    attempt._native_parts = parts = (payload, body, note)
    return parts

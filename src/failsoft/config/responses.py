"""The `responses:` section: whether failsoft keeps Responses API conversations.

Off by default. The Responses API itself keeps every answer (its `store` defaults to
true), but failsoft is a gateway: it keeps nothing a caller sent unless its operator says
so, because what it keeps is the conversation itself, in plain text (docs/translation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from failsoft.config.validate import check, positive

DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class ResponsesConfig:
    store: bool = False
    """Keep each Responses answer (with its whole input) in the store, so that
    `previous_response_id` continues a conversation on any provider and
    `GET`/`DELETE /v1/responses/{id}` work. Off: such requests go only to a target that
    speaks the Responses API itself, and are refused with a 400 otherwise."""
    retention: float = check(positive, 30 * DAY)
    """Seconds a kept response can be read or continued (OpenAI keeps 30 days); older ones
    are not served and are purged as new ones are written."""
    max_bytes: int = check(positive, 4 * 1024 * 1024)
    """Largest record kept per response (its whole conversation so far and its answer, as
    JSON). A larger one is not kept (a log line says so): a later turn that names it gets
    `previous_response_not_found`."""

"""`POST /v1/messages/count_tokens`: Claude Code asks it before long turns.

Asked of the plan's first Anthropic target that answers (the caller's bytes with the
model renamed, the provider's key and version, the caller's `anthropic-version` and
`anthropic-beta`). When the plan has no Anthropic target, or none answers with a count,
failsoft answers an estimate (`translate/estimate.py`) marked `x-failsoft-estimate:
true`, rather than an error: the caller only wants to know how big its prompt is.
"""

from __future__ import annotations

import logging

import orjson

from failsoft.assemble import Runtime
from failsoft.auth.check import CALLER, allowed
from failsoft.dialects import WIRES
from failsoft.dialects.base import rewrite_model
from failsoft.errors import InvalidRequest, RequestError, UnknownModel
from failsoft.server.asgi import (
    ClientGone,
    Headers,
    Receive,
    Scope,
    Send,
    ascii_header,
    header_map,
    read_body,
    send_bytes,
)
from failsoft.translate.estimate import estimate_tokens
from failsoft.transport.http import FetchError, fetch
from failsoft.types import Target
from failsoft.validate.common import check_depth, check_model

log = logging.getLogger("failsoft.server")

PATH = "/v1/messages/count_tokens"
_WANTED = frozenset({b"content-length", b"anthropic-version", b"anthropic-beta"})
_FORWARDED = (b"anthropic-version", b"anthropic-beta")
_LONGEST = 10.0
"""Seconds an upstream count may take (less when `deadlines.total` is shorter)."""


class CountTokens:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope, _WANTED)
        try:
            payload, body = await self._read(receive, headers)
            model = str(payload["model"])
            if CALLER in scope:
                allowed(scope, model)
            plan = self.runtime.config.resolve(model)
            if plan is None:
                raise UnknownModel(f"model {model!r} is not configured")
        except RequestError as exc:
            await _error(send, exc)
            return
        except ClientGone:  # left while sending its body: no one to answer
            return
        forwarded = {n.decode(): headers[n].decode("latin-1") for n in _FORWARDED if n in headers}
        for target in plan.targets:
            counted = await self._upstream(target, payload, body, forwarded)
            if counted is not None:
                out: Headers = [(b"content-type", b"application/json")]
                out.append((b"x-failsoft-provider", ascii_header(target.provider)))
                out.append((b"x-failsoft-model", ascii_header(target.model)))
                await send_bytes(send, 200, out, counted)
                return
        answer = orjson.dumps({"input_tokens": estimate_tokens(payload)})
        out = [(b"content-type", b"application/json"), (b"x-failsoft-estimate", b"true")]
        await send_bytes(send, 200, out, answer)

    async def _read(
        self, receive: Receive, headers: dict[bytes, bytes]
    ) -> tuple[dict[str, object], bytes]:
        declared = headers.get(b"content-length")
        body = await read_body(
            receive,
            self.runtime.config.server.max_body_bytes,
            int(declared) if declared is not None and declared.isdigit() else None,
        )
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise InvalidRequest("the request body is not valid JSON") from None
        if not isinstance(payload, dict):
            raise InvalidRequest("the request body must be a JSON object")
        if not isinstance(payload.get("model"), str) or not payload["model"]:
            raise InvalidRequest("model: Field required", param="model")
        if not isinstance(payload.get("messages"), list):
            raise InvalidRequest("messages: Input should be a valid list", param="messages")
        check_model(str(payload["model"]))
        check_depth(payload)
        return payload, body

    async def _upstream(
        self, target: Target, payload: dict[str, object], body: bytes, forwarded: dict[str, str]
    ) -> bytes | None:
        """The upstream's `{"input_tokens": N}`, or None (not Anthropic, or no count)."""
        provider = self.runtime.providers[target.provider]
        if provider.dialect != "anthropic":
            return None
        seconds = min(_LONGEST, self.runtime.config.deadlines.total)
        try:
            answer = await fetch(
                self.runtime.transport,
                "POST",
                provider.url + "/count_tokens",
                headers=provider.headers(forwarded),
                body=rewrite_model(payload, body, target.model),
                seconds=seconds,
                limit=64 * 1024,
                pool=self.runtime.transport.pool(provider.name, provider.config.max_connections),
            )
        except FetchError as exc:
            log.info("count_tokens: %s failed (%s); estimating", target.label, exc)
            return None
        try:
            counted = orjson.loads(answer.body) if answer.status == 200 else None
        except orjson.JSONDecodeError:
            counted = None
        tokens = counted.get("input_tokens") if isinstance(counted, dict) else None
        if not isinstance(tokens, int) or isinstance(tokens, bool):
            log.info("count_tokens: %s answered %d; estimating", target.label, answer.status)
            return None
        return orjson.dumps({"input_tokens": tokens})


async def _error(send: Send, exc: RequestError) -> None:
    body = WIRES["anthropic"].error_body(exc.message, exc.anthropic_type)
    headers: Headers = [(b"content-type", b"application/json"), (b"x-should-retry", b"false")]
    await send_bytes(send, exc.status, headers, body)

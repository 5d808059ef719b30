"""The Gemini surface: `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent`,
`:countTokens`, and `GET /v1beta/models`, for google-genai and Gemini CLI.

The model and the mode are in the URL, not the body: `{model}` (with or without Google's
`models/` prefix, URL-decoded) is the virtual model, and `streamGenerateContent?alt=sse`
streams `data:` frames. Without `alt=sse` Google streams one JSON array; failsoft refuses
that with a 400 saying to add it (both SDKs ask for SSE). The same routes are served under
`/v1/`. Callers' keys (`x-goog-api-key`, `?key=`) are accepted and not checked, as on the
other surfaces; the query string is never logged nor quoted back.

`countTokens` is failsoft's estimate (about four characters a token, 258 per image, as
Gemini counts images), marked `x-failsoft-estimate: true`: no tokenizer, no upstream call.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import parse_qs

import orjson

from failsoft import validate
from failsoft.auth.check import CALLER, allowed
from failsoft.auth.check import CONFIG as AUTH_CONFIG
from failsoft.auth.keys import Caller
from failsoft.config import Config
from failsoft.dialects import gemini as wire
from failsoft.dialects.base import load_object
from failsoft.errors import InvalidRequest, RequestError
from failsoft.server.asgi import ClientGone, Headers, Receive, Scope, Send, read_body, send_bytes
from failsoft.server.chat import ChatEndpoint, Surface, parse_now
from failsoft.translate.gemini_caller import parse_request

_IMAGE_TOKENS = 258
_UNCOUNTED = frozenset(
    {"role", "inlineData", "fileData", "inline_data", "file_data", "thoughtSignature",
     "thought_signature", "mimeType", "mime_type"}
)  # fmt: skip
"""Fields that are not text the model reads (images are counted apart)."""
_JSON: Headers = [(b"content-type", b"application/json")]
_GOOGLE_HEADERS = frozenset({b"x-goog-api-key", b"x-goog-api-client"})
_METHODS = ("generateContent", "streamGenerateContent", "countTokens")


def serves(scope: Scope) -> bool:
    """Whether the request is this surface's: anything under `/v1beta/models`, and under
    `/v1/models/` a method call (`…:generateContent`) or a Google SDK's request (other
    `/v1/models/…` paths stay OpenAI's)."""
    path: str = scope["path"]
    if path.startswith("/v1beta/models"):
        return True
    return path.startswith("/v1/models/") and (":" in path or from_google(scope))


def from_google(scope: Scope) -> bool:
    """A Google SDK's request (it names itself in `x-goog-api-client`, or sends its key
    Google's way): `GET /v1/models` then gets the Gemini list, not the OpenAI one."""
    if b"key=" in scope.get("query_string", b""):
        return True
    return any(name in _GOOGLE_HEADERS for name, _ in scope["headers"])


def split_path(path: str) -> tuple[str, str] | None:
    """`(model, method)` of `/v1beta/models/{model}:{method}`; None for another path. The
    model may hold a `/` (`provider/model`); the method follows the last `:`."""
    for prefix in ("/v1beta/models/", "/v1/models/"):
        if path.startswith(prefix):
            model, sep, method = path[len(prefix) :].rpartition(":")
            if not sep:
                return path[len(prefix) :].removeprefix("models/"), ""
            return model.removeprefix("models/"), method
    return None


def route(scope: Scope) -> tuple[str, bool]:
    """`(model, stream)` from the URL of a generateContent call."""
    found = split_path(scope["path"])
    if found is None:
        raise InvalidRequest("not a generateContent path")
    model, method = found
    check_model(model)
    if method != "streamGenerateContent":
        return model, False
    alt = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("alt", [""])[-1]
    if alt != "sse":
        raise InvalidRequest(
            "failsoft streams Gemini answers as server-sent events only: "
            "call streamGenerateContent with ?alt=sse"
        )
    return model, True


def check_model(model: str) -> None:
    if not model:
        raise InvalidRequest("the URL names no model (/v1beta/models/{model}:generateContent)")
    validate.check_model(model, param=None)  # the path is URL-decoded: %0A is a newline


def parse_body(body: bytes) -> tuple[dict[str, Any], str, bool]:
    """`(payload, "", False)`: model and mode come from the URL (`route`)."""
    return load_object(body), "", False


SURFACE = Surface("gemini", parse=parse_body, prepare=parse_now(parse_request), route=route)
"""Parsed before routing: a shape Google would refuse is a 400 before any target is tried;
what only Gemini can carry is decided per target."""


class GeminiRoutes:
    """Everything under `/v1beta/models` (and `/v1/models/{model}:…`)."""

    def __init__(self, config: Config, chat: ChatEndpoint, max_body_bytes: int) -> None:
        self.chat = chat
        self.max_body_bytes = max_body_bytes
        self.reconfigure(config)

    def reconfigure(self, config: Config) -> None:
        """The models of a reloaded config."""
        self.config = config
        self._list = orjson.dumps({"models": [_model_info(n) for n in config.models]})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        found = split_path(path)
        if found is None or not found[1]:
            if method not in ("GET", "HEAD"):
                await _error(send, 405, f"{method} is not served here", allow=b"GET")
            elif found is None and path.rstrip("/") in ("/v1beta/models", "/v1/models", "/models"):
                await send_bytes(send, 200, list(_JSON), self._models_for(scope.get(CALLER)))
            elif found is not None and _forbidden(scope, found[0]):
                await _error(send, 403, f"this API key may not use models/{found[0][:80]}")
            elif (
                found is not None
                and (path.startswith("/v1beta/") or from_google(scope))
                and self.config.resolve(found[0]) is not None
            ):
                body = orjson.dumps(_model_info(found[0]))
                await send_bytes(send, 200, list(_JSON), body)
            else:
                await _error(send, 404, "no such model or route")
            return
        model, verb = found
        if verb not in _METHODS:
            await _error(send, 404, f"failsoft serves {', '.join(_METHODS)}, not {verb[:40]!r}")
        elif method != "POST":
            await _error(send, 405, f"{verb} accepts POST, not {method}", allow=b"POST")
        elif verb == "countTokens":
            await self._count(scope, receive, send, model)
        else:
            await self.chat(scope, receive, send)

    def _models_for(self, caller: Caller | None) -> bytes:
        """The Gemini model list, cut to what `caller`'s key may use (`auth:`)."""
        if caller is None or caller.models is None:
            return self._list
        names = [n for n in self.config.models if caller.allows(n, self.config)]
        return orjson.dumps({"models": [_model_info(n) for n in names]})

    async def _count(self, scope: Scope, receive: Receive, send: Send, model: str) -> None:
        try:
            check_model(model)
            if CALLER in scope:
                allowed(scope, model)
            if self.config.resolve(model) is None:
                await _error(send, 404, f"models/{model[:80]} is not a model of this gateway")
                return
            body = await read_body(receive, self.max_body_bytes, None)
            payload = load_object(body)
            tokens = estimate(payload)
        except RequestError as exc:
            await _error(send, exc.status, exc.message)
            return
        except ClientGone:  # left while sending its body: no one to answer
            return
        headers = [*_JSON, (b"x-failsoft-estimate", b"true")]
        await send_bytes(send, 200, headers, orjson.dumps({"totalTokens": tokens}))


def estimate(payload: dict[str, Any]) -> int:
    """About four characters a token over every string in the request (the text, tool
    declarations, call arguments), plus 258 per image; at least 1 for any content."""
    inner = payload.get("generateContentRequest")
    if isinstance(inner, dict):
        payload = inner
    contents = payload.get("contents")
    if contents is not None and not isinstance(contents, list):
        raise InvalidRequest("'contents' must be an array")
    counted = {k: payload.get(k) for k in ("contents", "systemInstruction", "tools")}
    chars, images = _measure(counted, 0)
    if chars == 0 and images == 0:
        return 0
    return max(1, math.ceil(chars / 4)) + images * _IMAGE_TOKENS


def _measure(value: Any, depth: int) -> tuple[int, int]:
    if isinstance(value, str):
        return len(value), 0
    if depth > 64:
        return 0, 0
    chars = images = 0
    items: Any = ()
    if isinstance(value, dict):
        if ("inlineData" in value or "fileData" in value) and depth > 0:
            images += 1
        items = [v for k, v in value.items() if k not in _UNCOUNTED]
    elif isinstance(value, list):
        items = value
    for item in items:
        c, i = _measure(item, depth + 1)
        chars, images = chars + c, images + i
    return chars, images


def _forbidden(scope: Scope, model: str) -> bool:
    caller: Caller | None = scope.get(CALLER)
    return caller is not None and not caller.allows(model, scope[AUTH_CONFIG])


def _model_info(name: str) -> dict[str, Any]:
    return {
        "name": f"models/{name}",
        "displayName": name,
        "description": "a failsoft virtual model",
        "supportedGenerationMethods": list(_METHODS),
    }


async def _error(send: Send, status: int, message: str, allow: bytes = b"") -> None:
    headers = [*_JSON, (b"x-should-retry", b"false")]
    if allow:
        headers.append((b"allow", allow))
    error = {"code": status, "message": message, "status": wire.status_name(status)}
    await send_bytes(send, status, headers, orjson.dumps({"error": error}))

"""The door: the key a request carries, read the way each SDK sends it, and the refusal in
the caller's dialect when it is missing, unknown or expired.

Read from `x-api-key` (anthropic), `x-goog-api-key` or `?key=` (google-genai), or
`Authorization: Bearer` (openai, and anthropic's `auth_token`). The key is never logged
nor quoted back: a refusal names only the route.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from failsoft.auth.keys import Caller, KeyRing
from failsoft.auth.stored import StoredKeys
from failsoft.config import Config
from failsoft.dialects import WIRES
from failsoft.errors import ForbiddenModel, RequestError, Unauthenticated
from failsoft.server.asgi import Headers, Scope, Send, send_bytes
from failsoft.types import Dialect

CALLER = "failsoft.caller"
"""The scope entry holding the request's `Caller` once its key matched."""
CONFIG = "failsoft.auth_config"
"""The scope entry holding the config the key was checked against (for its grants)."""

_HEADERS = frozenset({b"authorization", b"x-api-key", b"x-goog-api-key"})


def credential(scope: Scope) -> bytes:
    """The key the caller sent, or b""."""
    found: dict[bytes, bytes] = {n: v for n, v in scope["headers"] if n in _HEADERS}
    for name in (b"x-api-key", b"x-goog-api-key"):
        value = found.get(name)
        if value:
            return value.strip()
    bearer = found.get(b"authorization")
    if bearer:
        scheme, _, value = bearer.strip().partition(b" ")
        if scheme.lower() == b"bearer":
            return value.strip()
    return query_key(scope)


def query_key(scope: Scope) -> bytes:
    """Google's `?key=` (never logged), or b""."""
    query: bytes = scope.get("query_string", b"")
    if query.find(b"key=") >= 0:  # (`find`: `in` raises and clears a TypeError first)
        for pair in query.split(b"&"):
            name, _, value = pair.partition(b"=")
            if name == b"key":
                return value
    return b""


class Gate:
    """Admits a request whose key is known and current; refuses the rest."""

    __slots__ = ("_now", "config", "ring")

    def __init__(
        self,
        config: Config,
        now: Callable[[], float] = time.time,
        stored: StoredKeys | None = None,
    ) -> None:
        assert config.auth is not None
        self.config = config
        self.ring = KeyRing(config.auth, stored=stored)
        self._now = now

    def admit(self, scope: Scope) -> Caller:
        """The caller, stored in the scope; raises `Unauthenticated`."""
        raw = credential(scope)
        if not raw:
            raise Unauthenticated(
                "failsoft: this gateway requires an API key (Authorization: Bearer, "
                "x-api-key or x-goog-api-key)"
            )
        caller = self.ring.find(raw)
        if caller is None:
            raise Unauthenticated("failsoft: the API key is not valid")
        if caller.expired(self._now()):
            raise Unauthenticated("failsoft: the API key has expired")
        scope[CALLER] = caller
        scope[CONFIG] = self.config
        return caller


def allowed(scope: Scope, model: str) -> None:
    """Raises `ForbiddenModel` when the request's caller may not use `model`."""
    caller: Caller | None = scope.get(CALLER)
    if caller is not None and not caller.allows(model, scope[CONFIG]):
        raise ForbiddenModel(f"failsoft: this API key may not use the model {model!r}")


def namespace(scope: Scope) -> bytes | None:
    """The answer cache's per-caller namespace: the key's name, not the key, so a key
    replaced under the same name keeps its cache. None without `auth`."""
    caller: Caller | None = scope.get(CALLER)
    return None if caller is None else b"caller:" + caller.name.encode()


async def refuse(
    send: Send, dialect: Dialect, exc: RequestError, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """`exc` as the caller's SDK expects it, with `x-should-retry: false` (and `extra`)."""
    kind = exc.anthropic_type if dialect == "anthropic" else exc.openai_type
    body = WIRES[dialect].error_body(exc.message, kind, code=exc.code)
    headers: Headers = [(b"content-type", b"application/json"), (b"x-should-retry", b"false")]
    headers += extra
    if exc.status == 401 and dialect != "gemini":
        headers.append((b"www-authenticate", b'Bearer realm="failsoft"'))
    await send_bytes(send, exc.status, headers, body)

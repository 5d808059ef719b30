"""Small read-only routes: liveness and the model list."""

from __future__ import annotations

import time

import orjson

from failsoft.auth.keys import Caller
from failsoft.config import Config
from failsoft.config.schema import is_pattern
from failsoft.readiness import Readiness
from failsoft.server.asgi import Headers, Scope, Send, send_bytes

_JSON: Headers = [(b"content-type", b"application/json")]


ROOT = b"failsoft: an LLM gateway that fails over across providers. Status: /status\n"


async def root(send: Send) -> None:
    """`GET /` and `HEAD /`: 200, so a client's or load balancer's reachability check
    passes (Claude Code sends `HEAD /` before its first request). Names nothing secret."""
    await send_bytes(send, 200, [(b"content-type", b"text/plain; charset=utf-8")], ROOT)


async def healthz(send: Send) -> None:
    await send_bytes(send, 200, list(_JSON), b'{"status":"ok"}')


async def readyz(readiness: Readiness, send: Send) -> None:
    """200 when a load balancer should send this process requests, else 503; the body
    names each check, so an operator sees why."""
    ready, checks = readiness.ready()
    body = orjson.dumps(
        {
            "status": "ready" if ready else "not ready",
            "checks": {
                c.name: {
                    "ok": c.ok,
                    "required": c.required,
                    **({"detail": c.detail} if c.detail else {}),
                }
                for c in checks
            },
        }
    )
    await send_bytes(send, 200 if ready else 503, list(_JSON), body)


class ModelList:
    """`GET /v1/models`: the virtual models, in the OpenAI list shape, or the Anthropic shape
    when the caller sends `anthropic-version` (as `anthropic.Anthropic().models.list()` does).
    Aliases are listed too (patterns are not names), so a client that checks its model
    against the list finds it; so are the `provider/model` names a provider's own list
    admits (`direct: ["@listed"]`), re-rendered when a list is replaced."""

    def __init__(self, config: Config) -> None:
        self._config = config
        self._created = int(time.time())
        names = list(config.models)
        names += [a for m in config.models.values() for a in m.aliases if not is_pattern(a)]
        self._planned = names
        self._names = names
        self._openai, self._anthropic = self._render(names)
        self._per_caller: dict[str, tuple[bytes, bytes]] = {}
        """Caller name → its filtered lists; bounded by the keys in the config."""
        self._listed: dict[str, frozenset[str]] = {}
        """The providers' lists the rendered bytes hold (compared by identity)."""

    def _follow_lists(self) -> None:
        """Re-render when a provider's list was replaced (every `list_refresh` at most)."""
        listed = self._config.names.listed
        seen = self._listed
        if len(listed) == len(seen) and all(seen.get(p) is ms for p, ms in listed.items()):
            return
        self._listed = dict(listed)
        direct = sorted(f"{p}/{m}" for p, ms in listed.items() for m in ms)
        self._names = self._planned + direct
        self._openai, self._anthropic = self._render(self._names)
        self._per_caller.clear()

    def _render(self, names: list[str]) -> tuple[bytes, bytes]:
        created = self._created
        openai = orjson.dumps(
            {
                "object": "list",
                "data": [
                    {"id": n, "object": "model", "created": created, "owned_by": "failsoft"}
                    for n in names
                ],
            }
        )
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
        anthropic = orjson.dumps(
            {
                "data": [
                    {"type": "model", "id": n, "display_name": n, "created_at": stamp}
                    for n in names
                ],
                "has_more": False,
                "first_id": names[0] if names else None,
                "last_id": names[-1] if names else None,
            }
        )
        return openai, anthropic

    async def __call__(self, scope: Scope, send: Send, caller: Caller | None = None) -> None:
        """With `auth` on, only the models `caller`'s key may use are listed."""
        anthropic = any(name == b"anthropic-version" for name, _ in scope["headers"])
        if self._listed or self._config.names.listed:
            self._follow_lists()
        openai_list, anthropic_list = self._openai, self._anthropic
        if caller is not None and caller.models is not None:
            lists = self._per_caller.get(caller.name)
            if lists is None:
                names = [n for n in self._names if caller.allows(n, self._config)]
                lists = self._per_caller[caller.name] = self._render(names)
            openai_list, anthropic_list = lists
        await send_bytes(send, 200, list(_JSON), anthropic_list if anthropic else openai_list)

"""`GET` and `DELETE /v1/responses/{id}`, and `GET /v1/responses/{id}/input_items`: the
responses failsoft keeps (`responses.store`), in the shapes of OpenAI's API.

Errors are OpenAI's: `{"error": {"message", "type", "param", "code"}}`, 404 for a
response that is unknown, expired or deleted, and for every response while storage is off
(failsoft then keeps none). With `auth:` on, a response kept for another key is
unknown too (conversations.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import orjson

from failsoft.auth.check import CALLER
from failsoft.auth.keys import Caller
from failsoft.conversations import MAX_ID, Conversations, ResponseNotFound
from failsoft.dialects import WIRES
from failsoft.errors import InvalidRequest, RequestError
from failsoft.server.asgi import Headers, Scope, Send, send_bytes
from failsoft.server.ids import new_request_id

PREFIXES = ("/v1/responses/", "/responses/")
_LIMIT = 20
"""Items per page of `input_items` unless `limit` says (OpenAI: 1 to 100, default 20)."""


class ResponseRoutes:
    def __init__(self, conversations: Conversations) -> None:
        self.conversations = conversations
        self.wire = WIRES["responses"]

    async def __call__(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        method: str = scope["method"]
        rest = next(path[len(p) :] for p in PREFIXES if path.startswith(p))
        ident, _, tail = rest.partition("/")
        rid = new_request_id()
        caller: Caller | None = scope.get(CALLER)
        owner = None if caller is None else caller.name
        try:
            if not ident or len(ident) > MAX_ID or tail not in ("", "input_items"):
                raise ResponseNotFound(f"no route {method} {path}")
            if tail == "input_items":
                if method not in ("GET", "HEAD"):
                    await self._not_allowed(send, path, method, b"GET", rid)
                    return
                query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
                items = await self._input_items(ident, owner, query)
                await self._json(send, 200, items, rid)
            elif method in ("GET", "HEAD"):
                found = await self._find(ident, owner)
                await self._json(send, 200, found["response"], rid)
            elif method == "DELETE":
                if not await self.conversations.delete(ident, owner):
                    raise _not_found(ident)
                gone = {"id": ident, "object": "response", "deleted": True}
                await self._json(send, 200, gone, rid)
            else:
                await self._not_allowed(send, path, method, b"GET, DELETE", rid)
        except RequestError as exc:
            body = self.wire.error_body(
                exc.message, exc.openai_type, code=exc.code, param=exc.param, request_id=rid
            )
            await send_bytes(send, exc.status, _headers(rid), body)

    async def _find(self, ident: str, owner: str | None) -> dict[str, Any]:
        conversations = self.conversations
        found = await conversations.find(ident, owner) if conversations.enabled else None
        if found is None or not isinstance(found.get("response"), dict):
            raise _not_found(ident)
        return found

    async def _input_items(
        self, ident: str, owner: str | None, query: dict[str, list[str]]
    ) -> dict[str, Any]:
        found = await self._find(ident, owner)
        items = [
            {"id": f"item_{ident}_{n}", **item} if "id" not in item else item
            for n, item in enumerate(found.get("input") or ())
            if isinstance(item, dict)
        ]
        order = (query.get("order") or ["desc"])[0]
        if order not in ("asc", "desc"):
            raise InvalidRequest("'order' must be 'asc' or 'desc'", param="order")
        if order == "desc":
            items.reverse()
        after = query.get("after")
        if after:
            at = next((i for i, item in enumerate(items) if item["id"] == after[0]), None)
            items = items[at + 1 :] if at is not None else []
        raw = (query.get("limit") or [str(_LIMIT)])[0]
        if not raw.isdigit() or not 1 <= int(raw) <= 100:
            raise InvalidRequest("'limit' must be an integer from 1 to 100", param="limit")
        page = items[: int(raw)]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": len(items) > len(page),
        }

    async def _json(self, send: Send, status: int, obj: Any, rid: str) -> None:
        await send_bytes(send, status, _headers(rid), orjson.dumps(obj))

    async def _not_allowed(
        self, send: Send, path: str, method: str, allow: bytes, rid: str
    ) -> None:
        body = self.wire.error_body(
            f"{path} accepts {allow.decode()}, not {method}",
            "invalid_request_error",
            request_id=rid,
        )
        await send_bytes(send, 405, [*_headers(rid), (b"allow", allow)], body)


def _not_found(ident: str) -> ResponseNotFound:
    return ResponseNotFound(f"Response with id '{ident}' not found.")


def _headers(rid: str) -> Headers:
    return [
        (b"content-type", b"application/json"),
        (b"x-failsoft-request-id", rid.encode()),
        (b"x-request-id", rid.encode()),
    ]

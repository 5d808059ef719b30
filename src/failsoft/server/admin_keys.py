"""`/admin/keys…`: caller keys kept in the store (behind the admin token, admin_api.py).

    POST   /admin/keys                 {"name", "expires", "models", "limits", "metadata"}
                                       → 201 with the key and its `secret` (shown once)
    GET    /admin/keys                 every key (config and store): no secret, no digest
    GET    /admin/keys/{id or name}    one key
    POST   /admin/keys/{id}/rotate     {"grace": seconds} → 200 with the new `secret`
    DELETE /admin/keys/{id}            revoke → 200

A write applies in this process before the answer is sent, and in every other process
within `auth.refresh` seconds (at once through Redis with `state.url`).
"""

from __future__ import annotations

from typing import Any

from failsoft.assemble import Runtime
from failsoft.auth.manage import KeyAdmin, KeyConflict, KeyInputError, KeyNotFound, parse_spec

PREFIX = "/admin/keys"


class KeyRoutes:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def _admin(self) -> KeyAdmin:
        return KeyAdmin(self.runtime.store, self.runtime.config, self.runtime.clock.wall)

    async def route(
        self, method: str, path: str, body: dict[str, Any] | None
    ) -> tuple[int, Any] | None:
        """(status, JSON) for a keys route, or None when `path` is not one. `body` is
        the request's JSON object for POST (None otherwise)."""
        rest = path[len(PREFIX) :].strip("/")
        try:
            return await self._route(method, rest, body or {})
        except KeyInputError as exc:
            return 400, _error(str(exc))
        except KeyNotFound as exc:
            return 404, _error(str(exc))
        except KeyConflict as exc:
            return 409, _error(str(exc))

    async def _route(self, method: str, rest: str, body: dict[str, Any]) -> tuple[int, Any] | None:
        admin = self._admin()
        watch = self.runtime.keys
        if not rest:
            if method == "GET":
                return 200, {"keys": await admin.listing()}
            if method == "POST":
                key, secret = await admin.create(parse_spec(body))
                await watch.changed()
                return 201, {**key, "secret": secret}
            return 405, _error(f"{PREFIX} accepts GET and POST, not {method}")
        ident, _, action = rest.partition("/")
        if action == "rotate" and method == "POST":
            grace = body.get("grace", 0)
            if not isinstance(grace, int | float) or isinstance(grace, bool):
                raise KeyInputError("grace: a number of seconds")
            key, secret = await admin.rotate(ident, float(grace))
            await watch.changed()
            return 200, {**key, "secret": secret}
        if action:
            return None
        if method == "GET":
            return 200, await admin.get(ident)
        if method == "DELETE":
            key = await admin.revoke(ident)
            await watch.changed()
            return 200, key
        return 405, _error(f"{PREFIX}/{{id}} accepts GET and DELETE, not {method}")


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message}}

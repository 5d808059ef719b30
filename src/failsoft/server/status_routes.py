"""`/status` (the HTML page) and `/status/api/v2/*.json` (Statuspage v2 shapes)."""

from __future__ import annotations

import logging

from failsoft.assemble import Runtime
from failsoft.config import Config
from failsoft.server.admin_api import AdminAPI
from failsoft.server.asgi import Headers, Scope, Send, send_bytes
from failsoft.status.service import StatusService
from failsoft.status.statuspage_json import ENDPOINTS

log = logging.getLogger("failsoft.status")
_API = "/status/api/v2/"


class StatusRoutes:
    def __init__(self, runtime: Runtime, admin: AdminAPI) -> None:
        self.runtime = runtime
        self.admin = admin
        self.service = StatusService(runtime)
        self.enabled = runtime.config.status.enabled
        self.public = runtime.config.status.public

    def reconfigure(self, config: Config) -> None:
        """`status.enabled` and `status.public` of a reloaded config."""
        self.enabled = config.status.enabled
        self.public = config.status.public

    async def __call__(self, scope: Scope, send: Send) -> None:
        path: str = scope["path"]
        if not self.enabled:
            await _text(send, 404, b"the status page is turned off (status.enabled: false)")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _text(send, 405, b"the status page accepts GET", [(b"allow", b"GET")])
            return
        if not self.public and not self.admin.authorized(scope):
            await _text(send, 401, b"this status page needs Authorization: Bearer <admin.token>")
            return
        try:
            if path in ("/status", "/status/", "/status/index.html"):
                body = await self.service.render("html")
                headers: Headers = [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-security-policy", self.service.csp.encode()),
                    (b"cache-control", b"no-cache"),
                    (b"x-content-type-options", b"nosniff"),
                ]
                await send_bytes(send, 200, headers, body)
                return
            name = path[len(_API) :] if path.startswith(_API) else ""
            if name in ENDPOINTS:
                body = await self.service.render(name)
                headers = [
                    (b"content-type", b"application/json"),
                    (b"cache-control", b"no-cache"),
                    (b"access-control-allow-origin", b"*"),
                ]
                await send_bytes(send, 200, headers, body)
                return
        except Exception:
            log.exception("rendering the status page failed")
            await _text(send, 500, b"the status page could not be rendered; see the gateway log")
            return
        await _text(send, 404, f"no status route {path}".encode())


async def _text(send: Send, status: int, body: bytes, extra: Headers | None = None) -> None:
    headers: Headers = [(b"content-type", b"text/plain; charset=utf-8"), *(extra or [])]
    await send_bytes(send, status, headers, body)

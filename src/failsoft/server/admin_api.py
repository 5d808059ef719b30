"""`/admin/…`: the operator's handle on health, breakers and incidents.

Token-protected (`admin.token`, sent as `Authorization: Bearer …`); without a configured
token the routes do not exist (404), so an unconfigured gateway exposes nothing. Bodies are
small JSON; this is control-plane code and favours clear errors over speed.

    GET  /admin/health                  components, breakers, active incidents
    POST /admin/breakers                {"target": "provider/model", "state": "open"|"closed",
                                         "seconds": 60}
    GET  /admin/incidents               active and recent incidents (?days=90)
    POST /admin/incidents               {"title", "components": [...], "body", "impact",
                                         "status", "maintenance", "scheduled_for",
                                         "scheduled_until"}
    POST /admin/incidents/{id}          {"body", "status"} (status "resolved" resolves it)
    GET  /admin/dead-letters            webhook messages that could not be delivered
    POST /admin/reload                  reload the config file (every worker); 400 with
                                        the file's problems when it is invalid
    /admin/keys…                        caller keys kept in the store (admin_keys.py)
    GET  /admin/usage                   spend and tokens per caller key, model and day
                                        (?key=&since=&until=&group_by=; usage/report.py)
"""

from __future__ import annotations

import dataclasses
import hmac
from datetime import timedelta
from typing import Any

import orjson

from failsoft.assemble import Runtime
from failsoft.config import Config
from failsoft.errors import PayloadTooLarge
from failsoft.health.codec import incident_to_json, iso, parse_time
from failsoft.health.types import Incident
from failsoft.policy.breaker import State as BreakerState
from failsoft.server.admin_keys import PREFIX as KEYS
from failsoft.server.admin_keys import KeyRoutes
from failsoft.server.asgi import ClientGone, Receive, Scope, Send, read_body, send_bytes
from failsoft.store import StoreUnavailable
from failsoft.types import Target
from failsoft.usage.report import BadQuery, usage_report

_LIMIT = 64 * 1024
_STATUSES = ("investigating", "identified", "monitoring", "resolved", "postmortem")
_IMPACTS = ("none", "minor", "major", "critical")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class AdminAPI:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._token: bytes | None = None
        self._keys = KeyRoutes(runtime)
        self.reconfigure(runtime.config)

    def reconfigure(self, config: Config) -> None:
        """`admin.token` of a reloaded config (a new token works at once, the old one no
        longer does)."""
        token = config.admin.token
        self._token = token.reveal().encode() if token else None

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def authorized(self, scope: Scope) -> bool:
        """Constant-time check of the bearer token (also used by a private status page)."""
        return bearer_is(scope, self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.enabled:
            await _json(send, 404, {"error": {"message": "no admin API: admin.token is unset"}})
            return
        if not self.authorized(scope):
            await _json(
                send,
                401,
                {"error": {"message": "admin routes need Authorization: Bearer <admin.token>"}},
                [(b"www-authenticate", b'Bearer realm="failsoft admin"')],
            )
            return
        try:
            status, body = await self._route(scope, receive)
        except AdminError as exc:
            status, body = exc.status, {"error": {"message": str(exc)}}
        except StoreUnavailable as exc:  # history and dead letters live in the store
            status, body = 503, {"error": {"message": str(exc)}}
        except ClientGone:  # left while sending its body: no one to answer
            return
        await _json(send, status, body)

    async def _route(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        path: str = scope["path"].rstrip("/")
        method: str = scope["method"]
        if path == KEYS or path.startswith(KEYS + "/"):
            body = await _body(scope, receive) if method == "POST" else None
            found = await self._keys.route(method, path, body)
            if found is not None:
                return found
        if path == "/admin/health" and method == "GET":
            return 200, self._health()
        if path == "/admin/breakers" and method == "POST":
            return 200, self._force(await _body(scope, receive))
        if path == "/admin/incidents" and method == "GET":
            return 200, await self._incidents(scope)
        if path == "/admin/incidents" and method == "POST":
            return 201, await self._create(await _body(scope, receive))
        if path.startswith("/admin/incidents/") and method == "POST":
            incident_id = path[len("/admin/incidents/") :]
            return 200, await self._update(incident_id, await _body(scope, receive))
        if path == "/admin/reload" and method == "POST":
            reloader = self.runtime.reloader
            if reloader is None:
                raise AdminError(404, "no config file to reload: this gateway was given none")
            outcome = await reloader.reload_all()
            return (200 if outcome.ok else 400), outcome.to_json()
        if path == "/admin/usage" and method == "GET":
            try:
                report = await usage_report(
                    self.runtime.ledger, scope.get("query_string", b""), self.runtime.clock.wall()
                )
            except BadQuery as exc:
                raise AdminError(400, str(exc)) from None
            return 200, report
        if path == "/admin/dead-letters" and method == "GET":
            letters = await self.runtime.store.dead_letters()
            return 200, {
                "dead_letters": [
                    {
                        "endpoint": d.endpoint_url,
                        "message_id": d.message_id,
                        "event_type": d.event_type,
                        "attempts": d.attempts,
                        "last_error": d.last_error,
                        "at": iso(d.at),
                        "body": orjson.loads(d.body) if d.body[:1] == b"{" else None,
                    }
                    for d in letters
                ]
            }
        raise AdminError(404, f"no admin route {method} {path}")

    def _health(self) -> dict[str, Any]:
        health = self.runtime.health
        return {
            "components": [
                {
                    **dataclasses.asdict(c),
                    "since": iso(c.since),
                }
                for c in health.health()
            ],
            "incidents": [incident_to_json(i) for i in health.keeper.active.values()],
            "providers": {
                name: {
                    "indicator": s.indicator,
                    "description": s.description,
                    "fetched_at": iso(s.fetched_at),
                    "error": s.error,
                }
                for name, s in health.declared.items()
            },
        }

    def _force(self, body: dict[str, Any]) -> dict[str, Any]:
        target = _target(body.get("target"), self.runtime)
        state = body.get("state")
        if state not in ("open", "closed"):
            raise AdminError(400, "state must be 'open' or 'closed'")
        seconds = body.get("seconds")
        if seconds is not None and (not isinstance(seconds, int | float) or seconds <= 0):
            raise AdminError(400, "seconds must be a positive number")
        breaker = self.runtime.router.state.breakers[target]
        breaker.force(BreakerState.OPEN if state == "open" else BreakerState.CLOSED, seconds)
        return {"target": target.label, "state": breaker.state.value}

    async def _incidents(self, scope: Scope) -> dict[str, Any]:
        query = scope.get("query_string", b"").decode()
        days = self.runtime.config.status.history_days
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key == "days" and value.isdigit():
                days = int(value)
        since = self.runtime.health.now() - timedelta(days=days)
        found = await self.runtime.store.incidents(since=since)
        return {"incidents": [incident_to_json(i) for i in found]}

    async def _create(self, body: dict[str, Any]) -> dict[str, Any]:
        title = body.get("title")
        if not isinstance(title, str) or not title.strip():
            raise AdminError(400, "title is required")
        components = body.get("components") or []
        if not isinstance(components, list) or not components:
            raise AdminError(400, "components must be a non-empty list of 'provider/model'")
        labels = tuple(_target(c, self.runtime).label for c in components)
        maintenance = bool(body.get("maintenance"))
        status = body.get("status", "investigating")
        if status not in _STATUSES or status == "resolved":
            raise AdminError(400, f"status must be one of {', '.join(_STATUSES[:3])}")
        impact = body.get("impact", "major")
        if impact not in _IMPACTS:
            raise AdminError(400, f"impact must be one of {', '.join(_IMPACTS)}")
        try:
            start = parse_time(body.get("scheduled_for"))
            end = parse_time(body.get("scheduled_until"))
        except ValueError as exc:
            raise AdminError(400, f"scheduled_for/scheduled_until: {exc}") from None
        if maintenance and end is None:
            raise AdminError(400, "a maintenance window needs scheduled_until")
        if start is not None and end is not None and end <= start:
            raise AdminError(400, "scheduled_until must be after scheduled_for")
        health = self.runtime.health
        default_body = "Scheduled maintenance." if maintenance else "We are investigating."
        event = health.keeper.create(
            title=title.strip(),
            components=labels,
            body=str(body.get("body") or default_body),
            now=health.now(),
            impact=impact,
            status=status,
            maintenance=maintenance,
            scheduled_for=start,
            scheduled_until=end,
        )
        await health.record(event)
        return incident_to_json(event[1])

    async def _update(self, incident_id: str, body: dict[str, Any]) -> dict[str, Any]:
        health = self.runtime.health
        if incident_id not in health.keeper.active:
            raise AdminError(404, f"no open incident {incident_id!r}")
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise AdminError(400, "body (the update's text) is required")
        status = body.get("status")
        if status is not None and status not in _STATUSES:
            raise AdminError(400, f"status must be one of {', '.join(_STATUSES)}")
        event = health.keeper.update(
            incident_id, body=text.strip(), now=health.now(), status=status
        )
        await health.record(event)
        incident: Incident = event[1]
        return incident_to_json(incident)


def _target(value: Any, runtime: Runtime) -> Target:
    if not isinstance(value, str) or "/" not in value:
        raise AdminError(400, f"expected a target 'provider/model', got {value!r}")
    provider, _, model = value.partition("/")
    if provider not in runtime.config.providers:
        raise AdminError(404, f"unknown provider {provider!r}")
    return Target(provider, model)


async def _body(scope: Scope, receive: Receive) -> dict[str, Any]:
    declared = None
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            declared = int(value)
    try:
        raw = await read_body(receive, _LIMIT, declared)
    except PayloadTooLarge as exc:  # found by the fuzz suite: was a 500 and a traceback
        raise AdminError(413, exc.message) from None
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as exc:
        raise AdminError(400, f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AdminError(400, "the body must be a JSON object")
    return body


async def _json(
    send: Send, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    await send_bytes(send, status, headers + (extra or []), orjson.dumps(body))


def bearer_is(scope: Scope, token: bytes | None) -> bool:
    """Whether the request's `Authorization: Bearer` is `token` (never when it is None),
    compared in constant time."""
    if token is None:
        return False
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, given = value.partition(b" ")
            return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), token)
    return False

"""The provider-facing routes: chat completions, messages, models.

Order of checks follows the real APIs closely enough for gateway tests: auth, then
body and dialect validation, then the fault decision, then the answer. Every request
that reaches a completion route is counted as an attempt, whatever its outcome.
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import Any

import orjson

from failsoft.sim.answers import build_answer
from failsoft.sim.anthropic_wire import AnthropicWire
from failsoft.sim.faults import Fault
from failsoft.sim.http import Connection, Request
from failsoft.sim.openai_wire import OpenAIWire
from failsoft.sim.playback import body_steps, is_immediate, play, play_now, stream_steps
from failsoft.sim.spec import SpecError
from failsoft.sim.state import SimState
from failsoft.sim.stats import RECORDED_HEADERS, RequestRecord
from failsoft.sim.wire import ErrorSpec, Reply, Wire, response_id

_JSON = b"content-type: application/json\r\n"
_SSE = b"content-type: text/event-stream; charset=utf-8\r\ncache-control: no-cache\r\n"
_MODELS_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z
_NO_FAULT_OUTCOME = "200"

Work = Coroutine[Any, Any, None] | None


class Endpoints:
    def __init__(self, state: SimState) -> None:
        self._state = state
        self.openai: Wire = OpenAIWire()
        self.anthropic: Wire = AnthropicWire()

    def wire_for(self, headers: Mapping[str, str]) -> Wire:
        """For routes shared by both dialects, the caller's SDK shows in its headers."""
        return self.anthropic if "anthropic-version" in headers else self.openai

    def complete(self, request: Request, conn: Connection, wire: Wire) -> Work:
        state = self._state
        headers = request.headers
        number = state.next_id()
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        model = body.get("model") if isinstance(body, dict) else None
        if not isinstance(model, str) or not model:
            model = None
        stream = isinstance(body, dict) and body.get("stream") is True
        reply = Reply(
            model=model or "",
            request_id=response_id("req_sim", number),
            response_id=response_id(
                "msg_sim" if wire is self.anthropic else "chatcmpl-sim", number
            ),
            created=int(state.clock.wall()),
        )
        error, header_fault = self._problem(wire, headers, body)
        if error is not None:
            self._record(request, wire, reply, stream, str(error.status), None)
            return self._send_error(conn, wire, reply, error, b"")
        assert isinstance(body, dict)
        assert model is not None
        settings = state.settings(model)
        fault = state.pick_fault(model, stream, header_fault)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "status":
            status = fault.http_status
            self._record(request, wire, reply, stream, str(status), kind)
            spec = ErrorSpec(
                status, message=fault.message, type=fault.type, code=fault.code, preset=fault.body
            )
            return self._send_error(conn, wire, reply, spec, _retry_headers(fault))
        outcome = _NO_FAULT_OUTCOME if kind in (None, "slow_headers", "slow_first_token") else kind
        self._record(request, wire, reply, stream, outcome, kind)
        if kind == "reset":
            conn.reset()
            return None
        if kind == "hang":
            conn.abandon()
            return None
        messages = body.get("messages") or []
        answer = build_answer(model, messages, wire.system(body), settings, wire.max_tokens(body))
        delay = (fault.delay or 0.0) if fault is not None else 0.0
        before = delay if kind == "slow_headers" else 0.0
        first = settings.ttft + (delay if kind == "slow_first_token" else 0.0)
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        if stream:
            steps = stream_steps(
                conn.head(200, _SSE + ident, None),
                wire.stream(reply, answer, body),
                fault,
                before_head=before,
                first_wait=first,
                chunk_delay=settings.chunk_delay,
                malformed=wire.malformed_event(reply),
                error_event=wire.stream_error_event(
                    fault.error_type if fault else None, fault.message if fault else None
                ),
            )
        else:
            generation = settings.chunk_delay * max(0, answer.output_tokens - 1)
            steps = body_steps(
                lambda length: conn.head(200, _JSON + ident, length),
                wire.completion(reply, answer),
                fault,
                wait=before + first + generation,
            )
        if is_immediate(steps):
            play_now(conn, steps)
            return None
        return play(conn, steps, state.clock)

    def models(self, request: Request, conn: Connection) -> Work:
        wire = self.wire_for(request.headers)
        reply = self._bare_reply()
        api_key = self._state.api_key
        if api_key is not None and not wire.authorized(request.headers, api_key):
            return self._send_error(conn, wire, reply, ErrorSpec(401), b"")
        body = wire.models(self._state.model_names(), _MODELS_CREATED)
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        conn.send(200, _JSON + ident, body)
        return None

    def not_found(self, request: Request, conn: Connection, status: int = 404) -> Work:
        where = f"{request.method} {request.path}"
        message = f"Invalid URL ({where})" if status == 404 else f"Method not allowed ({where})"
        spec = ErrorSpec(status, message=message, code="")  # "": no model-specific error code
        return self._send_error(conn, self.wire_for(request.headers), self._bare_reply(), spec, b"")

    def _bare_reply(self) -> Reply:
        number = self._state.next_id()
        return Reply(model="", request_id=response_id("req_sim", number), response_id="", created=0)

    def _problem(
        self, wire: Wire, headers: Mapping[str, str], body: object
    ) -> tuple[ErrorSpec | None, Fault | None]:
        api_key = self._state.api_key
        if api_key is not None and not wire.authorized(headers, api_key):
            return ErrorSpec(401), None
        if not isinstance(body, dict):
            message = (
                "The request body is not valid JSON."
                if body is None
                else "The request body must be a JSON object."
            )
            return ErrorSpec(400, message=message), None
        error = wire.check(body, headers)
        if error is not None:
            return error, None
        raw = headers.get("x-sim-fault")
        if raw is None:
            return None, None
        try:
            return None, Fault.from_dict(orjson.loads(raw), "x-sim-fault")
        except orjson.JSONDecodeError as exc:
            return ErrorSpec(400, message=f"x-sim-fault: not valid JSON ({exc})"), None
        except SpecError as exc:
            return ErrorSpec(400, message=str(exc)), None

    def _send_error(
        self, conn: Connection, wire: Wire, reply: Reply, spec: ErrorSpec, extra: bytes
    ) -> Work:
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        conn.send(spec.status, _JSON + ident + extra, wire.error(spec, reply))
        return None

    def _record(
        self,
        request: Request,
        wire: Wire,
        reply: Reply,
        stream: bool,
        outcome: str,
        fault: str | None,
    ) -> None:
        headers = request.headers
        auth = "authorization" if "authorization" in headers else None
        if auth is None and "x-api-key" in headers:
            auth = "x-api-key"
        self._state.stats.record(
            RequestRecord(
                time=self._state.clock.wall(),
                model=reply.model or "(unknown)",
                path=request.path,
                dialect=wire.dialect,
                stream=stream,
                outcome=outcome,
                fault=fault,
                request_id=reply.request_id,
                auth=auth,
                headers={name: headers[name] for name in RECORDED_HEADERS if name in headers},
            )
        )


def _retry_headers(fault: Fault) -> bytes:
    lines = []
    if fault.retry_after is not None:
        lines.append(b"retry-after: %s\r\n" % _seconds(fault.retry_after).encode())
    if fault.retry_after_ms is not None:
        lines.append(b"retry-after-ms: %s\r\n" % _seconds(fault.retry_after_ms).encode())
    if fault.should_retry is not None:
        lines.append(b"x-should-retry: %s\r\n" % (b"true" if fault.should_retry else b"false"))
    return b"".join(lines)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))

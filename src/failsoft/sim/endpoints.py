"""The provider-facing routes: chat completions, responses, messages, generateContent, models.

Order of checks follows the real APIs closely enough for gateway tests: auth, then
body and dialect validation, then the fault decision, then the answer. Every request
that reaches a completion route is counted as an attempt, whatever its outcome.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

import orjson

from failsoft.sim import gemini_input
from failsoft.sim.answers import PREFILL_REJECTED, Answer, build_answer, rejects_prefill
from failsoft.sim.anthropic_wire import AnthropicWire
from failsoft.sim.faults import Fault
from failsoft.sim.gemini_wire import GeminiWire, model_info
from failsoft.sim.http import Connection, Request
from failsoft.sim.openai_wire import OpenAIWire
from failsoft.sim.playback import body_steps, is_immediate, play, play_now, stream_steps
from failsoft.sim.responses_wire import ResponsesWire
from failsoft.sim.spec import SpecError
from failsoft.sim.state import SimState
from failsoft.sim.stats import RECORDED_HEADERS, RequestRecord
from failsoft.sim.wire import ErrorSpec, Reply, Wire, body_model, response_id

_JSON = b"content-type: application/json\r\n"
_MODELS_CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z
_NO_FAULT_OUTCOME = "200"
_KEY_HEADERS = ("authorization", "x-api-key", "x-goog-api-key")

Work = Coroutine[Any, Any, None] | None


class Endpoints:
    def __init__(self, state: SimState) -> None:
        self._state = state
        self.openai: Wire = OpenAIWire()
        self.anthropic: Wire = AnthropicWire()
        self.gemini: Wire = GeminiWire()
        self.responses: Wire = ResponsesWire()

    def wire_for(self, request: Request) -> Wire:
        """For routes shared by dialects, the path or the caller's SDK headers tell which."""
        if request.path.startswith("/v1beta/"):
            return self.gemini
        return self.anthropic if "anthropic-version" in request.headers else self.openai

    def complete(self, request: Request, conn: Connection, wire: Wire) -> Work:
        state = self._state
        number = state.next_id()
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        model, stream = wire.target(request, body)
        reply = Reply(
            model=model or "",
            request_id=response_id("req_sim", number),
            response_id=response_id(wire.response_prefix, number),
            created=int(state.clock.wall()),
        )
        error, header_fault = self._problem(wire, request, body, model)
        if error is not None:
            self._record(request, wire, reply, stream, str(error.status), None, body)
            return self._send_error(conn, wire, reply, error, b"")
        assert isinstance(body, dict)
        assert model is not None
        settings = state.settings(model)
        prompt = wire.prompt(body)
        too_long = _over_limit(wire, body, model, settings.max_output_tokens)
        if too_long is None and rejects_prefill(prompt, settings):
            too_long = ErrorSpec(400, message=PREFILL_REJECTED)
        if too_long is not None:  # validation: before any fault is used up
            self._record(request, wire, reply, stream, "400", None, body)
            return self._send_error(conn, wire, reply, too_long, b"")
        fault = state.pick_fault(model, stream, header_fault)
        kind = fault.kind if fault is not None else None
        if fault is not None and kind == "status":
            status = fault.http_status
            self._record(request, wire, reply, stream, str(status), kind, body)
            spec = ErrorSpec(
                status,
                message=fault.message,
                type=fault.type,
                code=fault.code,
                preset=fault.body,
                retry_after=fault.retry_after,
            )
            return self._send_error(conn, wire, reply, spec, _retry_headers(fault))
        outcome = kind if kind is not None and not _answers_whole(fault) else _NO_FAULT_OUTCOME
        self._record(request, wire, reply, stream, outcome, kind, body)
        if kind == "reset":
            conn.reset()
            return None
        if kind == "hang":
            conn.abandon()
            return None
        answer = build_answer(model, prompt, settings, wire.max_tokens(body))
        delay = (fault.delay or 0.0) if fault is not None else 0.0
        before = delay if kind == "slow_headers" else 0.0
        first = settings.ttft + (delay if kind == "slow_first_token" else 0.0)
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        if stream:
            plan = wire.stream(reply, answer, body, request)
            media = b"content-type: %s\r\ncache-control: no-cache\r\n" % plan.content_type
            steps = stream_steps(
                conn.head(200, media + ident, None),
                plan,
                fault,
                before_head=before,
                first_wait=first,
                chunk_delay=settings.chunk_delay,
                malformed=wire.malformed_event(reply, request),
                error_event=wire.stream_error_event(
                    request, fault.error_type if fault else None, fault.message if fault else None
                ),
                corrupt=wire.corrupt_event,
            )
        else:
            generation = settings.chunk_delay * max(0, answer.output_tokens - 1)
            completion = wire.completion(reply, answer, body)
            steps = body_steps(
                lambda length: conn.head(200, _JSON + ident, None if length < 0 else length),
                completion,
                fault,
                wait=before + first + generation,
                text_end=_text_end(completion, answer) if kind == "malformed" else None,
            )
        if is_immediate(steps):
            play_now(conn, steps)
            return None
        return play(conn, steps, state.clock)

    def models(self, request: Request, conn: Connection, wire: Wire | None = None) -> Work:
        wire = wire or self.wire_for(request)
        reply = self._bare_reply()
        api_key = self._state.api_key
        if api_key is not None and not wire.authorized(request, api_key):
            return self._send_error(conn, wire, reply, wire.auth_error, b"")
        names, more = _page(wire, gemini_input.query(request.query), self._state.model_names())
        body = wire.models(names, _MODELS_CREATED, more)
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        conn.send(200, _JSON + ident, body)
        return None

    def count_tokens(self, request: Request, conn: Connection) -> Work:
        """`POST /v1/messages/count_tokens`: the input tokens the same request would be
        charged on `/v1/messages` (the prompt's rule, so the two agree). Not an attempt:
        no completion, no faults, not counted."""
        wire = self.anthropic
        reply = self._bare_reply()
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and "max_tokens" in body:
            error: ErrorSpec | None = ErrorSpec(
                400, message="max_tokens: Extra inputs are not permitted"
            )
        else:
            # The completion checks, without the one field count_tokens does not take.
            sized = {**body, "max_tokens": 1 << 30} if isinstance(body, dict) else body
            error, _ = self._problem(wire, request, sized, body_model(body))
        if error is not None:
            return self._send_error(conn, wire, reply, error, b"")
        assert isinstance(body, dict)
        count = wire.prompt(body).input_tokens
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        conn.send(200, _JSON + ident, orjson.dumps({"input_tokens": count}))
        return None

    def gemini_model(self, request: Request, conn: Connection, model: str) -> Work:
        """`GET /v1beta/models/{model}`: any name is served, as every model is simulated."""
        wire = self.gemini
        reply = self._bare_reply()
        api_key = self._state.api_key
        if api_key is not None and not wire.authorized(request, api_key):
            return self._send_error(conn, wire, reply, wire.auth_error, b"")
        ident = b"%s: %s\r\n" % (wire.request_id_header.encode(), reply.request_id.encode())
        conn.send(200, _JSON + ident, orjson.dumps(model_info(model)))
        return None

    def not_found(self, request: Request, conn: Connection, status: int = 404) -> Work:
        where = f"{request.method} {request.path}"
        message = f"Invalid URL ({where})" if status == 404 else f"Method not allowed ({where})"
        spec = ErrorSpec(status, message=message, code="")  # "": no model-specific error code
        return self._send_error(conn, self.wire_for(request), self._bare_reply(), spec, b"")

    def _bare_reply(self) -> Reply:
        number = self._state.next_id()
        return Reply(model="", request_id=response_id("req_sim", number), response_id="", created=0)

    def _problem(
        self, wire: Wire, request: Request, body: object, model: str | None
    ) -> tuple[ErrorSpec | None, Fault | None]:
        api_key = self._state.api_key
        if api_key is not None and not wire.authorized(request, api_key):
            return wire.auth_error, None
        if not isinstance(body, dict):
            message = (
                "The request body is not valid JSON."
                if body is None
                else "The request body must be a JSON object."
            )
            return ErrorSpec(400, message=message), None
        error = wire.check(body, request, model)
        if error is not None:
            return error, None
        raw = request.headers.get("x-sim-fault")
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
        body: Any,
    ) -> None:
        headers = request.headers
        auth = next((name for name in _KEY_HEADERS if name in headers), None)
        if auth is None and wire is self.gemini and "key" in gemini_input.query(request.query):
            auth = "key"  # the ?key= query parameter; the key itself is never stored
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
                body=body,
            )
        )


def _over_limit(
    wire: Wire, body: dict[str, Any], model: str, limit: int | None
) -> ErrorSpec | None:
    """The real APIs' refusal of an output limit above the model's (`max_output_tokens`)."""
    asked = wire.max_tokens(body)
    if limit is None or asked is None or asked <= limit:
        return None
    if wire.dialect == "anthropic":
        message = (
            f"max_tokens: {asked} > {limit}, which is the maximum allowed number of output "
            f"tokens for {model}"
        )
    elif wire.dialect == "gemini":
        message = f"The requested maxOutputTokens ({asked}) exceeds the model's limit ({limit})."
    else:
        name = "max_output_tokens" if wire.dialect == "responses" else "max_tokens"
        message = (
            f"{name} is too large: {asked}. This model supports at most {limit} completion "
            f"tokens, whereas you provided {asked}."
        )
    return ErrorSpec(400, message=message)


def _answers_whole(fault: Fault | None) -> bool:
    """Slow answers and stalls that end in the rest of the answer still deliver all of it."""
    if fault is None or fault.kind in ("slow_headers", "slow_first_token"):
        return True
    return fault.kind == "stall" and fault.then == "continue"


def _text_end(completion: bytes, answer: Answer) -> int | None:
    """Where the answer's text ends in a JSON body: `malformed` with `target: content` cuts
    there, so the text is all present but the body does not parse."""
    if not answer.pieces:
        return None
    encoded = orjson.dumps(answer.text)
    found = completion.find(encoded)
    return found + len(encoded) if found >= 0 else None


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


def _page(wire: Wire, query: dict[str, str], names: list[str]) -> tuple[list[str], str | None]:
    """The page of `names` a list request asks for, and the next page's cursor. Paginated
    only when asked (Anthropic `limit`/`after_id`, Gemini `pageSize`/`pageToken`): the
    whole list otherwise, and always for the OpenAI shape, which has no pages."""
    if isinstance(wire, AnthropicWire):
        size, cursor = query.get("limit"), query.get("after_id")
        start = names.index(cursor) + 1 if cursor in names else 0 if cursor is None else len(names)
    elif isinstance(wire, GeminiWire):
        size, cursor = query.get("pageSize"), query.get("pageToken")
        start = int(cursor) if cursor is not None and cursor.isdigit() else 0
    else:
        return names, None
    if size is None and cursor is None:
        return names, None
    end = start + (max(1, min(int(size), 1000)) if size and size.isdigit() else 1000)
    page = names[start:end]
    if end >= len(names) or not page:
        return page, None
    return page, page[-1] if isinstance(wire, AnthropicWire) else str(end)

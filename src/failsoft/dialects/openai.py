"""OpenAI Chat Completions wire format (`/v1/chat/completions`), pure.

Error shape: `{"error": {"message", "type", "param", "code"}}`. Streams are `data:` frames
without `event:` lines, ending with `data: [DONE]`; an in-band error is a frame
`data: {"error": {...}}`, which the openai SDK raises as `openai.APIError`.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from failsoft.dialects import openai_fast
from failsoft.dialects.base import (
    CONTENT,
    ERROR,
    MALFORMED,
    PREAMBLE,
    TERMINAL,
    TRUNCATED,
    UNPARSED,
    ErrorInfo,
    LazyLast,
    loads_events,
    merge_delta,
    rewrite_model,
)
from failsoft.dialects.sse import SSEEvent, encode, event_datas
from failsoft.dialects.template import Run
from failsoft.errors import TruncatedStream, UpstreamStreamError

name = "openai"
exhausted_status = 503
exhausted_type = "service_unavailable_error"
request_id_header = "x-request-id"

_CONTEXT_WORDS = ("maximum context length", "context length", "context_length", "too many tokens")
_DELTA_CONTENT = ("content", "tool_calls", "refusal", "function_call", "audio", "reasoning_content")
_DELTA_HANDLED = ("content", "role", "tool_calls")
_NOT_HEAD = frozenset({"choices", "usage", "object", "obfuscation"})
_CARRIES = re.compile(
    rb'"(?:content|tool_calls|arguments|refusal|function_call|audio|reasoning_content|reasoning)"'
    rb"\s*:(?!\s*null)"
    rb'|"finish_reason"\s*:\s*"'
)
"""A content-bearing field with a value (a cut-off value counts: it may have held text)."""
_DONE = SSEEvent(None, b"[DONE]", b"data: [DONE]\n\n")
_QUOTA_CODES = frozenset(
    {"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached"}
)


def error_body(
    message: str,
    kind: str,
    *,
    code: str | None = None,
    param: str | None = None,
    request_id: str | None = None,
) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}})


def stream_error(message: str, timeout: bool = False) -> bytes:
    """failsoft's in-band end for a broken stream; the openai SDK raises `APIError`."""
    code = "stream_timeout" if timeout else "stream_interrupted"
    return encode(error_body(message, "server_error", code=code))


def parse_error(body: bytes) -> ErrorInfo:
    try:
        obj = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ErrorInfo(message=body[:200].decode("utf-8", "replace") or None)
    err = obj.get("error") if isinstance(obj, dict) else None
    if isinstance(err, str):
        return ErrorInfo(message=err)
    if not isinstance(err, dict):
        return ErrorInfo()
    code = err.get("code")
    return ErrorInfo(
        type=_str(err.get("type")),
        code=str(code) if code is not None else None,
        message=_str(err.get("message")),
    )


def is_context_length(info: ErrorInfo) -> bool:
    if info.code == "context_length_exceeded":
        return True
    text = (info.message or "").lower()
    return any(word in text for word in _CONTEXT_WORDS)


def is_quota(info: ErrorInfo) -> bool:
    """A 429 that no wait will fix: the account is out of credit or over its spend cap."""
    for value in (info.code, info.type):
        if value and (value in _QUOTA_CODES or value.endswith("_spend_limit_exceeded")):
            return True
    return False


def is_credentials(info: ErrorInfo) -> bool:
    return info.code == "invalid_api_key" or info.type == "authentication_error"


def stream_body(payload: dict[str, Any], body: bytes, model: str) -> bytes:
    return rewrite_model(payload, body, model)


def assembled_body(payload: dict[str, Any], model: str) -> bytes:
    """A non-streaming request turned into a streaming one, usage included."""
    options = payload.get("stream_options")
    options = (
        {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
    )
    return orjson.dumps({**payload, "model": model, "stream": True, "stream_options": options})


class Tracker(LazyLast):
    """Knows whether content started and whether every choice finished before `[DONE]`.

    An ordinary chunk is classified from a typed decode (`openai_fast.RawChunk`, strict
    enough that it parses exactly when orjson does) and `last` is parsed only when someone
    reads it (a meter, a translation, resume); any other chunk is parsed by orjson as
    before, and after the first such chunk the rest of the stream is too.
    """

    __slots__ = ("done", "finished", "seen", "typed", "usage")

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.finished: set[int] = set()
        self.done = False
        self.usage = False
        self.typed = True
        super().__init__()

    @property
    def complete(self) -> bool:
        return self.done and self.all_finished

    @property
    def all_finished(self) -> bool:
        return bool(self.finished) and self.finished >= self.seen

    def feed(self, event: SSEEvent) -> int:
        data = event.data
        if data[:6] == b"[DONE]":
            self.done = True
            self._last = None
            return TERMINAL if self.complete else TRUNCATED
        if self.typed:
            try:
                chunk = openai_fast.TRACKED.decode(data)
            except openai_fast.ERRORS:
                self.typed = False
            else:
                kind = self._typed(chunk)
                if kind is not None:
                    self._data = data
                    self._last = UNPARSED
                    return kind
                self.typed = False
        return self._generic(data)

    def _typed(self, chunk: openai_fast.RawChunk) -> int | None:
        """What `_generic` says of the same event (None: a raw field did not parse)."""
        null = openai_fast.NULL
        try:
            error = None if chunk.error == null else orjson.loads(memoryview(chunk.error))
            usage = None if chunk.usage == null else orjson.loads(memoryview(chunk.usage))
            choices = chunk.choices
            if choices:
                for choice in choices:
                    if choice.logprobs != null:
                        orjson.loads(memoryview(choice.logprobs))
        except orjson.JSONDecodeError:
            return None
        if not choices:
            if error is not None:
                return ERROR
            if usage:
                self.usage = True
                return CONTENT
            return PREAMBLE
        kind = PREAMBLE
        for choice in choices:
            index = choice.index
            self.seen.add(index)
            if choice.finish_reason:
                self.finished.add(index)
                kind = CONTENT
            elif kind == PREAMBLE:
                delta = choice.delta
                if delta is not None and delta.content:
                    kind = CONTENT
        return kind

    def _generic(self, data: bytes) -> int:
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            return MALFORMED
        self._last = obj
        if type(obj) is not dict:
            return MALFORMED
        choices = obj.get("choices")
        if not choices:
            if obj.get("error") is not None:
                return ERROR
            if obj.get("usage"):
                self.usage = True
                return CONTENT
            return PREAMBLE
        kind = PREAMBLE
        for choice in choices:
            if type(choice) is not dict:
                return MALFORMED
            index = choice.get("index", 0)
            self.seen.add(index)
            if choice.get("finish_reason"):
                self.finished.add(index)
                kind = CONTENT
            elif kind == PREAMBLE:
                delta = choice.get("delta")
                if delta and (delta.get("content") or _has_content(delta)):
                    kind = CONTENT
        return kind


def _has_content(delta: Any) -> bool:
    """Any content-bearing field set; a loop, not any(genexpr): this runs per event."""
    if type(delta) is not dict:
        return False
    for key in _DELTA_CONTENT:  # noqa: SIM110
        if delta.get(key):
            return True
    return False


class _Choice:
    __slots__ = ("finish", "has_content", "logprobs", "message", "parts", "tools")

    def __init__(self) -> None:
        self.message: dict[str, Any] = {"role": "assistant"}
        self.parts: list[str] = []
        self.has_content = False
        self.tools: dict[int, dict[str, Any]] = {}
        self.logprobs: dict[str, Any] | None = None
        self.finish: Any = None


class Assembler:
    """Rebuilds a `chat.completion` from `chat.completion.chunk`s.

    Text deltas take a fast path (collected, joined once); tool-call arguments are joined
    by index, logprobs lists joined, and unknown delta fields merged generically, so
    nothing the upstream sent is lost.
    """

    __slots__ = ("_choices", "_head", "_usage")

    def __init__(self) -> None:
        self._head: dict[str, Any] | None = None
        self._choices: dict[int, _Choice] = {}
        self._usage: Any = None

    @property
    def usage(self) -> Any:
        return self._usage

    @property
    def complete(self) -> bool:
        """Every choice that appeared has its finish_reason."""
        choices = self._choices.values()
        return bool(choices) and all(c.finish is not None for c in choices)

    def add(self, obj: dict[str, Any]) -> None:
        if self._head is None:
            self._head = {k: v for k, v in obj.items() if k not in _NOT_HEAD}
        usage = obj.get("usage")
        if usage:
            self._usage = usage
        for choice in obj.get("choices") or ():
            index = choice.get("index", 0)
            state = self._choices.get(index)
            if state is None:
                state = self._choices[index] = _Choice()
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content is not None:
                    state.has_content = True
                    if content:
                        state.parts.append(content)
                if len(delta) > 1 or content is None:
                    self._other(state, delta)
            finish = choice.get("finish_reason")
            if finish:
                state.finish = finish
            logprobs = choice.get("logprobs")
            if logprobs:
                if state.logprobs is None:
                    state.logprobs = {}
                merge_delta(state.logprobs, logprobs)

    @staticmethod
    def _other(state: _Choice, delta: dict[str, Any]) -> None:
        calls = delta.get("tool_calls")
        if calls:
            _merge_tool_calls(state.tools, calls)
        role = delta.get("role")
        if role:
            state.message["role"] = role
        merge_delta(state.message, delta, skip=_DELTA_HANDLED)

    def result(self) -> dict[str, Any]:
        choices = []
        for index in sorted(self._choices):
            state = self._choices[index]
            message = state.message
            message["content"] = "".join(state.parts) if state.has_content else None
            message.setdefault("refusal", None)
            if state.tools:
                message["tool_calls"] = [state.tools[i] for i in sorted(state.tools)]
                if message["content"] == "":
                    message["content"] = None
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "logprobs": state.logprobs,
                    "finish_reason": state.finish,
                }
            )
        out = {**(self._head or {}), "object": "chat.completion", "choices": choices}
        if self._usage is not None:
            out["usage"] = self._usage
        return out


def assemble(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """The `chat.completion` a whole stream body adds up to, or the error that stops it.

    A body that delivered every finish and the usage (which failsoft always asks for
    here) but ended without `[DONE]` is complete all the same.

    An ordinary body is read by `openai_fast` (typed, one decode, no dict per event); any
    other by the generic path below, with the same result."""
    fast = openai_fast.decode(body)
    if fast is None:
        return assemble_generic(body, dropped)
    assembler = Assembler()
    _add_fast(assembler, fast)
    return _result(assembler, fast.done)


def assemble_generic(body: bytes, dropped: list[bytes] | None = None) -> dict[str, Any]:
    """`assemble` for any body: every event parsed by orjson and added as a dict."""
    datas = event_datas(body)
    done = bool(datas) and datas[-1][:6] == b"[DONE]"
    if done:
        datas.pop()
    assembler = Assembler()
    for obj in loads_events(datas, harmless_data, dropped):
        _add(assembler, obj)
    return _result(assembler, done)


def _result(assembler: Assembler, done: bool) -> dict[str, Any]:
    if not assembler.complete or not (done or assembler.usage is not None):
        raise TruncatedStream("the stream ended without [DONE] after every finish_reason")
    return assembler.result()


def _add(assembler: Assembler, obj: dict[str, Any]) -> None:
    if obj.get("error") is not None and not obj.get("choices"):
        err = obj["error"]
        info = err if isinstance(err, dict) else {"message": str(err)}
        raise UpstreamStreamError(_str(info.get("type")), _str(info.get("message")), b"")
    assembler.add(obj)


def _add_fast(assembler: Assembler, body: openai_fast.Body) -> None:
    """What `_add` does for each event, from typed chunks between the first and the last
    event (those two, and any chunk with a usage, an error or more than one choice, are
    added the generic way)."""
    _add(assembler, body.first)
    null = openai_fast.NULL
    raw = body.raw
    states = assembler._choices
    number = -1
    for chunk in body.chunks:
        number += 1
        if type(chunk) is Run:
            _add_run(states, chunk)
            number += len(chunk.strings) - 1
            continue
        choices = chunk.choices
        if (raw and (chunk.usage != null or chunk.error != null)) or (
            choices is not None and len(choices) > 1
        ):
            _add(assembler, body.load(number))
            continue
        if not choices:
            continue
        choice = choices[0]
        index = choice.index
        state = states.get(index)
        if state is None:
            state = states[index] = _Choice()
        delta = choice.delta
        if delta is not None:
            content = delta.content
            if content is not None:
                state.has_content = True
                if content:
                    state.parts.append(content)
            role = delta.role
            if role:
                state.message["role"] = role
        finish = choice.finish_reason
        if finish:
            state.finish = finish
        if raw and choice.logprobs != null:
            logprobs = orjson.loads(memoryview(choice.logprobs))
            if logprobs:
                if state.logprobs is None:
                    state.logprobs = {}
                merge_delta(state.logprobs, logprobs)
    _add(assembler, body.last)


def _add_run(states: dict[int, _Choice], run: Run) -> None:
    """What adding each event of a run of plain text events does (`_add_fast` of a chunk
    with one choice whose content is each text in turn): empty texts are kept, as they
    change nothing once the parts are joined."""
    choice = run.chunk.choices[0]
    index = choice.index
    state = states.get(index)
    if state is None:
        state = states[index] = _Choice()
    state.has_content = True
    state.parts += run.strings
    delta = choice.delta
    if delta.role:
        state.message["role"] = delta.role
    if choice.finish_reason:
        state.finish = choice.finish_reason


def ends_stream(tail: bytes) -> bool:
    """Whether bytes that end a stream body hold its terminal event (a cheap early check)."""
    return tail.rstrip().endswith(b"data: [DONE]")


def harmless(event: SSEEvent, tracker: Tracker) -> bool:
    return tracker.all_finished or harmless_data(event.data)


def harmless_data(data: bytes) -> bool:
    return _CARRIES.search(data) is None


def missing_end(tracker: Tracker, expect_usage: bool) -> SSEEvent | None:
    if tracker.done or not tracker.all_finished or (expect_usage and not tracker.usage):
        return None
    return _DONE


def _merge_tool_calls(tools: dict[int, dict[str, Any]], calls: list[Any]) -> None:
    for call in calls:
        index = call.get("index", len(tools))
        slot = tools.get(index)
        if slot is None:
            slot = tools[index] = {
                "id": None,
                "type": "function",
                "function": {"name": "", "arguments": ""},
            }
        for key, value in call.items():
            if key == "index" or value is None:
                continue
            if key == "function":
                # The name comes once; some compatible servers repeat it, so never concatenate it.
                if value.get("name") and not slot["function"]["name"]:
                    slot["function"]["name"] = value["name"]
                merge_delta(slot["function"], value, skip=("name",))
            else:
                slot[key] = value


def tracker() -> Tracker:
    return Tracker()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None

"""Assembling an ordinary `chat.completion.chunk` stream without a dict per event.

A non-streaming call is answered from a stream (`always_stream`), so a 2,000-token answer
is 2,000 events; parsing each into dicts and walking them cost more than everything else
the gateway does for the request. Here the events between the first and the last are
joined into JSON arrays (a `bytes.replace` per segment of about 48 KB, so that no copy of
a large body is made) and decoded at once into typed structs that hold only what assembly
reads.

The fast path must give exactly what the generic one (`openai.assemble`) gives, for any
input, so it only takes bodies it can prove it reads the same way:

- every event is one `data: ` line (what `event_datas` would split), checked on the bytes,
  and the array holds exactly one value per event;
- every field of every event is declared (an unknown one refuses the whole body) and
  typed so that msgspec validates it as strictly as orjson would (strings as strict
  UTF-8, no lone surrogates; integers in range), or kept raw and parsed by orjson when it
  is not null: nothing the generic path would reject is skipped unread;
- deltas carry only `content`, `role` and null extras (tool calls, refusals, audio and
  unknown fields go the generic way).

Anything else returns None and the caller takes the generic path. The first and the last
event (the answer's head fields; the usage) are parsed by orjson and added as the generic
path adds them, and so is any event with a usage, an error or more than one choice.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import orjson

from failsoft.dialects import template
from failsoft.dialects.template import Run

NULL = msgspec.Raw(b"null")
_Index = Annotated[int, msgspec.Meta(ge=0, le=2**31)]
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
_SEP = b"\n\ndata: "
_SEGMENT = 48 * 1024
_TEMPLATE_TRIES = 4
"""Events looked at for the first plain text event (a role or tool event may come first)."""
_CONTENT = b'"content":"'
_OBFUSCATION = b'"obfuscation":"'
ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class Delta(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    content: str | None = None
    role: str | None = None
    refusal: None = None
    tool_calls: None = None
    function_call: None = None
    audio: None = None
    reasoning_content: None = None
    reasoning: None = None


class Choice(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The usual choice: no logprobs."""

    index: _Index = 0
    delta: Delta | None = None
    logprobs: None = None
    finish_reason: str | None = None


class Chunk(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The usual chunk: no usage, no error (those come in the last event, or go generic)."""

    id: str | None = None
    object: str | None = None
    created: _Int | None = None
    model: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    obfuscation: str | None = None
    choices: list[Choice] | None = None
    usage: None = None
    error: None = None


class RawChoice(Choice, forbid_unknown_fields=True, gc=False):
    """A choice whose logprobs are kept as bytes for orjson."""

    logprobs: msgspec.Raw = NULL  # type: ignore[assignment]


class RawChunk(Chunk, forbid_unknown_fields=True, gc=False):
    """A chunk whose usage and error are kept as bytes for orjson."""

    choices: list[RawChoice] | None = None  # type: ignore[assignment]
    usage: msgspec.Raw = NULL  # type: ignore[assignment]
    error: msgspec.Raw = NULL  # type: ignore[assignment]


_ONE = msgspec.json.Decoder(Chunk)
_USUAL = msgspec.json.Decoder(Chunk)
_RAW = msgspec.json.Decoder(RawChunk)
_BOUNDARY = b"}" + _SEP + b"{"
"""Where one event's object ends and the next one's begins. A segment is decoded only when
every separator is such a boundary: joined by a newline, `}` + `\n` + `{` cannot be inside
any JSON value, so no value spans two events (joined by commas into an array it could:
`{"a":[{}` + `{}]}` is one value), and a count then proves one value per event."""
TRACKED = msgspec.json.Decoder(RawChunk)
"""One event, for the relay's tracker."""


class Body:
    """A stream body of single-line `data:` events: the first and the last event parsed
    by orjson, the ones between decoded (`raw`: as `RawChunk`s, else as `Chunk`s)."""

    __slots__ = ("_datas", "_middle", "chunks", "done", "first", "last", "raw")

    def __init__(
        self,
        first: dict[str, Any],
        middle: tuple[bytes, int, int],
        last: dict[str, Any],
        chunks: list[Any],
        raw: bool,
    ) -> None:
        self.first = first
        self._middle = middle
        self.last = last
        self.chunks = chunks
        self.raw = raw
        self.done = False
        self._datas: list[bytes] | None = None

    def load(self, index: int) -> Any:
        """Event `index + 1` (the `index`th chunk's event), parsed by orjson."""
        if self._datas is None:
            body, start, stop = self._middle  # sliced only now: most bodies never need it
            self._datas = body[start:stop].split(_SEP)
        return orjson.loads(self._datas[index])


def decode(body: bytes) -> Body | None:
    """The body's events, typed, or None when the fast path cannot vouch for it."""
    # (`find`, not `in`: see translate/native.py)
    if body[:6] != b"data: " or body[-2:] != b"\n\n" or body.find(b"\r") >= 0:
        return None
    end = body.rfind(_SEP, 0, len(body) - 2)
    if end < 0:
        return None
    done = body[end + 8 : end + 14] == b"[DONE]"
    stop = end + 2 if done else len(body)  # the events before [DONE], their last "\n\n" included
    first_end = body.find(_SEP)
    last_sep = body.rfind(_SEP, 0, stop - 2)
    if first_end < 0 or last_sep < 0:
        return None  # one event: nothing to gain
    first = body[6:first_end]
    last = body[last_sep + len(_SEP) : stop - 2]
    if first.find(b"\n") >= 0 or last.find(b"\n") >= 0:
        return None
    try:
        first_obj, last_obj = orjson.loads(first), orjson.loads(last)
    except orjson.JSONDecodeError:
        return None
    if type(first_obj) is not dict or type(last_obj) is not dict:
        return None
    chunks: list[Any] = []
    raw = False
    if last_sep > first_end:
        decoded = _templated(body, first_end, last_sep)
        if decoded is None:
            decoded = _middle(body, first_end, last_sep, _USUAL)
        if decoded is None:
            raw = True
            decoded = _middle(body, first_end, last_sep, _RAW)
            if decoded is None or not _raw_fields_parse(decoded):
                return None
        chunks = decoded
    fast = Body(first_obj, (body, first_end + len(_SEP), last_sep), last_obj, chunks, raw)
    fast.done = done
    return fast


def _templated(body: bytes, first_sep: int, last_sep: int) -> list[Any] | None:
    """The events between the separators at `first_sep` and `last_sep` with the run of
    plain text events read as one (`template`): the events before and after it decoded as
    `Chunk`s, the run as a `Run`. None when there is no such run or anything does not fit
    (the caller then decodes every event)."""
    start = first_sep + len(_SEP)
    for _ in range(_TEMPLATE_TRIES):
        end = body.find(_SEP, start, last_sep)
        if end < 0:
            return None
        shape = _shape(body[start:end])
        if shape is not None:
            break
        start = end + len(_SEP)
    else:
        return None
    chunk, form = shape
    prefix, suffix = form.prefix, form.suffix
    last = body.rfind(suffix + b"\n\n" + prefix, start, last_sep)
    if last < 0:
        return None  # one event: nothing to gain
    end = body.find(_SEP, last + len(suffix) + 2 + len(prefix), last_sep)
    if end < 0:
        end = last_sep
    texts = template.strings(body, start - 6, end, form)
    if texts is None:
        return None
    out: list[Any] = []
    if start - len(_SEP) > first_sep:
        before = _middle(body, first_sep, start - len(_SEP), _USUAL)
        if before is None:
            return None
        out = before
    out.append(Run(chunk, texts))
    if end < last_sep:
        after = _middle(body, end, last_sep, _USUAL)
        if after is None:
            return None
        out += after
    return out


def _shape(event: bytes) -> tuple[Chunk, template.Shape] | None:
    """A plain text event (one choice, its delta's content a non-empty string written
    without escapes, any `obfuscation` after it likewise), with the bytes around those
    strings; else None."""
    try:
        chunk = _ONE.decode(event)
    except ERRORS:
        return None
    choices = chunk.choices
    if choices is None or len(choices) != 1:
        return None
    delta = choices[0].delta
    if delta is None or not delta.content:
        return None
    found = template.slot(event, _CONTENT, delta.content)
    if found is None:
        return None
    prefix, suffix = found
    middle = b""
    if chunk.obfuscation:
        other = template.slot(suffix, _OBFUSCATION, chunk.obfuscation)
        if other is not None:
            middle, suffix = other
    if not template.counts(event, _CONTENT) or (
        middle and not template.counts(event, _OBFUSCATION)
    ):
        emptied = msgspec.structs.replace(delta, content="")
        expected = msgspec.structs.replace(
            chunk,
            choices=[msgspec.structs.replace(choices[0], delta=emptied)],
            obfuscation="" if middle else chunk.obfuscation,
        )
        try:
            if _ONE.decode(prefix + middle + suffix) != expected:
                return None  # a slot is not the value that counts (a duplicate key)
        except ERRORS:
            return None
    return chunk, template.Shape(b"data: " + prefix, suffix, middle)


def _middle(body: bytes, first_sep: int, last_sep: int, decoder: Any) -> list[Any] | None:
    """The events between the separators at `first_sep` and `last_sep`, decoded a segment
    of about `_SEGMENT` bytes at a time: each segment's copies stay small and in cache,
    where copies of a whole 2,000-token body cost more than the decoding."""
    out: list[Any] = []
    pos = first_sep
    while pos < last_sep:
        end = body.find(_SEP, pos + _SEGMENT, last_sep)
        if end < 0:
            end = last_sep
        segment = body[pos + len(_SEP) : end]
        count = segment.count(_SEP)
        if segment[:1] != b"{" or segment[-1:] != b"}":
            return None  # an event that is not one object's text
        if not count:  # one event (the finish event after a run): no joining, no list
            if segment.find(b"\n") >= 0:
                return None
            try:
                out.append(decoder.decode(segment))  # one value, else an error
            except ERRORS:
                return None
            pos = end
            continue
        if segment.count(_BOUNDARY) != count:
            return None  # an event that is not one object's text
        joined = segment.replace(_SEP, b"\n")
        if joined.count(b"\n") != count:
            return None  # a multi-line event, a comment, an empty event: not the simple shape
        try:
            part = decoder.decode_lines(joined)
        except ERRORS:
            return None
        if len(part) != count + 1:
            return None  # an event held more than one value (`{} {}`)
        out += part
        pos = end
    return out


def _raw_fields_parse(chunks: list[RawChunk]) -> bool:
    """Whether every raw field that is not null parses (msgspec skips a raw value without
    checking its strings' UTF-8 or its numbers' range; the generic path would refuse it
    before adding any event)."""
    try:
        for chunk in chunks:
            if chunk.usage != NULL:
                orjson.loads(memoryview(chunk.usage))
            if chunk.error != NULL:
                orjson.loads(memoryview(chunk.error))
            for choice in chunk.choices or ():
                if choice.logprobs != NULL:
                    orjson.loads(memoryview(choice.logprobs))
    except orjson.JSONDecodeError:
        return False
    return True

"""Assembling an ordinary Gemini stream without a dict per chunk, and without the generic
path's quadratic text joining.

`streamGenerateContent?alt=sse` sends a whole `GenerateContentResponse` per chunk:
candidates, usage, model version, response id. `gemini.assemble_generic` parses every
chunk into dicts and joins each text part onto the one before (a new string per chunk).
Here the chunks are decoded at once into typed structs (`lines.sse_events` +
`decode_lines`) and a run of plain text parts is joined once.

Like `openai_fast`, this must read every body exactly as the generic path does, so:

- the body must be `data: {…}` events that `sse_events` can prove are one JSON object each;
- every field of every chunk is declared and typed as strictly as orjson parses (an
  unknown field refuses the decoder); the usual decoder (`Chunk`) takes chunks holding
  only text parts, the usage and the head fields; failing that, the raw one (`RawChunk`)
  also takes chunks with other parts, candidate fields, prompt feedback or errors, which
  are then parsed whole by orjson and added the generic way (so are the last chunk, with
  its finishReason, and any chunk with more than one candidate);
- anything unexpected while adding (a part that is not an object, text that is not a
  string) gives up (`Fallback`), and the caller starts over on the generic path.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
import orjson
from msgspec import UNSET

from failsoft.dialects.lines import Events, sse_events
from failsoft.errors import TruncatedStream, UpstreamStreamError

ABSENT = msgspec.Raw(b"")
"""The default of a raw field: absent (a present `null` is `Raw(b"null")`)."""
_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class Fallback(Exception):
    """The fast path met something it does not reproduce: start over, generically."""


class Part(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A text part; one that is a thought or signed is added from its event's orjson
    parse (its keys' order is the answer's)."""

    text: str
    thought: bool | msgspec.UnsetType = msgspec.UNSET
    thoughtSignature: str | msgspec.UnsetType = msgspec.UNSET


class Content(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    parts: list[Part] | None = None
    role: str | None = None


class Candidate(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    content: Content | None = None
    index: _Int | None = None


class ModalityCount(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    modality: str | None = None
    tokenCount: _Int | None = None


class Usage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """`usageMetadata`, typed only to validate it: the answer's is the last chunk's, taken
    from its event by orjson (so that its keys keep their order)."""

    promptTokenCount: _Int | None = None
    cachedContentTokenCount: _Int | None = None
    candidatesTokenCount: _Int | None = None
    toolUsePromptTokenCount: _Int | None = None
    thoughtsTokenCount: _Int | None = None
    totalTokenCount: _Int | None = None
    promptTokensDetails: list[ModalityCount] | None = None
    cacheTokensDetails: list[ModalityCount] | None = None
    candidatesTokensDetails: list[ModalityCount] | None = None
    toolUsePromptTokensDetails: list[ModalityCount] | None = None
    trafficType: str | None = None


class Chunk(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """The usual chunk: text parts, usage, head fields."""

    candidates: list[Candidate] | None = None
    usageMetadata: Usage | None = None
    modelVersion: str | None = None
    responseId: str | None = None
    createTime: str | None = None


class RawPart(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    text: str | None = None
    thought: msgspec.Raw = ABSENT
    thoughtSignature: msgspec.Raw = ABSENT
    functionCall: msgspec.Raw = ABSENT
    functionResponse: msgspec.Raw = ABSENT
    inlineData: msgspec.Raw = ABSENT
    fileData: msgspec.Raw = ABSENT
    executableCode: msgspec.Raw = ABSENT
    codeExecutionResult: msgspec.Raw = ABSENT
    videoMetadata: msgspec.Raw = ABSENT
    partMetadata: msgspec.Raw = ABSENT


class RawContent(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    parts: list[RawPart] | None = None
    role: str | None = None


class RawCandidate(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    content: RawContent | None = None
    index: _Int | None = None
    finishReason: msgspec.Raw = ABSENT
    finishMessage: msgspec.Raw = ABSENT
    safetyRatings: msgspec.Raw = ABSENT
    citationMetadata: msgspec.Raw = ABSENT
    tokenCount: msgspec.Raw = ABSENT
    groundingAttributions: msgspec.Raw = ABSENT
    groundingMetadata: msgspec.Raw = ABSENT
    avgLogprobs: msgspec.Raw = ABSENT
    logprobsResult: msgspec.Raw = ABSENT
    urlContextMetadata: msgspec.Raw = ABSENT


class RawChunk(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Any chunk of the known fields; one with a raw field present is parsed by orjson."""

    candidates: list[RawCandidate] | None = None
    usageMetadata: msgspec.Raw = ABSENT
    modelVersion: str | None = None
    responseId: str | None = None
    createTime: str | None = None
    promptFeedback: msgspec.Raw = ABSENT
    error: msgspec.Raw = ABSENT


_USUAL = msgspec.json.Decoder(Chunk)
_RAW = msgspec.json.Decoder(RawChunk)
_PLAIN_PART = tuple(f for f in RawPart.__struct_fields__ if f != "text")
_PLAIN_CANDIDATE = tuple(f for f in RawCandidate.__struct_fields__ if f not in ("content", "index"))


_LAZY: Any = object()
"""`out["usageMetadata"]` until the answer is made: a typed chunk's usage, to be read from
event `_State.usage_at` then (most bodies never need it: the last event has its own)."""


def decode(body: bytes) -> list[Any] | None:
    """`[events, …]`: each event as a typed `Chunk`, or as a dict (parsed by orjson: the
    last event, and any the typed ones cannot hold), or None when the fast path cannot
    vouch for the body. Every event is validated here, before any is added, as the
    generic path does."""
    events = sse_events(body)
    if events is None:
        return None
    try:
        # All but the last event (its finishReason needs the raw decoder anyway).
        chunks: list[Any] = _USUAL.decode_lines(events.head())
    except ERRORS:
        try:
            chunks = _RAW.decode_lines(events.lines)
        except ERRORS:
            return None
        if len(chunks) != events.count:
            return None
        return _raw_events(events, chunks)
    if len(chunks) != events.count - 1:
        return None
    last = _parse(events.data(events.count - 1))
    if last is None:
        return None
    return [events, *chunks, last]


def _raw_events(events: Events, chunks: list[RawChunk]) -> list[Any] | None:
    """The raw decode's chunks, each one that is not plain replaced by its orjson parse;
    usages parsed too (msgspec leaves a raw value's strings and numbers unchecked)."""
    out: list[Any] = [events]
    last = len(chunks) - 1
    for number, chunk in enumerate(chunks):
        if number == last or not _plain(chunk):
            obj = _parse(events.data(number))
            if obj is None:
                return None
            out.append(obj)
            continue
        usage = chunk.usageMetadata
        if usage is not ABSENT:
            try:
                chunk.usageMetadata = orjson.loads(memoryview(usage))
            except orjson.JSONDecodeError:
                return None
        out.append(chunk)
    return out


def _plain(chunk: RawChunk) -> bool:
    """Only text parts, usage and head fields, at most one candidate."""
    if chunk.promptFeedback is not ABSENT or chunk.error is not ABSENT:
        return False
    candidates = chunk.candidates
    if not candidates:
        return True
    if len(candidates) > 1:
        return False
    candidate = candidates[0]
    for name in _PLAIN_CANDIDATE:
        if getattr(candidate, name) is not ABSENT:
            return False
    content = candidate.content
    for part in (content.parts if content is not None else None) or ():
        if part.text is None:
            return False
        for name in _PLAIN_PART:
            if getattr(part, name) is not ABSENT:
                return False
    return True


def _parse(data: bytes) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if type(obj) is dict else None


def assemble(events: list[Any]) -> dict[str, Any]:
    """What `gemini.assemble_generic` makes of the same events (`Fallback` if unsure).

    The typed chunk is handled inline (a call per chunk costs as much as the rest)."""
    state = _State(events[0])
    out, run, add_text = state.out, state.run, state.add_text
    for number, chunk in enumerate(events[1:]):
        if type(chunk) is dict:
            state.add(chunk)
            continue
        parts: Any = None
        candidates = chunk.candidates
        if candidates:
            content = candidates[0].content
            if content is not None and content.parts:
                parts = content.parts
                if type(chunk) is Chunk and not _unsigned(parts):
                    state.add(orjson.loads(events[0].data(number)))
                    continue
        if chunk.responseId is not None:
            out["responseId"] = chunk.responseId
        if chunk.modelVersion is not None:
            out["modelVersion"] = chunk.modelVersion
        usage = chunk.usageMetadata
        if usage is not None and usage is not ABSENT:
            if type(usage) is Usage:
                out["usageMetadata"] = _LAZY
                state.usage_at = number
            else:
                out["usageMetadata"] = usage  # parsed by `_raw_events`
        if parts is not None:
            for part in parts:
                if run:
                    run.append(part.text)
                else:
                    add_text(part.text)
    return state.result()


def _unsigned(parts: list[Part]) -> bool:
    """No thought, no signature: the parts' dicts would be `{"text": …}`."""
    for part in parts:
        if part.thought is not UNSET or part.thoughtSignature is not UNSET:
            return False
    return True


class _State:
    """The generic path's `out`, `parts`, `candidate`, `finished`; `run` holds text still
    to be joined onto the last part's (which is a dict whose text is a string)."""

    __slots__ = ("_events", "candidate", "finished", "out", "parts", "run", "usage_at")

    def __init__(self, events: Events) -> None:
        self._events = events
        self.usage_at = 0
        self.out: dict[str, Any] = {}
        self.parts: list[Any] = []
        self.run: list[str] = []
        self.candidate: dict[str, Any] = {"index": 0}
        self.finished = False

    def flush(self) -> None:
        if self.run:
            last = self.parts[-1]
            self.parts[-1] = {**last, "text": last["text"] + "".join(self.run)}
            self.run.clear()

    def add_text(self, text: str) -> None:
        run = self.run
        if run:
            run.append(text)
            return
        parts = self.parts
        if parts:
            last = parts[-1]
            if type(last) is not dict:
                raise Fallback
            if "text" in last and not last.get("thought"):
                if type(last["text"]) is not str:
                    raise Fallback
                run.append(text)
                return
        parts.append({"text": ""})
        run.append(text)

    def add(self, obj: dict[str, Any]) -> None:
        """One event the generic way (`add_event`)."""
        self.flush()
        if add_event(obj, self.out, self.parts, self.candidate):
            self.finished = True

    def result(self) -> dict[str, Any]:
        self.flush()
        out = self.out
        if out.get("usageMetadata") is _LAZY:
            data = self._events.data(self.usage_at)
            out["usageMetadata"] = orjson.loads(data)["usageMetadata"]
        if not self.finished:
            raise TruncatedStream("the stream ended without a finishReason")
        candidate, parts = self.candidate, self.parts
        candidate["content"] = {"role": "model", "parts": parts}
        out["candidates"] = [candidate] if "finishReason" in candidate or parts else []
        return out


def add_event(
    obj: dict[str, Any],
    out: dict[str, Any],
    parts: list[dict[str, Any]],
    candidate: dict[str, Any],
) -> bool:
    """One parsed event added to the answer so far (the generic path's only way, the fast
    path's for events its typed decode does not cover); True when it finishes the answer."""
    finished = False
    if obj.get("error") is not None and not obj.get("candidates"):
        err = obj["error"] if isinstance(obj["error"], dict) else {}
        status, message = err.get("status"), err.get("message")
        raise UpstreamStreamError(
            status if isinstance(status, str) else None,
            message if isinstance(message, str) else None,
            b"",
        )
    for key in ("responseId", "modelVersion", "usageMetadata", "promptFeedback"):
        if obj.get(key) is not None:
            out[key] = obj[key]
    if obj.get("promptFeedback", {}).get("blockReason") and not obj.get("candidates"):
        finished = True
    for chunk in (obj.get("candidates") or ())[:1]:
        for part in (chunk.get("content") or {}).get("parts") or ():
            if (
                parts
                and "text" in part
                and "text" in parts[-1]
                and bool(part.get("thought")) == bool(parts[-1].get("thought"))
                and len(part) == 1 + ("thought" in part)
            ):
                parts[-1] = {**parts[-1], "text": parts[-1]["text"] + part["text"]}
            else:
                parts.append(part)
        for key, value in chunk.items():
            if key not in ("content", "index"):
                candidate[key] = value
        if chunk.get("finishReason"):
            finished = True
    return finished

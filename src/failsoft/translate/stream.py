"""Stream translation: upstream events → the internal event grammar → the caller's events.

The internal grammar is Anthropic's (start; per block: start, deltas, stop; finish), the
most explicit of the three. A decoder reads one upstream dialect and calls a `Sink`; an
encoder is a `Sink` that writes the caller's dialect. Reasoning blocks are for callers that
can keep them (Responses); encoders for other callers ignore them (`IgnoresReasoning`).
Decoders are fed the JSON the router's stream tracker already parsed, so translation adds
no second parse per event.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import orjson

from failsoft.dialects.sse import encode
from failsoft.translate.ir import Usage

Frame = tuple[str | None, Any]
"""One caller event: its SSE `event:` name (or None) and its JSON (None for `[DONE]`)."""


class Sink(Protocol):
    def start(self, ident: str, model: str, usage: Usage) -> None: ...

    def text_start(self, index: int) -> None: ...

    def text(self, index: int, text: str) -> None: ...

    def tool_start(self, index: int, ident: str, name: str) -> None: ...

    def tool_args(self, index: int, fragment: str) -> None: ...

    def reasoning_start(self, index: int) -> None:
        """A block of the model's reasoning (Anthropic thinking) opens."""
        ...

    def reasoning_text(self, index: int, text: str) -> None:
        """Readable reasoning (Anthropic's thinking text; a Responses summary)."""
        ...

    def reasoning_seal(self, index: int, encrypted: str) -> None:
        """The block's opaque state, whole, just before its `block_stop`: what the caller
        must send back for the provider to continue (see `thinking.py`)."""
        ...

    def block_stop(self, index: int) -> None: ...

    def finish(self, stop: str, stop_sequence: str | None, usage: Usage) -> None: ...


class Decoder(Protocol):
    def feed(self, kind: int, obj: Any) -> None:
        """One upstream event: `kind` as the dialect's tracker classified it, `obj` its JSON
        (None for OpenAI's `[DONE]`)."""
        ...


class Encoder(Sink, Protocol):
    frames: list[Frame]


class IgnoresReasoning:
    """For encoders whose caller has no place for a model's reasoning (Chat Completions;
    Anthropic callers only meet thinking from Anthropic, which never needs translating)."""

    __slots__ = ()

    def reasoning_start(self, index: int) -> None:
        return None

    def reasoning_text(self, index: int, text: str) -> None:
        return None

    def reasoning_seal(self, index: int, encrypted: str) -> None:
        return None


class BlockTracker:
    """Open/close bookkeeping decoders share: one block open at a time, as Anthropic's
    grammar (and its SDK) expects, with indexes in order of appearance."""

    __slots__ = ("kind", "next", "open", "sink")

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.open: int | None = None
        self.kind: str | None = None
        self.next = 0

    def text(self, text: str) -> None:
        if self.kind != "text":
            self.close()
            self.open = self.next
            self.next += 1
            self.kind = "text"
            self.sink.text_start(self.open)
        assert self.open is not None
        self.sink.text(self.open, text)

    def tool(self, ident: str, name: str) -> int:
        self.close()
        index = self.open = self.next
        self.next += 1
        self.kind = "tool"
        self.sink.tool_start(index, ident, name)
        return index

    def close(self) -> None:
        if self.open is not None:
            self.sink.block_stop(self.open)
            self.open = None
            self.kind = None


class StreamConverter:
    """Feeds a decoder and serializes what its encoder produced, per upstream event."""

    __slots__ = ("_decoder", "_encoder", "_error", "_failure")

    def __init__(
        self,
        decoder: Decoder,
        encoder: Encoder,
        error: Callable[[Any], bytes],
        failure: Callable[[str, bool], bytes] | None = None,
    ) -> None:
        self._decoder = decoder
        self._encoder = encoder
        self._error = error
        self._failure = failure

    @property
    def encoder(self) -> Encoder:
        """The encoder, which holds the caller's stream state (mid-stream resume writes the
        rest of a broken answer with it)."""
        return self._encoder

    def feed(self, kind: int, obj: Any, observers: list[Callable[[Any], object]]) -> bytes:
        self._decoder.feed(kind, obj)
        return self.drain(observers)

    def drain(self, observers: list[Callable[[Any], object]]) -> bytes:
        """The encoder's pending frames, serialized (and shown to `observers`)."""
        frames = self._encoder.frames
        if not frames:
            return b""
        out = []
        for name, data in frames:
            if data is None:
                out.append(b"data: [DONE]\n\n")
            else:
                out.append(encode(orjson.dumps(data), name))
            for observe in observers:
                observe(data)
        frames.clear()
        return out[0] if len(out) == 1 else b"".join(out)

    def error(self, obj: Any) -> bytes:
        """The caller's in-band error event for an upstream in-band error event."""
        return self._error(obj)

    def failure(self, message: str, timeout: bool) -> bytes | None:
        """failsoft's own in-band end for a broken stream, when the caller's grammar needs
        the encoder's state for it (Responses: the next `sequence_number`); else None."""
        return None if self._failure is None else self._failure(message, timeout)

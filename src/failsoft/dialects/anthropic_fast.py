"""Assembling an ordinary Messages stream without a dict per text delta.

The bulk of an Anthropic answer is `content_block_delta` events holding a `text_delta`;
each used to be parsed into dicts by orjson and walked. Here their separators are
replaced in one pass, every other event (message_start, block starts and stops, the
message_delta, message_stop, ping, error: a handful) is parsed by orjson as before, and
each run of text deltas is decoded at once into typed structs (`decode_lines`).

Like `openai_fast`, this must read every body exactly as the generic path does, so it
only takes bodies it can vouch for: blocks of the two plain shapes (`event: …\\ndata: …`,
`data: …`), text deltas whose every field is declared and typed as strictly as orjson
parses (an unknown field, another delta type or a wrong type refuses the body), one JSON
value per line. Anything else returns None and the caller takes the generic path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import orjson

from failsoft.dialects import template
from failsoft.dialects.lines import block_data
from failsoft.dialects.template import Run

_Index = Annotated[int, msgspec.Meta(ge=0, le=2**31)]
_SEP = b"\n\nevent: content_block_delta\ndata: "
ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)


class TextDelta(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    type: Literal["text_delta"]
    text: str


class BlockDelta(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    type: Literal["content_block_delta"]
    delta: TextDelta
    index: _Index = 0


DELTA = msgspec.json.Decoder(BlockDelta)
"""A text delta event (also the relay's tracker's check)."""

Events = list[tuple[dict[str, Any], list[BlockDelta | Run]]]
"""Each other event, parsed by orjson, with the text deltas that follow it (a run of plain
text deltas as one `Run`)."""
_EVENT = b"event: content_block_delta\ndata: "
_TEXT_KEY = b'"text":"'


def decode(body: bytes) -> Events | None:
    """The body's events, or None when the fast path cannot vouch for it.

    The first run of plain text deltas is read as one (`template`), the events before and
    after it as below (`_decode`)."""
    at = body.find(_SEP)
    # (`find`, not `in`: see translate/native.py)
    if at < 0 or body.find(b"\r") >= 0:
        return _decode(body)
    start = at + 2
    end = body.find(b"\n\n", start)
    shape = _shape(body[start:end]) if end > 0 else None
    if shape is None:
        return _decode(body)
    delta, form = shape
    prefix, suffix = form.prefix, form.suffix
    last = body.rfind(suffix + b"\n\n" + prefix, start)
    stop = body.find(b"\n\n", last + len(suffix) + 2 + len(prefix)) if last > 0 else -1
    texts = template.strings(body, start, stop, form) if stop > 0 else None
    if texts is None:
        return _decode(body)
    before, after = _decode(body[:start]), _decode(body[stop + 2 :])
    if not before or after is None:
        return _decode(body)
    before[-1][1].append(Run(delta, texts))
    before += after
    return before


def _shape(event: bytes) -> tuple[BlockDelta, template.Shape] | None:
    """A plain text delta event (`event:` and `data:` lines, the text written without
    escapes), as its bytes before and after the text; else None."""
    data = event[len(_EVENT) :]
    if event[: len(_EVENT)] != _EVENT:
        return None
    try:
        delta = DELTA.decode(data)
    except ERRORS:
        return None
    found = template.slot(data, _TEXT_KEY, delta.delta.text)
    if found is None:
        return None
    prefix, suffix = found
    if not template.counts(data, _TEXT_KEY):
        emptied = msgspec.structs.replace(delta, delta=TextDelta(type="text_delta", text=""))
        try:
            if DELTA.decode(prefix + suffix) != emptied:
                return None  # the slot is not the text that counts (a duplicate key)
        except ERRORS:
            return None
    return delta, template.Shape(_EVENT + prefix, suffix)


def _decode(body: bytes) -> Events | None:
    """The body's events, each run of text deltas decoded at once (`decode_lines`)."""
    if body.find(b"\r") >= 0 or body[-2:] != b"\n\n":
        return None
    merged = body.count(_SEP)
    pieces = body.replace(_SEP, b"\n").split(b"\n\n")
    if pieces.pop():
        return None
    out: Events = []
    lines_seen = 0
    for piece in pieces:
        rest = block_data(piece)
        if rest is None:
            return None
        end = rest.find(b"\n")
        first = rest if end < 0 else rest[:end]
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return None
        if type(obj) is not dict:
            return None
        deltas: list[BlockDelta | Run] = []
        if end >= 0:
            lines = rest[end + 1 :]
            newlines = lines.count(b"\n")
            if lines[:1] != b"{" or lines[-1:] != b"}" or lines.count(b"}\n{") != newlines:
                # A value may span lines in `decode_lines`; one cannot span `}` + `\n` + `{`.
                return None
            try:
                deltas = DELTA.decode_lines(lines)  # type: ignore[assignment]
            except ERRORS:
                return None
            if len(deltas) != newlines + 1:
                return None  # an empty line, or a line holding more than one value
            lines_seen += newlines + 1
        out.append((obj, deltas))
    if lines_seen != merged:
        # A line more than the delta events merged: a line of no field inside an event,
        # which the generic path ignores however much it looks like a delta.
        return None
    return out

"""Reading an ordinary Responses stream without a dict per delta.

Assembling a Responses stream (`responses.assemble`) needs only the events that are not
deltas: `response.completed` carries the whole answer, `output_item.done` the items. The
deltas (a text, arguments or reasoning delta per token) only have to be valid, as the
generic path parses every event before it adds any. Here each run of deltas is checked
by one typed decode (`Delta`, every field declared and typed as strictly as orjson
parses) and never becomes a dict; the other events (a dozen) are parsed by orjson.

The body must be of the plain shape (`event: …\\ndata: {…}` or `data: {…}` blocks, LF
only); a delta is taken as one when its block follows one whose data ends with `}`, and
starts `{`: the boundary becomes `}\\t{`, which no JSON value can span (see `lines`), and
the count of decoded deltas must match the count of boundaries. Anything else returns
None and the caller takes the generic path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import orjson

from failsoft.dialects.lines import block_data

_Int = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]
ERRORS = (msgspec.DecodeError, msgspec.ValidationError, RecursionError)
_NAMES = (
    b"response.output_text.delta",
    b"response.function_call_arguments.delta",
    b"response.reasoning_summary_text.delta",
    b"response.reasoning_text.delta",
    b"response.custom_tool_call_input.delta",
    b"response.refusal.delta",
)


class Delta(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """Any delta event whose every field is one of these (none is read: assembly takes
    the answer from the final event)."""

    type: Literal[
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_text.delta",
        "response.custom_tool_call_input.delta",
        "response.refusal.delta",
    ]
    sequence_number: _Int | None = None
    item_id: str | None = None
    output_index: _Int | None = None
    content_index: _Int | None = None
    summary_index: _Int | None = None
    delta: str | None = None
    logprobs: Annotated[list[int], msgspec.Meta(max_length=0)] | None = None
    obfuscation: str | None = None


_DELTAS = msgspec.json.Decoder(Delta)
_TAB = b"}\t{"


def decode(body: bytes) -> list[dict[str, Any]] | None:
    """The events that are not deltas, parsed by orjson, in order (every delta checked),
    or None when the fast path cannot vouch for the body."""
    # (`find`, not `in`: see translate/native.py)
    if body[-2:] != b"\n\n" or body.find(b"\r") >= 0 or body.find(b"\t") >= 0:
        return None
    boundaries = 0
    for name in _NAMES:
        pieces = body.split(b"}\n\nevent: " + name + b"\ndata: {")
        if len(pieces) > 1:
            boundaries += len(pieces) - 1
            body = _TAB.join(pieces)
    blocks = body.split(b"\n\n")
    blocks.pop()  # empty: the body ends with a blank line
    out: list[dict[str, Any]] = []
    deltas = 0
    for block in blocks:
        rest = block_data(block)
        if rest is None:
            return None
        if rest.find(b"\n") >= 0:
            return None  # a multi-line event, a comment after the data: not the plain shape
        end = rest.find(_TAB)
        try:
            obj = orjson.loads(rest if end < 0 else memoryview(rest)[: end + 1])
            if end >= 0:
                deltas += len(_DELTAS.decode_lines(memoryview(rest)[end + 2 :]))
        except (orjson.JSONDecodeError, *ERRORS):
            return None
        if type(obj) is not dict:
            return None
        out.append(obj)
    return out if deltas == boundaries else None

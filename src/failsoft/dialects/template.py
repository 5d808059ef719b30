"""Reading a run of stream events that differ only in one string, without a decode per event.

The text events of an ordinary stream are byte for byte the same except for the text:
`PREFIX + TEXT + SUFFIX`, where the prefix ends with the opening quote of the text and the
suffix starts with its closing quote. Once one such event is parsed fully (its prefix and
suffix are then known to be the same JSON around any string), a run of them is read by
one regular expression that steps over the known lengths and takes each text as the JSON
string body that starts there (`_pattern`), a byte-for-byte comparison of the run with the
shape rebuilt around those texts, and one decode of the texts joined by `","` as a JSON
array of strings: no decode and no Python object per event but the text's bytes and
string, and no Python-level scan of the event bytes (the pattern jumps over the prefix
and suffix in constant time; only the texts are looked at byte by byte).

Why that reads every event exactly as parsing it alone would (`strings` returns None
otherwise, and the caller reads those events the per-event way):

- the run equals `PREFIX + t1 + SUFFIX + "\n\n" + PREFIX + t2 + ... + SUFFIX` for the
  texts `t1 ... tn` (compared byte for byte, however the pattern cut them);
- each text matched `_BODY`: characters that are neither a quote, a backslash nor a
  control character, and complete escapes (`\\"`, `\\\\`, `\\/`, `\\b` ... `\\t`,
  `\\uXXXX`), so its quotes are all escaped and it does not end inside an escape: the
  quote after it is a string delimiter, and it holds no raw newline;
- decoded typed `list[str]` (msgspec: strict UTF-8, no lone surrogates, exactly what
  orjson accepts in a string) each text is a valid string on its own: no UTF-8 sequence
  or surrogate pair spans two texts. So the run is exactly the `n` events
  `PREFIX + ti + SUFFIX`, and each parses as the parsed one with its text replaced.

With a second per-event string (`Shape.middle`: OpenAI's `obfuscation`), each event is
`PREFIX + text + MIDDLE + other + SUFFIX`, the other string plain printable ASCII without
a quote or a backslash (`_PLAIN`: a valid string body as it stands, never decoded; any
other value refuses the run, which is then read per event).
"""

from __future__ import annotations

import re
from functools import lru_cache
from operator import itemgetter
from typing import Any

import msgspec

_STRINGS = msgspec.json.Decoder(list[str])
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
_JOIN = b'","'
SEGMENT = 32 * 1024
_CHAR = rb'[^"\\\x00-\x1f]'
_BODY = rb"(" + _CHAR + rb'*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})' + _CHAR + rb"*+)*+)"
"""A whole JSON string body (what lies between the quotes): no unescaped quote, no control
character, no incomplete escape. Possessive, so that a run that does not fit costs no
backtracking."""
_PLAIN = rb"([\x20\x21\x23-\x5b\x5d-\x7e]*+)"
"""A string body that needs no decoding to be known valid (OpenAI's `obfuscation` values)."""
_FIRST = itemgetter(0)


@lru_cache(maxsize=8)
def _pattern(before: int, between: int, after: int) -> re.Pattern[bytes]:
    """One event of a shape with these lengths around its string(s), as a pattern that
    jumps over them (`.{n}` is a constant-time step in `re`) and captures the string
    bodies. Keyed by lengths only, not by the bytes (an event's id differs per request,
    its length does not); a few entries, as shapes come from the upstream (`re.compile`
    keeps its own bounded cache as well).

    Only the first step can fail (too few bytes left, found at once); the steps after a
    string body take what is left, up to their length (`.{0,n}`). Were they exact, a body
    with too few bytes after it (an event that ends inside its text) would fail the match
    and `findall` would try again one byte later, scanning the same body again: quadratic
    in the length of such an event. As it is every match succeeds, matches do not overlap,
    and a short last match is refused by the comparison like any other misplaced cut."""
    first, rest = b"(?s:.{%d})", b"(?s:.{0,%d})"
    if between < 0:
        return re.compile(first % before + _BODY + rest % after)
    return re.compile(first % before + _BODY + rest % between + _PLAIN + rest % after)


class Shape:
    """The bytes around the text of one kind of event: `prefix + text + suffix`, or with
    a second string that differs per event (OpenAI's random `obfuscation`),
    `prefix + text + middle + other + suffix`."""

    __slots__ = ("joint", "middle", "pattern", "prefix", "suffix")

    def __init__(self, prefix: bytes, suffix: bytes, middle: bytes = b"") -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.middle = middle
        self.joint = suffix + b"\n\n" + prefix
        """What lies between two texts (or a text's other string and the next text)."""
        between = len(middle) if middle else -1
        self.pattern = _pattern(len(prefix), between, len(suffix) + 2)


class Run:
    """`len(strings)` consecutive events equal to `chunk` but for its text, which is each
    of `strings` in turn."""

    __slots__ = ("chunk", "strings")

    def __init__(self, chunk: Any, strings: list[str]) -> None:
        self.chunk = chunk
        self.strings = strings


def slot(event: bytes, key: bytes, value: str) -> tuple[bytes, bytes] | None:
    """The event's bytes before and after the string `value` of `key` (given as `"key":"`),
    when that string is written plainly (no escapes) and the key occurs once, else None.

    The caller must still check that the slot is the value it decoded (a later duplicate
    key would override it): `counts`, else parse `prefix + suffix` and compare."""
    raw = value.encode()
    # (`find`, not `in`: see translate/native.py)
    if not raw or raw.find(b'"') >= 0 or raw.find(b"\\") >= 0 or event.find(b"\n") >= 0:
        return None
    start = event.find(key) + len(key)
    if start < len(key) or event.find(key, start) >= 0:
        return None  # no such key, or more than once
    end = start + len(raw)
    if event[start:end] != raw or event[end : end + 1] != b'"':
        return None
    return event[:start], event[end:]


def counts(event: bytes, key: bytes) -> bool:
    """Whether the string `slot` found after `key` in the parsed `event` is surely the value
    that counts, without parsing the event again with that string emptied.

    With no backslash in the event, no name is written with escapes: a member named like
    the key can only be written as it (`"content"`), and it is written once, at the slot.
    So the decoded field (non-empty: `slot` refuses an empty one) comes from the slot: no
    duplicate key overrides it. Else the caller asks the decoder (the emptied event must
    parse as the parsed one with the string emptied)."""
    return event.find(b"\\") < 0 and event.count(key[:-2]) == 1  # (`find`: see `slot`)


def strings(
    body: bytes, start: int, end: int, shape: Shape, *, segment: int = SEGMENT
) -> list[str] | None:
    """The texts of `body[start:end]` if it is events of `shape` joined by blank lines
    (`\n\n`, which must also follow at `end`), each string a valid JSON string body on its
    own; None when that is not proven.

    Read a segment of about `segment` bytes at a time: each segment's rebuilt copy stays
    in cache, where a copy of a whole 2,000-token run costs more than everything else."""
    if body[end : end + 2] != b"\n\n":
        return None
    out: list[str] = []
    while True:
        stop = body.find(b"\n\n", start + segment, end)
        if stop < 0:
            stop = end
        texts = _segment(body, start, stop, shape)
        if texts is None:
            return None
        out += texts
        if stop == end:
            return out
        start = stop + 2


def _segment(body: bytes, start: int, stop: int, shape: Shape) -> list[str] | None:
    """`strings` of the events in `body[start:stop]` (followed by `\n\n`).

    The pattern cuts the texts where the lengths put them (a text that is not a whole
    string body ends its cut early and misplaces the following ones, or the pattern stops
    matching: either way the comparison refuses); the segment is then compared with the
    shape rebuilt around the cuts."""
    prefix, suffix, middle = shape.prefix, shape.suffix, shape.middle
    found = shape.pattern.findall(body, start, stop + 2)
    if middle:
        rebuilt = shape.joint.join(map(middle.join, found))
        texts = list(map(_FIRST, found))
    else:
        rebuilt = shape.joint.join(found)
        texts = found
    if (
        len(prefix) + len(rebuilt) + len(suffix) != stop - start
        or not body.startswith(prefix, start)
        or not body.startswith(rebuilt, start + len(prefix))
        or not body.startswith(suffix, stop - len(suffix))
    ):
        return None
    return _decoded(texts)


def _decoded(texts: list[bytes]) -> list[str] | None:
    """The JSON string bodies `texts` (each a whole one: `_BODY`) decoded, when each is
    valid on its own (UTF-8, surrogates)."""
    try:
        decoded = _STRINGS.decode(b'["' + _JOIN.join(texts) + b'"]')
    except _ERRORS:
        return None
    return decoded if len(decoded) == len(texts) else None

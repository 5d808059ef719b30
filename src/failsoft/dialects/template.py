"""Reading a run of stream events that differ only in one string, without a decode per event.

The text events of an ordinary stream are byte for byte the same except for the text:
`PREFIX + TEXT + SUFFIX`, where the prefix ends with the opening quote of the text and the
suffix starts with its closing quote. Once one such event is parsed fully (its prefix and
suffix are then known to be the same JSON around any string), a run of them is read by
cutting the texts out of the lines, checking that they rebuild the run byte for byte, and
decoding them joined by `","` as one JSON array of strings: no decode and no Python object
per event but the text's bytes and string.

Why that reads every event exactly as parsing it alone would (`strings` returns None
otherwise, and the caller reads those events the per-event way):

- the run equals `PREFIX + t1 + SUFFIX + "\n\n" + PREFIX + t2 + ... + SUFFIX` for the cut
  texts `t1 ... tn` (compared byte for byte, however the texts were cut);
- none of the inserted quotes is preceded by a backslash (`\\","` does not occur, the last
  text does not end in one), so each inserted quote is a string delimiter;
- the array is typed `list[str]` (msgspec: strict UTF-8, no lone surrogates, no raw control
  characters, exactly what orjson accepts in a string) and has `n` items, so it has `2n`
  delimiters: exactly the inserted ones. No text holds a delimiter, so each is a whole
  JSON string body lexed on its own (no escape, surrogate pair or UTF-8 sequence spans two
  texts) and none holds a raw newline: the run is exactly the `n` events
  `PREFIX + ti + SUFFIX`, and each parses as the parsed one with its text replaced.
"""

from __future__ import annotations

from itertools import repeat
from operator import itemgetter
from typing import Any

import msgspec

_STRINGS = msgspec.json.Decoder(list[str])
_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)
_JOIN = b'","'
_ESCAPED_JOIN = b'\\","'
SEGMENT = 32 * 1024
_FIRST, _SECOND, _THIRD = itemgetter(0), itemgetter(1), itemgetter(2)


class Shape:
    """The bytes around the text of one kind of event: `prefix + text + suffix`, or with
    a second string that differs per event (OpenAI's random `obfuscation`),
    `prefix + text + middle + other + suffix`."""

    __slots__ = ("middle", "prefix", "suffix")

    def __init__(self, prefix: bytes, suffix: bytes, middle: bytes = b"") -> None:
        self.prefix = prefix
        self.suffix = suffix
        self.middle = middle


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
    key would override it): parse `prefix + suffix` and compare."""
    raw = value.encode()
    if not raw or b'"' in raw or b"\\" in raw or b"\n" in event or event.count(key) != 1:
        return None
    start = event.find(key) + len(key)
    end = start + len(raw)
    if event[start:end] != raw or event[end : end + 1] != b'"':
        return None
    return event[:start], event[end:]


def strings(
    body: bytes, start: int, end: int, shape: Shape, *, segment: int = SEGMENT
) -> list[str] | None:
    """The texts of `body[start:end]` if it is events of `shape` joined by blank lines
    (`\n\n`), each string a valid JSON string body on its own; None when that is not
    proven.

    Read a segment of about `segment` bytes at a time: each segment's copies stay in
    cache, where copies of a whole 2,000-token run cost more than everything else."""
    out: list[str] = []
    while True:
        stop = body.find(b"\n\n", start + segment, end)
        if stop < 0:
            stop = end
        texts = _segment(body[start:stop], shape)
        if texts is None:
            return None
        out += texts
        if stop == end:
            return out
        start = stop + 2


def _segment(region: bytes, shape: Shape) -> list[str] | None:
    """`strings` of one segment.

    The texts are cut out of the region's lines (one `split` at newlines: a plain byte
    scan, where a search for the whole joint sets itself up again for every event and costs
    more than decoding it) and the region is then compared with what they rebuild."""
    prefix, suffix, middle = shape.prefix, shape.suffix, shape.middle
    lead = prefix.count(b"\n")
    cut = slice(len(prefix) - prefix.rfind(b"\n") - 1, -len(suffix))
    texts = list(map(itemgetter(cut), region.split(b"\n")[lead :: lead + 2]))
    rebuilt = (suffix + b"\n\n" + prefix).join(texts)
    if (
        len(prefix) + len(rebuilt) + len(suffix) != len(region)
        or not region.startswith(prefix)
        or not region.startswith(rebuilt, len(prefix))
        or not region.endswith(suffix)
    ):
        return None
    if middle:
        # Each cut must be `text + middle + other`, split here at its last `middle`:
        # whichever split, both halves are then checked to be whole string bodies, so
        # the event is the parsed one with both strings replaced.
        parts = list(map(bytes.rpartition, texts, repeat(middle)))
        if not all(map(_SECOND, parts)) or _decoded(list(map(_THIRD, parts))) is None:
            return None
        texts = list(map(_FIRST, parts))
    return _decoded(texts)


def _decoded(texts: list[bytes]) -> list[str] | None:
    """The JSON string bodies `texts` decoded, when each is a whole valid one on its own."""
    joined = _JOIN.join(texts)
    if _ESCAPED_JOIN in joined or joined[-1:] == b"\\":
        return None
    try:
        decoded = _STRINGS.decode(b'["' + joined + b'"]')
    except _ERRORS:
        return None
    return decoded if len(decoded) == len(texts) else None

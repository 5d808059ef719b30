"""Formatting for failsoft's own log lines: logfmt (`key=value ...`) or JSON, and the
token counts read from the bytes a caller was sent.

Values that come from callers (model names, paths) are quoted and escaped here, so a
newline or a quote in them can never forge a second line or a field, and are cut short.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

MAX_VALUE = 200
"""Longest value written as is; longer ones (a caller's model name, a path) are cut."""

_PLAIN = re.compile(r"[A-Za-z0-9_./:,@+%*()\[\]!?#~^|-]+")
"""What is written without quotes: no space, quote, `=`, backslash or control character."""


_PLAIN_BYTES = bytes(c for c in range(128) if _PLAIN.fullmatch(chr(c)))
"""The characters `_PLAIN` allows, for `bytes.translate` to delete: what is left is not
plain. (A few C calls where the regex costs a microsecond: the access log writes
several values per request.)"""


def value(raw: object) -> str:
    """One logfmt value: as is when it is a plain word, else double-quoted and escaped."""
    if raw is None:
        return "-"
    if type(raw) is bytes:
        if 0 < len(raw) <= MAX_VALUE and not raw.translate(None, _PLAIN_BYTES):
            return raw.decode("latin-1")
    elif type(raw) is str:
        if (
            0 < len(raw) <= MAX_VALUE
            and raw.isascii()
            and not raw.encode().translate(None, _PLAIN_BYTES)
        ):
            return raw
    elif raw is True:
        return "true"
    elif raw is False:
        return "false"
    elif type(raw) is int or type(raw) is float:
        return str(raw)
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    if len(text) > MAX_VALUE:
        text = text[:MAX_VALUE] + "..."
    if _PLAIN.fullmatch(text):
        return text
    return '"' + _escape(text) + '"'


def _escape(text: str) -> str:
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape").decode("ascii"))
    return "".join(out)


def line(fields: dict[str, Any]) -> str:
    """`key=value key=value ...` in the order given."""
    return " ".join(f"{key}={value(raw)}" for key, raw in fields.items())


_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse(text: str) -> dict[str, str]:
    """A line written by `line` back into its fields (values as text, `-` for none), e.g.
    to find a request's trail in a captured log. Anything before the first field (a log
    format's time and level) is skipped."""
    out = {}
    for key, raw in _FIELD.findall(text):
        out[key] = _unquote(raw[1:-1]) if raw.startswith('"') else raw
    return out


def _unquote(text: str) -> str:
    if "\\" not in text:
        return text
    return text.encode("latin-1", "backslashreplace").decode("unicode_escape")


def clean(fields: dict[str, Any]) -> dict[str, Any]:
    """Fields fit for a JSON line: bytes decoded, long strings cut."""
    out: dict[str, Any] = {}
    for key, raw in fields.items():
        if isinstance(raw, bytes):
            raw = raw.decode("latin-1")
        if isinstance(raw, str) and len(raw) > MAX_VALUE:
            raw = raw[:MAX_VALUE] + "..."
        out[key] = raw
    return out


def json_line(fields: dict[str, Any]) -> str:
    """The same fields as one JSON object (bytes decoded, long strings cut)."""
    return orjson.dumps(clean(fields)).decode()


# ---------------------------------------------------------------------------- tokens

_GEMINI = b'"usageMetadata"'
_USAGE_KEYS = (b'"usage"', _GEMINI)
_OPENINGS = tuple((key, re.compile(re.escape(key) + rb"[: \t]{0,7}\{")) for key in _USAGE_KEYS)
"""Each key where a usage object follows it: the first `{` within 8 bytes, with only
`:`, spaces and tabs before it."""
_INPUT = ("input_tokens", "prompt_tokens", "promptTokenCount")
_OUTPUT = ("output_tokens", "completion_tokens", "candidatesTokenCount")
_SCAN = 4096
"""A usage object is a few hundred bytes; anything longer is not one."""
_SHALLOW = re.compile(rb"\{[^{}]*+(?:\{[^{}]*+\}[^{}]*+)*+\}")
"""An object nesting at most one level of objects (every usage object failsoft has met):
the `}` that closes it is the one `_object_at`'s count finds, in one match."""


def usage_in(body: bytes) -> tuple[int | None, int | None]:
    """Input and output tokens from every usage object in `body` (an answer, or a batch of
    stream events, in any dialect); the last count of each wins, as in a stream.

    Only the usage objects themselves are parsed, never the whole answer: `"usage"` with
    both quotes bare can only be a key (inside a JSON string its quotes are escaped).
    """
    found_in: int | None = None
    found_out: int | None = None
    for key, opening in _OPENINGS:
        if key is _GEMINI and (found_in is not None or found_out is not None):
            break  # one dialect per body: no second scan when the first key was found
        match = opening.search(body)
        while match is not None:
            obj = _object_at(body, match.end() - 1)
            if obj is not None:
                found_in = _first_int(obj, _INPUT, found_in)
                found_out = _first_int(obj, _OUTPUT, found_out)
            match = opening.search(body, match.start() + len(key))
    return found_in, found_out


def _object_at(body: bytes, brace: int) -> dict[str, Any] | None:
    """The JSON object opening at `brace`: its closing brace is the first `}` with as many
    `{` before it (usage objects hold numbers and small objects, no braces in strings)."""
    limit = min(len(body), brace + _SCAN)
    shallow = _SHALLOW.match(body, brace, limit)
    if shallow is not None:
        close = shallow.end() - 1
    else:
        close = body.find(b"}", brace, limit)
        while close >= 0:
            if body.count(b"{", brace, close) == body.count(b"}", brace, close) + 1:
                break
            close = body.find(b"}", close + 1, limit)
        else:
            return None
    try:
        obj = orjson.loads(body[brace : close + 1])
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


def usage_known(answer: Any, body: bytes) -> tuple[int | None, int | None] | None:
    """What `usage_in(body)` finds, read off `answer` (`body` parsed, or the object it was
    serialized from) without scanning for and parsing the usage object again; None when
    only the scan can tell (then call it).

    The router parsed or built the answer already, so its usage is there for the access
    line. It is taken from the parsed object only where the scan is sure to read the very
    same object: one bare `"usage"` key in the body (the answer's own, since no `\\u`
    escape can spell another), a usage object `_object_at` delimits right (no brace in
    any of its strings, and whole within `_SCAN` bytes), and counts found in it; else the
    scan decides, a nested or repeated key included.
    """
    if type(answer) is not dict:
        return None
    at = body.find(b'"usage"')
    if at >= 0:
        key = _USAGE_KEYS[0]
        usage = answer.get("usage")
    else:
        at = body.find(_GEMINI)
        if at < 0:
            return None, None  # neither key: the scan finds nothing either
        key = _GEMINI
        usage = answer.get("usageMetadata")
    if type(usage) is not dict or body.find(key, at + len(key)) >= 0:
        return None
    opening = _OPENINGS[0][1] if key is _USAGE_KEYS[0] else _OPENINGS[1][1]
    match = opening.match(body, at)
    if (
        match is None
        or len(body) - match.end() >= _SCAN
        or body.find(b"\\u") >= 0
        or not _braceless(usage)
    ):
        return None
    found_in = _first_int(usage, _INPUT, None)
    found_out = _first_int(usage, _OUTPUT, None)
    if found_in is None and found_out is None and key is not _GEMINI:
        return None  # the scan would go on to look for `"usageMetadata"`
    return found_in, found_out


def _braceless(obj: dict[str, Any]) -> bool:
    """No key or string in `obj` (a usage object: counts, a few small objects and lists)
    holds a brace, so counting braces finds where its JSON text ends."""
    for name, item in obj.items():
        if "{" in name or "}" in name:
            return False
        kind = type(item)
        if kind is int or kind is float or kind is bool or item is None:
            continue
        if kind is str:
            if "{" in item or "}" in item:
                return False
        elif kind is dict:
            if not _braceless(item):
                return False
        elif kind is list:
            for element in item:
                if type(element) is dict:
                    if not _braceless(element):
                        return False
                elif type(element) is str or type(element) is list:
                    return False
        else:
            return False
    return True


def _first_int(obj: dict[str, Any], names: tuple[str, ...], default: int | None) -> int | None:
    for name in names:
        count = obj.get(name)
        if isinstance(count, int) and not isinstance(count, bool):
            return count
    return default

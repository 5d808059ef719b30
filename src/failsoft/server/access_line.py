"""The access line's text: one per request, so what repeats from one request to the next
is formatted once and looked up after.

A route's `surface= method= path=` words, an answering target's `answered=` word and the
other words that recur (model, trail, cache, ...) are remembered (a few thousand at most
each); failsoft's own request ids and the numbers are formatted as they come. The line is
the one `logfmt.value` / `logfmt.clean` would write, byte for byte (tests/server/
test_access_direct.py and test_access_line.py hold it to that).
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import TYPE_CHECKING, Any

from failsoft.logfmt import clean, json_line, value
from failsoft.logjson import FIELDS, SUMMARY, direct, json_record, now, text_now

if TYPE_CHECKING:
    from failsoft.server.access import Exchange

access_log = logging.getLogger("failsoft.access")
_NAME = access_log.name
_PREFIX_TEXT = f"{'INFO':<7} {_NAME}: "
"""What the text format puts between an access line's time and its message."""

_BOOL = ("false", "true")
_KEEP = 4096
"""The most words, routes or labels remembered, each (then they are forgotten and
remembered again)."""

_RID = re.compile(rb"fs_[0-9a-f]{24}").fullmatch
"""failsoft's own request id (server/ids.py): a plain word, written as is."""
_EXACT = 1e15
"""Below this many milliseconds `f"{x:.1f}"` is `str(round(x, 1))` (a float's repr
turns to an exponent only from 1e16), with one float formatting instead of three."""


def write(
    ex: Exchange,
    status: int,
    elapsed: float,
    as_json: bool,
    loop: asyncio.AbstractEventLoop | None = None,
) -> None:
    """Write `ex`'s line: straight to failsoft's own handler when it is the one place the
    line goes (`logjson.direct`), else as a record through the logging module. `loop` is
    the running loop when the caller knows it (`_Handler.write_soon`)."""
    handler = direct(access_log)
    kind = None if handler is None else handler.direct_format()
    extra: dict[str, Any] | None = None
    if as_json:
        fields = _fields(ex, status, elapsed)
        summary = f"{ex.method} {ex.path} {status}"
        if handler is not None and kind is not None:
            if kind == "json":
                created, _ = now()
                handler.write_soon(json_record(created, "INFO", _NAME, summary, fields), loop)
            else:
                handler.write_soon(text_now(_PREFIX_TEXT, json_line(fields)), loop)
            return
        text = json_line(fields)
        # With `log.format: json` the fields go in the line's own object, not a string.
        extra = {FIELDS: fields, SUMMARY: summary}
    else:
        text = line(ex, status, elapsed)
        if handler is not None and kind is not None:
            if kind == "text":
                handler.write_soon(text_now(_PREFIX_TEXT, text), loop)
            else:
                created, _ = now()
                handler.write_soon(json_record(created, "INFO", _NAME, text, {}), loop)
            return
    # failsoft's own stderr handler alone takes the line as it is (above); anything
    # else gets a record. makeRecord + handle, not info(): the caller's file and line
    # (a stack walk) say nothing about a request, and the level was checked when the
    # request began.
    access_log.handle(
        access_log.makeRecord(_NAME, logging.INFO, "", 0, text, (), None, None, extra)
    )


def line(ex: Exchange, status: int, elapsed: float) -> str:
    """The logfmt line: one f-string of words looked up or formatted once. The surface,
    status, numbers and flags are failsoft's own; the rest is escaped (`logfmt.value`)."""
    c = _WORDS.get
    w = _word
    rid = ex.rid
    method = ex.method
    path = ex.path
    head = _HEADS.get((method, path))
    if head is None:
        head = _head(ex.surface, method, path)
    provider = ex.provider
    model = ex.answered
    answered = _ANSWERED.get((provider, model))
    if answered is None:
        answered = _answered(provider, model)
    ms = elapsed * 1000
    ttft = "-"
    if ex.stream and ex.first is not None:
        ttft = _ms((ex.first - ex.started) * 1000)
    tokens_in = ex.input_tokens  # ints (usage_in's, never bools) or None
    tokens_out = ex.output_tokens
    trail = ex.trail or None
    # Two f-strings, not one: past 30 parts an f-string is built as a list and joined.
    start = (
        f"rid={rid.decode('latin-1') if rid is not None and _RID(rid) else value(rid)} "
        f"{head} model={c(ex.model) or w(ex.model)} "
        f"status={status} attempts={c(ex.attempts) or w(ex.attempts)} "
        f"answered={answered} trail={c(trail) or w(trail)}"
    )
    text = (
        f"{start} ms={f'{ms:.1f}' if -_EXACT < ms < _EXACT else round(ms, 1)} "
        f"ttft_ms={ttft} "
        f"in={'-' if tokens_in is None else tokens_in} "
        f"out={'-' if tokens_out is None else tokens_out} "
        f"cache={c(ex.cache) or w(ex.cache)} rung={c(ex.rung) or w(ex.rung)} "
        f"stream={_BOOL[ex.stream]} broken={_BOOL[ex.broken]} "
        f"disconnect={_BOOL[ex.disconnected]} refused={c(ex.refused) or w(ex.refused)} "
        f"cut={c(ex.cut) or w(ex.cut)}"
    )
    if ex.caller is not None:
        text += f" key={c(ex.caller) or w(ex.caller)}"
    return text


def _fields(ex: Exchange, status: int, elapsed: float) -> dict[str, Any]:
    """The JSON line's fields, in the text line's order (and `key`, null when none)."""
    ttft = None
    if ex.stream and ex.first is not None:
        ttft = round((ex.first - ex.started) * 1000, 1)
    provider = ex.provider
    model = ex.answered
    return clean(
        {
            "rid": ex.rid,
            "surface": ex.surface,
            "method": ex.method,
            "path": ex.path,
            "model": ex.model,
            "status": status,
            "attempts": _int(ex.attempts),
            "answered": _LABELS.get((provider, model)) or _label(provider, model),
            "trail": ex.trail or None,
            "ms": round(elapsed * 1000, 1),
            "ttft_ms": ttft,
            "in": ex.input_tokens,
            "out": ex.output_tokens,
            "cache": ex.cache,
            "rung": ex.rung,
            "stream": ex.stream,
            "broken": ex.broken,
            "disconnect": ex.disconnected,
            "refused": ex.refused,
            "cut": ex.cut,
            "key": ex.caller,
        }
    )


def _ms(ms: float) -> str:
    return f"{ms:.1f}" if -_EXACT < ms < _EXACT else str(round(ms, 1))


_WORDS: dict[str | bytes | None, str] = {None: "-"}
"""Text or bytes (never numbers: `True == 1`) → its logfmt value, for `_word`."""


def _word(raw: str | bytes | None) -> str:
    """`value(raw)`, remembered."""
    text = value(raw)
    if len(_WORDS) >= _KEEP:
        _WORDS.clear()
        _WORDS[None] = "-"
    _WORDS[raw] = text
    return text


_HEADS: dict[tuple[str, str], str] = {}
"""(method, path) → `surface=... method=... path=...`."""


def _head(surface: str, method: str, path: str) -> str:
    text = f"surface={surface} method={value(method)} path={value(path)}"
    if len(_HEADS) >= _KEEP:
        _HEADS.clear()
    _HEADS[(method, path)] = text
    return text


_LABELS: dict[tuple[bytes | None, bytes | None], str | None] = {}
"""(provider, model) headers → `provider/model` (None when either is missing)."""
_ANSWERED: dict[tuple[bytes | None, bytes | None], str] = {}
"""(provider, model) headers → the `answered=` word."""


def _label(provider: bytes | None, model: bytes | None) -> str | None:
    label = None
    if provider is not None and model is not None:
        label = f"{provider.decode('latin-1')}/{model.decode('latin-1')}"
    if len(_LABELS) >= _KEEP:
        _LABELS.clear()
    _LABELS[(provider, model)] = label
    return label


def _answered(provider: bytes | None, model: bytes | None) -> str:
    text = value(_label(provider, model))
    if len(_ANSWERED) >= _KEEP:
        _ANSWERED.clear()
    _ANSWERED[(provider, model)] = text
    return text


def _int(raw: bytes | str | None) -> int | None:
    if raw is None:
        return None
    text = raw.decode("latin-1") if isinstance(raw, bytes) else raw
    return int(text) if text.isdigit() else None

"""Log lines for what failsoft refuses by itself: an unknown model or route, a request no
target can take, malformed input, its own overload.

These are keyed by what the caller sent (a model name, a path), so a misconfigured or
hostile client could otherwise write a line per request with a fresh key each time. Two
limits hold: per (kind, key) at most `per_key` lines a window, and per kind at most
`per_kind` lines a window whatever the keys. What is held back is counted and reported on
the next line written for that key (`suppressed=K`) or kind (`suppressed_other=K`). At most
`max_keys` keys are remembered (the oldest forgotten first), so memory stays bounded.

Values are the caller's words, quoted and cut short (failsoft/logfmt.py); never a header, a
key or a query string.
"""

from __future__ import annotations

import logging
from typing import Any

from failsoft.clock import SYSTEM_CLOCK, Clock
from failsoft.logfmt import MAX_VALUE, clean, json_line, line
from failsoft.logjson import FIELDS, SUMMARY

refusal_log = logging.getLogger("failsoft.refusal")

LEVELS = {
    "unknown_model": logging.WARNING,
    "unknown_route": logging.WARNING,
    "wrong_method": logging.WARNING,
    "untranslatable": logging.WARNING,
    "shed": logging.WARNING,
    "unauthenticated": logging.WARNING,
    "forbidden_model": logging.WARNING,
    "rate_limited": logging.WARNING,
    "malformed": logging.INFO,
    "too_large": logging.INFO,
    "media_type": logging.INFO,
}
"""A client pointed at the wrong place, or failsoft at its limit, is worth a warning; a
malformed body is the caller's own business and its 4xx already says why."""


class RefusalLog:
    __slots__ = (
        "_clock",
        "_json",
        "_keys",
        "_kinds",
        "counts",
        "max_keys",
        "per_key",
        "per_kind",
        "window",
    )

    def __init__(
        self,
        clock: Clock = SYSTEM_CLOCK,
        *,
        json: bool = False,
        per_key: int = 3,
        per_kind: int = 30,
        window: float = 60.0,
        max_keys: int = 1024,
    ) -> None:
        self._clock = clock
        self._json = json
        self.per_key = per_key
        self.per_kind = per_kind
        self.window = window
        self.max_keys = max_keys
        self._keys: dict[tuple[str, str], list[float]] = {}
        """(kind, key) → [window start, lines written in it, lines held back since the
        last one written]"""
        self._kinds: dict[str, list[float]] = {}
        """kind → [window start, lines written in it, held back for forgotten keys]"""
        self.counts: dict[str, int] = {}
        """kind → refusals, every one, logged or not (`failsoft_refusals_total`); kinds
        are failsoft's own words, a small fixed set."""

    def use_json(self, json: bool) -> None:
        """`log.access_format` after a config reload."""
        self._json = json

    def refuse(self, kind: str, key: str, reason: str, **fields: Any) -> None:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        level = LEVELS.get(kind, logging.INFO)
        if not refusal_log.isEnabledFor(level):
            return
        now = self._clock.monotonic()
        ident = (kind, key[:MAX_VALUE])
        entry = self._keys.get(ident)
        if entry is None:
            if len(self._keys) >= self.max_keys:
                self._forget_oldest()
            entry = self._keys[ident] = [now, 0, 0]
        elif now - entry[0] >= self.window:
            entry[0], entry[1] = now, 0
        total = self._kinds.get(kind)
        if total is None:
            total = self._kinds[kind] = [now, 0, 0]
        elif now - total[0] >= self.window:
            total[0], total[1] = now, 0
        if entry[1] >= self.per_key or total[1] >= self.per_kind:
            entry[2] += 1
            return
        entry[1] += 1
        total[1] += 1
        out: dict[str, Any] = {"refused": kind, **fields, "subject": key, "reason": reason}
        if entry[2]:
            out["suppressed"] = int(entry[2])
            entry[2] = 0
        if total[2]:
            out["suppressed_other"] = int(total[2])
            total[2] = 0
        if self._json:
            fields = clean(out)
            summary = f"refused {kind}: {fields['subject']}"
            refusal_log.log(level, json_line(fields), extra={FIELDS: fields, SUMMARY: summary})
        else:
            refusal_log.log(level, line(out))

    def _forget_oldest(self) -> None:
        ident = next(iter(self._keys))
        held = self._keys.pop(ident)[2]
        if held:
            kind = self._kinds.get(ident[0])
            if kind is not None:
                kind[2] += held

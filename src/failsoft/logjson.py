"""How failsoft's log lines are written: `time level logger: message` text, or one JSON
object per line (`log.format: json`) for log shippers.

A JSON line has `time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `message`, and
inside a traced request `trace_id` / `span_id`, so a log line leads to its trace. Lines
that are records of their own (the access and refusal lines) carry their fields at the
top level rather than as a JSON string inside `message`. Nothing is added that the text
line does not have: credentials stay out because no line is given them.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"

FIELDS = "failsoft_fields"
"""A record attribute (`extra=`) holding a line's own fields, merged into its JSON object."""
SUMMARY = "failsoft_summary"
"""A record attribute: the JSON line's `message` when its fields say the rest."""

TRACE_IDS: ContextVar[tuple[str, str] | None] = ContextVar("failsoft_trace_ids", default=None)
"""(trace id, span id) in hex of the request span the running task serves. Set in that
request's own task (the chat endpoint), so it never tags another request's lines."""

_BASE = ("time", "level", "logger", "message", "trace_id", "span_id")


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] | None = getattr(record, FIELDS, None)
        if fields is None:
            message = record.getMessage()
        else:
            message = getattr(record, SUMMARY, None) or record.getMessage()
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": message,
        }
        ids = TRACE_IDS.get()
        if ids is not None:
            out["trace_id"], out["span_id"] = ids
        if fields is not None:
            for key, raw in fields.items():
                if key not in _BASE:
                    out[key] = raw
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """failsoft's own stderr handler (replaced when the config asks for JSON).

    It also takes whole lines formatted elsewhere (`direct`): the access log writes one
    line per request, and a `LogRecord`, a `Formatter` and a write and flush of stderr
    each time cost more than the request's own routing. Those lines are gathered and
    written together once per event-loop iteration (at the latest before any record the
    handler emits, and when logging flushes at exit), so they stay in order and reach
    stderr as promptly as a reader can tell."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None
        """The loop a `flush_pending` is scheduled on (a loop that stopped before running
        it does not keep the next loop's lines waiting)."""

    def write_soon(self, text: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Write `text` (whole lines, terminators included) at the end of this loop
        iteration; at once outside a running loop.

        A caller that runs in a loop it knows (a connection's) hands it over as `loop`:
        it is not looked up then (on Python 3.11 each `get_running_loop` costs a `getpid`
        system call)."""
        with self.lock:  # type: ignore[union-attr]
            self._pending.append(text)
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush_pending()
                return
        if self._flush_on is not loop:
            self._flush_on = loop
            loop.call_soon(self.flush_pending)

    def flush_pending(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            self._flush_on = None
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            try:
                self.stream.write(text)
                self.stream.flush()
            except RecursionError:
                raise
            except Exception:
                self.handleError(logging.makeLogRecord({"msg": text}))

    def emit(self, record: logging.LogRecord) -> None:
        if self._pending:
            self.flush_pending()
        super().emit(record)

    def flush(self) -> None:
        self.flush_pending()
        super().flush()

    def close(self) -> None:
        self.flush_pending()
        super().close()

    def direct_format(self) -> str | None:
        """`text` or `json` when this handler formats records exactly as `setup_logging`
        set it up (so `text_line` / `json_record` write what it would), else None."""
        fmt = self.formatter
        if self.terminator != "\n":
            return None
        if type(fmt) is JsonFormatter:
            return "json"
        if (
            type(fmt) is logging.Formatter
            and fmt._fmt == TEXT_FORMAT
            and fmt.datefmt is None
            and fmt.converter is time.localtime
        ):
            return "text"
        return None


def direct(logger: logging.Logger) -> _Handler | None:
    """failsoft's own handler when it is the one place an INFO record of `logger` would
    go, with no filter on the way: a line for it can then skip the logging module. Any
    other setup (an embedding application's or pytest's handlers) returns None, and the
    caller logs the record as usual."""
    root = logging.root
    handlers = root.handlers
    if len(handlers) != 1:
        return None
    handler = handlers[0]
    if type(handler) is not _Handler or handler.filters or handler.level > logging.INFO:
        return None
    node: Any = logger
    while node is not root:
        if node.handlers or node.filters or not node.propagate or node.disabled:
            return None
        node = node.parent
    if root.filters:
        return None
    return handler


_NS = sys.version_info >= (3, 13)
"""A `LogRecord`'s time comes from `time.time_ns()` (3.13 on), else `time.time()`."""

if sys.version_info >= (3, 13):

    def now() -> tuple[float, int]:
        """The time a `LogRecord` made now would hold: `created`, and its milliseconds."""
        ns = time.time_ns()
        return ns / 1e9, (ns % 1_000_000_000) // 1_000_000

else:

    def now() -> tuple[float, int]:
        """The time a `LogRecord` made now would hold: `created`, and its milliseconds."""
        created = time.time()
        return created, int((created - int(created)) * 1000)


_stamp: list[Any] = [None, ""]
"""The last whole second a text line's time was formatted for, and its text (the
formatter's asctime)."""


def _stamp_for(created: float) -> str:
    """`created`'s `%Y-%m-%d %H:%M:%S` in local time, formatted once a second. The
    callers look in `_stamp` first and call this only when the second has changed (a
    call per line would cost as much as the rest of `text_now`)."""
    second = int(created)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    _stamp[0] = second
    _stamp[1] = text
    return text


def text_line(created: float, msecs: int, prefix: str, message: str) -> str:
    """The text handler's line for a record made at `created`: `prefix` is the level
    (padded as `%(levelname)-7s`) and the logger's name, e.g. `INFO    failsoft.access: `."""
    stamp = _stamp
    text = stamp[1] if stamp[0] == int(created) else _stamp_for(created)
    return f"{text},{msecs:03d} {prefix}{message}\n"


_MSECS = tuple(f"{ms:03d}" for ms in range(1000))


def text_now(prefix: str, message: str) -> str:
    """`text_line` for a record made now (`now()`'s time): one call, not two."""
    if _NS:
        ns = time.time_ns()
        created = ns / 1e9
        msecs = (ns % 1_000_000_000) // 1_000_000
        second = int(created)
    else:
        created = time.time()
        second = int(created)
        msecs = int((created - second) * 1000)
    stamp = _stamp
    text = stamp[1] if stamp[0] == second else _stamp_for(created)
    return f"{text},{_MSECS[msecs]} {prefix}{message}\n"


def json_record(created: float, level: str, name: str, summary: str, fields: dict[str, Any]) -> str:
    """`JsonFormatter`'s line for a record with its own `fields` and `summary`."""
    out: dict[str, Any] = {
        "time": datetime.fromtimestamp(created, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "level": level,
        "logger": name,
        "message": summary,
    }
    ids = TRACE_IDS.get()
    if ids is not None:
        out["trace_id"], out["span_id"] = ids
    for key, raw in fields.items():
        if key not in _BASE:
            out[key] = raw
    return orjson.dumps(out, default=str).decode() + "\n"


def setup_logging(level: str, json: bool = False) -> None:
    """failsoft's one stderr handler on the root logger (uvicorn's loggers propagate to
    it: `log_config=None`), text or JSON; called again once the config is read.

    Like `logging.basicConfig`, it leaves a root logger that someone else configured
    (an application embedding failsoft, pytest) alone."""
    root = logging.getLogger()
    if any(not isinstance(h, _Handler) for h in root.handlers):
        return
    handler = _Handler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json else logging.Formatter(TEXT_FORMAT))
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # A Python warning would otherwise be printed as bare text lines.
    logging.captureWarnings(json)

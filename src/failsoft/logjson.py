"""How failsoft's log lines are written: `time level logger: message` text, or one JSON
object per line (`log.format: json`) for log shippers.

A JSON line has `time` (RFC 3339, UTC, milliseconds), `level`, `logger`, `message`, and
inside a traced request `trace_id` / `span_id`, so a log line leads to its trace. Lines
that are records of their own (the access and refusal lines) carry their fields at the
top level rather than as a JSON string inside `message`. Nothing is added that the text
line does not have: credentials stay out because no line is given them.
"""

from __future__ import annotations

import logging
import sys
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
    """failsoft's own stderr handler (replaced when the config asks for JSON)."""


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

"""The `log:` section: failsoft's own request log, and the format of every line it writes.

On by default: an operator who cannot see what a client asked for, and who answered it,
cannot tell a misconfigured client from a provider's bad hour. The log level still decides
(`--log-level warning` silences the access log too).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class LogConfig:
    access: bool = True
    """One `failsoft.access` line per request, written when its response ends."""
    access_format: Literal["text", "json"] = "text"
    """`text`: one `key=value` line (logfmt); `json`: one JSON object, for log shippers.
    `format: json` implies it."""
    format: Literal["text", "json"] = "text"
    """`text`: `time level logger: message` lines; `json`: every line failsoft writes (the
    access and refusal lines too) is one JSON object with `time`, `level`, `logger`,
    `message` (and `trace_id` / `span_id` inside a traced request)."""

    @property
    def access_json(self) -> bool:
        """Whether the access and refusal lines carry their fields as JSON."""
        return self.format == "json" or self.access_format == "json"

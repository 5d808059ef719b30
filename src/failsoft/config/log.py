"""The `log:` section: failsoft's own request log.

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
    """`text`: one `key=value` line (logfmt); `json`: one JSON object, for log shippers."""

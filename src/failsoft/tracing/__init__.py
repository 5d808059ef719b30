"""Tracing's entry point: whether to trace at all, and the ids log lines are tagged with.

This module imports nothing of OpenTelemetry: with `tracing.enabled` off (the default)
`build_tracer` returns None and every hook on the request path is one `is None` test.
Only a gateway that traces imports `failsoft.tracing.otel` (the optional extra
`failsoft[otel]`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from failsoft.config import Config

if TYPE_CHECKING:
    from failsoft.tracing.otel import Tracer

log = logging.getLogger("failsoft.tracing")

EXTRA = "failsoft[otel]"
MISSING = (
    f"tracing.enabled needs the OpenTelemetry packages: pip install '{EXTRA}'; "
    "serving without traces"
)


def build_tracer(config: Config, provider: Any = None) -> Tracer | None:
    """The gateway's tracer, or None when it does not trace.

    `provider` (an SDK `TracerProvider`, e.g. with an in-memory exporter in tests) is used
    as given, and turns tracing on whatever the config says; without it one is built
    from `tracing:` and the standard `OTEL_*` variables, exporting OTLP over HTTP.
    A gateway whose tracing packages are missing logs why and serves untraced: traces
    are worth less than answers.
    """
    if provider is None and not config.tracing.enabled:
        return None
    try:
        from failsoft.tracing.otel import Tracer
    except ImportError:
        log.error(MISSING)
        return None
    return Tracer(config, provider)

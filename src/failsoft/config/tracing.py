"""The `tracing:` section: OpenTelemetry traces of requests and their upstream attempts.

Off by default, and then nothing of OpenTelemetry is imported: a gateway that does not
trace pays one `is None` test per request. On, it needs the optional extra
(`pip install 'failsoft[otel]'`); see docs/observability.md for the spans and attributes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from failsoft.config.validate import Secret, check


def _fraction(value: float) -> str | None:
    return None if 0.0 <= value <= 1.0 else f"must be between 0 and 1, got {value}"


def _http_url(value: str) -> str | None:
    if value.startswith(("http://", "https://")) and len(value) > len("https://"):
        return None
    return f"must be an http:// or https:// URL (OTLP/HTTP), got {value!r}"


@dataclass(frozen=True, slots=True)
class TracingConfig:
    enabled: bool = False
    """Export a span per request and one per upstream attempt (needs `failsoft[otel]`)."""
    endpoint: str | None = check(_http_url, None)
    """The OTLP/HTTP traces URL (`http://collector:4318/v1/traces`). Unset: the standard
    `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT` variables, else
    the exporter's default (`http://localhost:4318/v1/traces`)."""
    service_name: str | None = None
    """`service.name` of the spans. Unset: `OTEL_SERVICE_NAME`, else `failsoft`."""
    sample_ratio: float = check(_fraction, 1.0)
    """The share of new traces recorded (0 to 1). A caller's `traceparent` decides for
    the traces it continues (parent-based sampling)."""
    headers: dict[str, Secret] = field(default_factory=dict)
    """Headers sent with every export (a vendor's API key: `${VAR}` works, never logged).
    Unset: `OTEL_EXPORTER_OTLP_TRACES_HEADERS` / `OTEL_EXPORTER_OTLP_HEADERS`."""

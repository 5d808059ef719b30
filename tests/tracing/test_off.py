"""Tracing off (the default) costs nothing and imports nothing; tracing on without its
packages serves untraced and says why."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

from failsoft.config import parse_config
from failsoft.tracing import MISSING, build_tracer
from tests.conftest import BASE_CONFIG, make_config


def test_a_gateway_that_does_not_trace_imports_no_opentelemetry() -> None:
    # A fresh interpreter: this test process has the SDK loaded by other tests.
    script = textwrap.dedent(
        """
        import sys
        from failsoft.assemble import Runtime
        from failsoft.config import parse_config
        from failsoft.server import GatewayApp
        config = parse_config('''
        providers: {o: {dialect: openai, base_url: "http://127.0.0.1:9/v1", api_key: k}}
        models: {m: [o/a]}
        log: {format: json}
        ''')
        runtime = Runtime(config)
        GatewayApp(runtime)
        assert runtime.tracer is None
        loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
        print(loaded)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[]"


def test_without_the_packages_the_gateway_serves_untraced(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "failsoft.tracing.otel", None)  # import fails
    config = make_config("http://127.0.0.1:9", "tracing: {enabled: true}")
    with caplog.at_level(logging.ERROR, "failsoft.tracing"):
        assert build_tracer(config) is None
    assert MISSING in caplog.text
    assert "pip install 'failsoft[otel]'" in caplog.text


def test_tracing_is_off_by_default() -> None:
    assert build_tracer(make_config("http://127.0.0.1:9")) is None


def test_the_sample_ratio_is_a_fraction() -> None:
    from failsoft.errors import ConfigError

    text = BASE_CONFIG.format(sim="http://x", key="k", extra="")
    with pytest.raises(ConfigError, match=r"tracing\.sample_ratio: must be between 0 and 1"):
        parse_config(text + "tracing: {sample_ratio: 2}\n")


def test_the_endpoint_is_an_http_url() -> None:
    from failsoft.errors import ConfigError

    text = BASE_CONFIG.format(sim="http://x", key="k", extra="")
    with pytest.raises(ConfigError, match=r"tracing\.endpoint: must be an http:// or https:// URL"):
        parse_config(text + "tracing: {enabled: true, endpoint: 'collector:4317'}\n")


def test_check_config_shows_tracing_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    from failsoft.config.plan import render_plan

    monkeypatch.setenv("VENDOR_KEY", "vendor-secret-1")
    extra = (
        "log: {format: json}\n"
        "tracing: {enabled: true, endpoint: 'http://u:pw@127.0.0.1:4318/v1/traces', "
        "sample_ratio: 0.25, headers: {x-key: '${VENDOR_KEY}'}}\n"
    )
    text = BASE_CONFIG.format(sim="http://x", key="k", extra=extra)
    plan = render_plan(parse_config(text, env={"VENDOR_KEY": "vendor-secret-1"}))
    assert "log: one JSON object per line (access lines included)" in plan
    assert (
        "tracing: OTLP/HTTP to http://127.0.0.1:4318/v1/traces (service OTEL_SERVICE_NAME or "
        "failsoft; sampling 25% of new traces; headers x-key from ${VENDOR_KEY})"
    ) in plan
    assert "vendor-secret-1" not in plan
    assert "pw" not in plan

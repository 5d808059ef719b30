"""`log.format: json`: every line `failsoft serve` writes is one JSON object, the access
line's fields at its top level, and inside a traced request the ids of its trace, which a
real OTLP/HTTP exchange (a collector on 127.0.0.1) delivers."""

from __future__ import annotations

import http.server
import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from failsoft.logjson import FIELDS, SUMMARY, TRACE_IDS, JsonFormatter
from failsoft.sim import SimServer
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.helpers import chat, request
from tests.services import require_modules
from tests.test_cli import free_port, process, wait_for

COLLECTOR_KEY = "collector-secret-4242"


def _record(message: str, *args: Any, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("failsoft.router", logging.WARNING, "", 0, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_line_is_one_object_with_time_level_logger_message() -> None:
    line = JsonFormatter().format(_record("%s failed: %s", "rid", 'quote " and\nnewline'))
    assert "\n" not in line
    obj = json.loads(line)
    assert obj["level"] == "WARNING"
    assert obj["logger"] == "failsoft.router"
    assert obj["message"] == 'rid failed: quote " and\nnewline'
    assert obj["time"].endswith("Z") and "T" in obj["time"]
    assert "trace_id" not in obj


def test_a_record_with_fields_carries_them_at_the_top_level() -> None:
    fields = {"rid": "fs_1", "status": 200, "message": "not this one"}
    line = JsonFormatter().format(_record("{...}", **{FIELDS: fields, SUMMARY: "POST /x 200"}))
    obj = json.loads(line)
    assert obj["message"] == "POST /x 200"
    assert obj["rid"] == "fs_1" and obj["status"] == 200


def test_a_line_in_a_traced_request_carries_its_ids() -> None:
    token = TRACE_IDS.set(("a" * 32, "b" * 16))
    try:
        obj = json.loads(JsonFormatter().format(_record("hello")))
    finally:
        TRACE_IDS.reset(token)
    assert obj["trace_id"] == "a" * 32
    assert obj["span_id"] == "b" * 16


def test_an_exception_stays_on_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, "", 0, "failed", (), sys.exc_info())
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]


class _Collector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP traces endpoint that keeps what it is sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()


class _Receive(http.server.BaseHTTPRequestHandler):
    server: _Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        with self.server.lock:
            self.server.bodies.append(body)
            self.server.headers.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[_Collector]:
    server = _Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _spans(collector: _Collector) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    spans = []
    with collector.lock:
        bodies = list(collector.bodies)
    for body in bodies:
        export = ExportTraceServiceRequest()
        export.ParseFromString(body)
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                spans.extend((resource.resource, span) for span in scope.spans)
    return spans


def test_serve_writes_only_json_lines_tagged_with_the_exported_trace(
    tmp_path: Path, sim: SimServer, collector: _Collector
) -> None:
    require_modules("otel", "opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http")
    port = free_port()
    path = tmp_path / "gw.yaml"
    path.write_text(
        f"providers:\n  o: {{dialect: openai, base_url: '{sim.url}/v1', api_key: '${{KEY}}'}}\n"
        "models:\n  gpt: [o/gpt-4o, o/gpt-4o-mini]\n"
        "log: {format: json}\n"
        "tracing:\n"
        "  enabled: true\n"
        f"  endpoint: http://127.0.0.1:{collector.server_address[1]}/v1/traces\n"
        "  service_name: failsoft-test\n"
        "  headers: {x-collector-key: '${COLLECTOR_KEY}'}\n"
    )
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    env = {"KEY": PROVIDER_KEY, "COLLECTOR_KEY": COLLECTOR_KEY, "OTEL_BSP_SCHEDULE_DELAY": "50"}
    with process("serve", "--config", str(path), "--port", str(port), env=env) as proc:
        base = f"http://127.0.0.1:{port}"
        wait_for(f"{base}/healthz", proc)
        auth = {"authorization": f"Bearer {CALLER_KEY}"}
        resp = request(f"{base}/v1/chat/completions", body=chat("gpt"), headers=auth)
        assert resp.status == 200
        assert request(f"{base}/nowhere", method="GET").status == 404
        proc.terminate()
        out, _ = proc.communicate(timeout=15)

    lines = [line for line in out.splitlines() if line.strip()]
    objects = []
    for line in lines:
        obj = json.loads(line)  # every line, uvicorn's and the access line too
        assert {"time", "level", "logger", "message"} <= obj.keys(), line
        objects.append(obj)
    loggers = {obj["logger"] for obj in objects}
    assert {"failsoft", "failsoft.access", "failsoft.refusal"} <= loggers
    assert any(obj["logger"].startswith("uvicorn") for obj in objects)
    for secret in (PROVIDER_KEY, CALLER_KEY, COLLECTOR_KEY):
        assert secret not in out

    chats = [o for o in objects if o["logger"] == "failsoft.access"]
    (access,) = [o for o in chats if o["path"] == "/v1/chat/completions"]
    assert access["message"] == "POST /v1/chat/completions 200"
    assert access["status"] == 200
    assert access["trail"] == "o/gpt-4o:529,o/gpt-4o-mini:200"
    failed = [o for o in objects if o["logger"] == "failsoft.router"]
    assert failed and all(o["trace_id"] == access["trace_id"] for o in failed)

    spans = _spans(collector)
    assert collector.headers[0]["x-collector-key"] == COLLECTOR_KEY
    names = sorted(span.name for _, span in spans)
    assert names == ["chat gpt", "chat gpt-4o", "chat gpt-4o-mini"]
    (root,) = [span for _, span in spans if span.name == "chat gpt"]
    assert root.trace_id.hex() == access["trace_id"]
    assert root.span_id.hex() == access["span_id"]
    resource = spans[0][0]
    service = {a.key: a.value.string_value for a in resource.attributes}["service.name"]
    assert service == "failsoft-test"

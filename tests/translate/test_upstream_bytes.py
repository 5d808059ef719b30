"""Translation against an upstream whose bytes the test controls: keys echoed in errors are
scrubbed after translation too, and odd but valid upstream streams still translate."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from failsoft.config import parse_config
from failsoft.serve import GatewayThread
from tests.helpers import request
from tests.upstream import Script, ScriptedUpstream

CONFIG = """
providers:
  up: {{dialect: openai, base_url: "{url}/v1", api_key: sk-upstream-secret}}
  gem: {{dialect: gemini, base_url: "{url}", api_key: gm-upstream-secret}}
models:
  virtual: [up/real-model]
  gemini: [gem/gemini-real]
deadlines: {{first_token: 2, idle: 2, total: 10}}
"""
ANTHROPIC = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
ASK = {"max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream().running() as server:
        yield server


@pytest.fixture
def gw(upstream: ScriptedUpstream) -> Iterator[GatewayThread]:
    with GatewayThread(parse_config(CONFIG.format(url=upstream.url))).running() as gateway:
        yield gateway


def test_echoed_keys_are_scrubbed_from_translated_errors(
    upstream: ScriptedUpstream, gw: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    echo = b'{"error":{"message":"key sk-upstream-secret is not allowed here","type":"invalid_request_error"}}'
    upstream.script = Script(status=404, chunks=[echo])
    refused = request(gw.url + "/v1/messages", body={"model": "virtual", **ASK}, headers=ANTHROPIC)
    assert refused.status == 404
    assert refused.json()["error"]["type"] == "not_found_error"
    assert refused.json()["error"]["message"] == "key [redacted] is not allowed here"
    stream_error = (
        b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"error":{"message":"sk-upstream-secret leaked","type":"server_error"}}\n\n'
    )
    upstream.script = Script(content_type="text/event-stream", chunks=[stream_error])
    streamed = request(
        gw.url + "/v1/messages", body={"model": "virtual", "stream": True, **ASK}, headers=ANTHROPIC
    )
    assert b"event: error" in streamed.body
    assert b"sk-upstream-secret" not in streamed.body
    assert b"[redacted] leaked" in streamed.body
    gemini_echo = (
        b'{"error":{"code":400,"message":"gm-upstream-secret: bad","status":"INVALID_ARGUMENT"}}'
    )
    upstream.script = Script(status=400, chunks=[gemini_echo])
    refused = request(
        gw.url + "/v1/chat/completions",
        body={"model": "gemini", "messages": ASK["messages"]},
        headers={"content-type": "application/json"},
    )
    assert refused.status == 400
    assert refused.json()["error"]["message"] == "[redacted]: bad"
    assert upstream.requests[-1].headers["x-goog-api-key"] == "gm-upstream-secret"
    assert "key=" not in upstream.requests[-1].path
    assert "upstream-secret" not in caplog.text


def test_a_gemini_stream_with_odd_but_valid_framing_translates(
    upstream: ScriptedUpstream, gw: GatewayThread
) -> None:
    """CRLF framing, a chunk split across writes, an empty-text chunk, usage only at the end."""
    chunks = [
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hel',
        b'lo"}]},"index":0}]}\r\n\r\n',
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"index":0}]}\r\n\r\n',
        b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":" there"}]},'
        b'"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3,'
        b'"candidatesTokenCount":2,"totalTokenCount":5},"modelVersion":"gemini-real-001"}\r\n\r\n',
    ]
    upstream.script = Script(content_type="text/event-stream", chunks=chunks)
    resp = request(
        gw.url + "/v1/messages", body={"model": "gemini", "stream": True, **ASK}, headers=ANTHROPIC
    )
    assert resp.status == 200
    events = [
        f.split("\n")[0].removeprefix("event: ") for f in resp.body.decode().split("\n\n") if f
    ]
    assert events[0] == "message_start" and events[-1] == "message_stop"
    text = "".join(
        line.split('"text":"')[1].split('"')[0]
        for line in resp.body.decode().split("\n")
        if "text_delta" in line
    )
    assert text == "Hello there"
    assert '"output_tokens":2' in resp.body.decode()
    assert upstream.requests[-1].path == "/v1beta/models/gemini-real:streamGenerateContent"

"""Same-dialect requests travel as the caller's bytes (model renamed) and streams come back
as the upstream's bytes, event for event; the caller's key never travels upstream."""

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
  ant: {{dialect: anthropic, base_url: "{url}", api_key: sk-ant-upstream-secret}}
models:
  virtual: [up/real-model]
  claude: [ant/claude-real]
deadlines: {{first_token: 2, idle: 2, total: 10}}
"""


@pytest.fixture
def upstream() -> Iterator[ScriptedUpstream]:
    with ScriptedUpstream().running() as server:
        yield server


@pytest.fixture
def gw(upstream: ScriptedUpstream) -> Iterator[GatewayThread]:
    with GatewayThread(parse_config(CONFIG.format(url=upstream.url))).running() as gateway:
        yield gateway


OPENAI_STREAM = [
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"real-model-2026","x_vendor":{"a":1},'
    b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
    b": keep-alive comment\n\n",
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"real-model-2026",'
    b'"choices":[{"index":0,"delta":{"content":"Hi \\u00e9"},"finish_reason":null}]}\n\n',
    b'data: {"id":"c1","object":"chat.completion.chunk","model":"real-model-2026",'
    b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
]


def test_request_bytes_are_forwarded_with_only_the_model_changed(
    upstream: ScriptedUpstream, gw: GatewayThread
) -> None:
    upstream.script = Script(content_type="text/event-stream", chunks=OPENAI_STREAM)
    body = (
        b'{ "messages" : [{"role":"user","content":"caf\\u00e9 \\"model\\": \\"x\\""}],\n'
        b'  "model" :  "virtual", "temperature": 1.0E0, "vendor_ext": {"keep": [1, 2.50]},'
        b' "stream": true }'
    )
    resp = request(
        gw.url + "/v1/chat/completions",
        body=body,
        headers={"content-type": "application/json", "authorization": "Bearer sk-caller-secret"},
    )
    assert resp.status == 200
    sent = upstream.requests[-1]
    assert sent.path == "/v1/chat/completions"
    assert sent.body == body.replace(b'"virtual"', b'"real-model"')
    assert sent.headers["Authorization"] == "Bearer sk-upstream-secret"
    assert "sk-caller-secret" not in repr(sent.headers)
    # The stream comes back byte for byte (comments and unknown fields included).
    assert resp.body == b"".join(OPENAI_STREAM)
    assert resp.headers["content-type"].startswith("text/event-stream")
    assert resp.headers["x-failsoft-model"] == "real-model"


def test_non_streaming_answer_is_assembled_faithfully(
    upstream: ScriptedUpstream, gw: GatewayThread
) -> None:
    upstream.script = Script(content_type="text/event-stream", chunks=OPENAI_STREAM)
    resp = request(
        gw.url + "/v1/chat/completions",
        body={"model": "virtual", "messages": [{"role": "user", "content": "hi"}]},
    )
    assert resp.status == 200
    sent = upstream.requests[-1]
    # Non-streaming calls are streamed upstream (so deadlines can catch a silent upstream).
    assert b'"stream":true' in sent.body
    assert b'"include_usage":true' in sent.body
    answer = resp.json()
    assert answer["object"] == "chat.completion"
    assert answer["model"] == "real-model-2026"
    assert answer["x_vendor"] == {"a": 1}
    assert answer["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hi é", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]


ANTHROPIC_STREAM = [
    b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
    b'"role":"assistant","content":[],"model":"claude-real-2026","stop_reason":null,'
    b'"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    b'"content_block":{"type":"thinking","thinking":"","signature":""}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"thinking_delta","thinking":"Let me see."}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
    b'"delta":{"type":"signature_delta","signature":"c2ln"}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n',
    b'event: brand_new_event\ndata: {"type":"brand_new_event","x":1}\n\n',
    b'event: content_block_start\ndata: {"type":"content_block_start","index":1,'
    b'"content_block":{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{}}}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    b'"delta":{"type":"input_json_delta","partial_json":"{\\"loca"}}\n\n',
    b'event: ping\ndata: {"type": "ping"}\n\n',
    b'event: content_block_delta\ndata: {"type":"content_block_delta","index":1,'
    b'"delta":{"type":"input_json_delta","partial_json":"tion\\": \\"Paris\\"}"}}\n\n',
    b'event: content_block_stop\ndata: {"type":"content_block_stop","index":1}\n\n',
    b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use",'
    b'"stop_sequence":null},"usage":{"output_tokens":42}}\n\n',
    b'event: message_stop\ndata: {"type":"message_stop"}\n\n',
]


def test_anthropic_stream_relay_and_assembly(upstream: ScriptedUpstream, gw: GatewayThread) -> None:
    upstream.script = Script(content_type="text/event-stream", chunks=ANTHROPIC_STREAM)
    headers = {
        "content-type": "application/json",
        "x-api-key": "sk-caller-secret",
        "anthropic-version": "2026-10-21",
        "anthropic-beta": "interleaved-thinking-2025-05-14",
    }
    body = {"model": "claude", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    streamed = request(gw.url + "/v1/messages", body={**body, "stream": True}, headers=headers)
    assert streamed.status == 200
    assert streamed.body == b"".join(ANTHROPIC_STREAM)
    sent = upstream.requests[-1].headers
    assert sent["x-api-key"] == "sk-ant-upstream-secret"
    assert sent["anthropic-version"] == "2026-10-21"
    assert sent["anthropic-beta"] == "interleaved-thinking-2025-05-14"

    whole = request(gw.url + "/v1/messages", body=body, headers=headers)
    assert whole.status == 200
    message = whole.json()
    assert message["model"] == "claude-real-2026"
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 9, "output_tokens": 42}
    assert message["content"] == [
        {"type": "thinking", "thinking": "Let me see.", "signature": "c2ln"},
        {
            "type": "tool_use",
            "id": "toolu_1",
            "name": "get_weather",
            "input": {"location": "Paris"},
        },
    ]


def test_upstream_json_for_a_stream_is_a_failed_attempt(
    upstream: ScriptedUpstream, gw: GatewayThread
) -> None:
    upstream.script = Script(content_type="application/json", chunks=[b'{"id": "x"}'])
    resp = request(
        gw.url + "/v1/chat/completions",
        body={"model": "virtual", "messages": [], "stream": True},
    )
    assert resp.status == 503
    assert "expected an event stream" in resp.json()["error"]["message"]


def test_keys_never_leak(
    upstream: ScriptedUpstream, gw: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither the provider's key nor the caller's appears in answers, errors or logs."""
    caplog.set_level("DEBUG")
    upstream.script = Script(status=500, chunks=[b"oops"])
    resp2 = request(gw.url + "/v1/chat/completions", body={"model": "virtual", "messages": []})
    assert resp2.status == 503
    upstream.script = Script(
        status=401,
        chunks=[
            b'{"error":{"message":"Incorrect API key provided: sk-upstr*****cret","type":"invalid_request_error","code":"invalid_api_key"}}'
        ],
    )
    resp = request(
        gw.url + "/v1/chat/completions",
        body={"model": "virtual", "messages": []},
        headers={"content-type": "application/json", "authorization": "Bearer sk-caller-secret"},
    )
    # failsoft's key was refused, not the caller's: never a 401, and not the upstream's
    # message, which quotes part of the key.
    assert resp.status == 503
    assert "rejected failsoft's credentials" in resp.json()["error"]["message"]
    assert b"sk-upstr" not in resp.body
    for text in (
        repr(resp.headers),
        resp.body.decode(),
        repr(resp2.headers),
        resp2.body.decode(),
        caplog.text,
    ):
        assert "upstream-secret" not in text
        assert "caller-secret" not in text


def test_an_upstream_that_echoes_the_key_is_scrubbed(
    upstream: ScriptedUpstream, gw: GatewayThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    echo = b'{"error":{"message":"key sk-upstream-secret is not allowed here","type":"invalid_request_error"}}'
    upstream.script = Script(status=400, chunks=[echo])
    refused = request(gw.url + "/v1/chat/completions", body={"model": "virtual", "messages": []})
    assert refused.status == 400
    assert b"sk-upstream-secret" not in refused.body
    assert b"[redacted]" in refused.body
    upstream.script = Script(status=503, chunks=[echo])
    exhausted = request(gw.url + "/v1/chat/completions", body={"model": "virtual", "messages": []})
    assert exhausted.status == 503
    assert b"sk-upstream-secret" not in exhausted.body
    stream_error = (
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"error":{"message":"sk-upstream-secret leaked","type":"server_error"}}\n\n'
    )
    upstream.script = Script(content_type="text/event-stream", chunks=[stream_error])
    streamed = request(
        gw.url + "/v1/chat/completions", body={"model": "virtual", "messages": [], "stream": True}
    )
    assert b"sk-upstream-secret" not in streamed.body
    assert b"[redacted] leaked" in streamed.body
    assert "sk-upstream-secret" not in caplog.text


def test_a_broken_tool_call_stream_is_never_resumed(upstream: ScriptedUpstream) -> None:
    """Resume is on, but the answer has started a tool call: its effects cannot be replayed,
    so the caller gets the explicit error instead of a continuation."""
    config = CONFIG.format(url=upstream.url) + "resume: {enabled: true}\n"
    config = config.replace("virtual: [up/real-model]", "virtual: [up/real-model, up/backup]")
    upstream.script = Script(
        content_type="text/event-stream",
        chunks=[
            b'data: {"id":"c","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":'
            b'[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]}}]}\n\n',
            b'data: {"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
            b'"function":{"arguments":"{\\"a"}}]}}]}\n\n',
        ],
    )
    with GatewayThread(parse_config(config)).running() as gateway:
        resp = request(
            gateway.url + "/v1/chat/completions",
            body={"model": "virtual", "messages": [], "stream": True},
        )
    assert resp.status == 200
    assert b"stream_interrupted" in resp.body
    assert len(upstream.requests) == 1  # no continuation was asked for

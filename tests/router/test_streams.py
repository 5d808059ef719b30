"""After the commit point: a stream that breaks must make the SDK raise, never end quietly.

Both SDKs accept a stream that simply stops (no exception, truncated text), so failsoft has
to notice every kind of break itself and end the caller's stream with an in-band error
event, after relaying the content that did arrive.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from failsoft.sim import SimServer
from tests.helpers import chat, request

BREAKS = [
    ({"kind": "cut", "after": 3}, "closed in the middle"),
    ({"kind": "cut", "after": 3, "mode": "reset"}, "connection"),
    ({"kind": "stall", "after": 3}, "no event for 0.5s"),
    ({"kind": "malformed", "after": 3, "target": "content"}, "not valid JSON"),
    ({"kind": "no_terminal"}, "without its terminal event"),
]
BREAK_IDS = ["cut", "reset", "stall", "malformed", "no-terminal"]


@pytest.mark.parametrize(("fault", "said"), BREAKS, ids=BREAK_IDS)
def test_openai_stream_break_raises(
    oai: openai.OpenAI, sim: SimServer, fault: dict[str, Any], said: str
) -> None:
    sim.set_fault("gpt-4o", fault)
    received: list[str] = []
    stream = oai.chat.completions.create(
        model="gpt", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    with pytest.raises(openai.APIError) as info:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "failsoft: the stream from openai/gpt-4o broke" in info.value.message
    assert said in info.value.message
    assert info.value.code in ("stream_interrupted", "stream_timeout")
    # What arrived before the break was relayed, and nothing was failed over (too late).
    assert "".join(received).startswith("Simulated answer from")
    assert sim.attempts("gpt-4o-mini") == 0


@pytest.mark.parametrize(("fault", "said"), BREAKS, ids=BREAK_IDS)
def test_anthropic_stream_break_raises(
    ant: anthropic.Anthropic, sim: SimServer, fault: dict[str, Any], said: str
) -> None:
    sim.set_fault("claude-opus-4-7", fault)
    texts: list[str] = []
    with (
        pytest.raises(anthropic.APIStatusError) as info,
        ant.messages.stream(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        texts.extend(stream.text_stream)
    error = info.value
    assert error.status_code == 200  # an in-band error after the 200, as the SDK reports it
    assert isinstance(error.body, dict)
    assert error.body["type"] == "error"
    assert error.body["error"]["type"] in ("api_error", "timeout_error")
    assert "failsoft: the stream from anthropic/claude-opus-4-7 broke" in error.message
    assert said in error.message
    assert "".join(texts).startswith("Simulated answer")
    assert sim.attempts("claude-sonnet-4-5") == 0


def test_upstream_in_band_error_is_relayed_as_is(ant: anthropic.Anthropic, sim: SimServer) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "mid_stream_error", "after": 2})
    with pytest.raises(anthropic.APIStatusError) as info:
        with ant.messages.stream(
            model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream:
            for _ in stream:
                pass
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


def test_openai_in_band_error_is_relayed(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "mid_stream_error", "after": 2})
    with pytest.raises(openai.APIError):
        for _ in oai.chat.completions.create(
            model="gpt", messages=[{"role": "user", "content": "hi"}], stream=True
        ):
            pass


def test_clean_stream_keeps_the_upstream_framing(oai: openai.OpenAI, sim: SimServer) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert all(c.id == chunks[0].id for c in chunks)


def test_anthropic_stream_events_in_order(ant: anthropic.Anthropic, sim: SimServer) -> None:
    with ant.messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        kinds = [event.type for event in stream]
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"
    assert "content_block_start" in kinds
    assert kinds.index("content_block_stop") < kinds.index("message_delta")


# Small deviations are not breaks.


@pytest.mark.parametrize("usage", [False, True], ids=["no-usage", "usage"])
def test_an_openai_stream_without_done_is_complete(
    gateway: Any, sim: SimServer, usage: bool
) -> None:
    """Every finish_reason (and the usage chunk, when asked) then a clean end without
    `[DONE]`: the answer is complete, and the caller gets its `[DONE]`."""
    sim.set_fault("gpt-4o", {"kind": "no_done"})
    extra: dict[str, Any] = {"stream": True}
    if usage:
        extra["stream_options"] = {"include_usage": True}
    raw = request(gateway.url + "/v1/chat/completions", body=chat("gpt", **extra))
    assert raw.status == 200
    assert raw.body.endswith(b"data: [DONE]\n\n")
    assert b"stream_interrupted" not in raw.body
    assert raw.headers["x-failsoft-trail"] == "openai/gpt-4o:200"
    assert (b'"usage":{' in raw.body) is usage
    metrics = request(gateway.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_supplied_end_total{model="gpt-4o",provider="openai"} 1.0' in metrics


def test_an_anthropic_stream_without_message_stop_is_complete(
    ant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "no_done"})
    with ant.messages.stream(
        model="claude", max_tokens=64, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        kinds = [event.type for event in stream]
        message = stream.get_final_message()
    assert kinds[-1] == "message_stop"
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-opus-4-7"


@pytest.mark.parametrize("caller", ["openai", "anthropic"])
def test_a_broken_event_without_content_is_dropped_mid_stream(
    oai: openai.OpenAI, ant: anthropic.Anthropic, sim: SimServer, gateway: Any, caller: str
) -> None:
    """A broken ping (or empty chunk) after the commit point: dropped, logged, counted;
    the caller receives the complete answer in place."""
    model = "gpt-4o" if caller == "openai" else "claude-opus-4-7"
    sim.set_fault(model, {"kind": "malformed", "after": 3})
    hi: Any = [{"role": "user", "content": "hi"}]
    if caller == "openai":
        chunks = list(oai.chat.completions.create(model="gpt", messages=hi, stream=True))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    else:
        with ant.messages.stream(model="claude", max_tokens=64, messages=hi) as stream:
            text = stream.get_final_message().content[0].text  # type: ignore[union-attr]
    assert text.startswith(f"Simulated answer from {model}:")
    assert text.endswith(".")
    metrics = request(gateway.url + "/metrics", method="GET").body.decode()
    provider = caller
    assert f'failsoft_dropped_events_total{{model="{model}",provider="{provider}"}} 1.0' in metrics

"""Mid-stream resume, on by default: a plain-text answer that breaks after it started is
finished exactly, from a target that can continue verifiably, or ends with the in-band
error. Never spliced by guesswork.

Every model here gives the same answer (`TEXT`), so what a caller receives can be compared
word for word with what it should have received; the simulator's `prefill` and
`on_continue` settings pick how each target takes a request to continue.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from failsoft.router import resume
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.conftest import HI
from tests.helpers import chat, request

TEXT = (
    "Resilient gateways keep answering when a provider fails. They retry with jitter and "
    "respect Retry-After. They open breakers. And they never pass a truncated stream as "
    "complete, because a caller cannot tell."
)
MODELS = ("gpt-4o", "gpt-4o-mini", "claude-opus-4-7", "claude-sonnet-4-5")
RESET = {"answer": None, "on_continue": "continue", "prefill": "auto", "chunk_delay": 0.0}


@pytest.fixture
def same_answer(sim: SimServer) -> Iterator[Callable[..., None]]:
    """Every model gives TEXT; `model(name, **settings)` changes one for the test."""
    for name in MODELS:
        sim.set_model(name, answer=TEXT, on_continue="sentence")

    def model(name: str, **settings: Any) -> None:
        sim.set_model(name, **settings)

    yield model
    for name in MODELS:
        sim.set_model(name, **RESET)


def openai_stream(gw: GatewayThread, model: str = "gpt", **extra: Any) -> tuple[str, list[Any]]:
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        chunks = list(
            client.chat.completions.create(
                model=model,
                messages=HI,
                stream=True,
                stream_options={"include_usage": True},
                **extra,
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def anthropic_stream(gw: GatewayThread, **extra: Any) -> tuple[Any, list[str]]:
    with (
        anthropic.Anthropic(base_url=gw.url, api_key="c", max_retries=0) as client,
        client.messages.stream(model="claude", max_tokens=300, messages=HI, **extra) as stream,
    ):
        events = [event.type for event in stream]
        return stream.get_final_message(), events


def last_messages(sim: SimServer, model: str) -> list[list[dict[str, Any]]]:
    return [r.body["messages"] for r in sim.requests(model)]


# --- the ways a continuation can be joined --------------------------------------------


def test_a_prefill_target_continues_the_text_itself(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """Claude Opus 4.7 refuses prefills, so failsoft never sends it one; Sonnet 4.5 takes
    the text so far, right-stripped, as its final assistant message and continues it."""
    gw = chaos()
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 7, "mode": "reset"})
    message, events = anthropic_stream(gw)
    assert message.content[0].text == TEXT
    assert len(message.content) == 1
    assert message.stop_reason == "end_turn"
    assert message.model == "claude-opus-4-7"  # one answer: the broken stream's message
    assert events.count("message_start") == 1
    assert events[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    (continuation,) = last_messages(sim, "claude-sonnet-4-5")
    said = continuation[-1]
    assert said["role"] == "assistant"
    assert TEXT.startswith(said["content"])
    assert said["content"] == said["content"].rstrip()  # Anthropic refuses trailing spaces
    # Usage: the original prompt as input, what was delivered plus what was continued.
    (original,) = sim.requests("claude-opus-4-7")
    assert message.usage.input_tokens == 9  # the simulator's count for HI
    delivered = len(" ".join(TEXT.split(" ")[:7]))
    continued = len(TEXT.split(" ")) - 7
    assert message.usage.output_tokens == max(7, -(-delivered // 4)) + continued
    assert original.body["messages"] == HI


def test_a_refused_prefill_is_asked_again_with_a_user_turn(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    same_answer("claude-sonnet-4-5", prefill="reject")
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 5, "count": 2})
    for _ in range(2):
        message, _ = anthropic_stream(gw)
        assert message.content[0].text == TEXT
    shapes = [[m["role"] for m in ms][-2:] for ms in last_messages(sim, "claude-sonnet-4-5")]
    # The first continuation: a prefill (refused with a 400 the caller never saw), then a
    # user turn. The second request remembers the refusal and asks with a user turn at once.
    assert shapes == [["user", "assistant"], ["assistant", "user"], ["assistant", "user"]]
    metrics = request(gw.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_prefill_refused_total{model="claude-sonnet-4-5",provider="anthropic"} 1.0' in (
        metrics
    )


@pytest.mark.parametrize("mode", ["restart", "sentence"])
def test_a_user_turn_continuation_is_relayed_when_it_can_be_checked(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    mode: str,
) -> None:
    """OpenAI's API takes no prefill (it would start a fresh turn), so the backup is asked
    in a user turn; it restarts the answer, or repeats the last sentence first."""
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue=mode)
    after = 9 if mode == "restart" else 20  # 20: the last two sentences overlap, 23 chars
    sim.set_fault("gpt-4o", {"kind": "cut", "after": after})
    text, chunks = openai_stream(gw)
    assert text == TEXT
    assert {c.id for c in chunks} == {chunks[0].id}  # one stream, one id
    assert {c.model for c in chunks} == {"gpt-4o"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    (asked,) = last_messages(sim, "gpt-4o-mini")
    assert [m["role"] for m in asked] == ["user", "assistant", "user"]
    assert "repeating, word for word, the last two sentences" in asked[-1]["content"]
    # Usage: what was delivered before the cut (estimated: the pieces, or characters / 4),
    # plus every token the continuation generated (the repeated ones too: they are billed).
    words = TEXT.split(" ")
    partial = " ".join(words[:after])
    delivered = max(after, -(-len(partial) // 4))
    starts = [m.end() for m in re.finditer(r"[.!?] |\n", partial)]
    repeat_from = 0 if mode == "restart" or len(starts) < 2 else starts[-2]
    generated = len(TEXT[repeat_from:].split(" "))
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.completion_tokens == delivered + generated
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    metrics = request(gw.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_resumed_total{model="gpt-4o",provider="openai"} 1.0' in metrics
    assert 'failsoft_resume_prompt_tokens_total{model="gpt-4o-mini",provider="openai"}' in metrics


def test_a_continuation_without_overlap_is_refused_not_spliced(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """The backup continues right where the answer stopped, but without repeating anything,
    so nothing shows that it continues *this* answer: the caller gets the error."""
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue="continue")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    received: list[str] = []
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
        pytest.raises(openai.APIError, match="could not be resumed") as info,
    ):
        for chunk in client.chat.completions.create(model="gpt", messages=HI, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                received.append(chunk.choices[0].delta.content)
    assert "neither restarts nor overlaps" in info.value.message
    assert TEXT.startswith("".join(received))  # the prefix, and not a character more
    assert len("".join(received)) < len(TEXT)


def test_a_fresh_answer_is_refused(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    same_answer("claude-sonnet-4-5", prefill="reject", on_continue="fresh")
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 6})
    with pytest.raises(anthropic.APIStatusError, match="could not be resumed"):
        anthropic_stream(gw)


def test_a_target_that_ignores_the_prefill_and_restarts_is_joined_as_a_restart(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """Like OpenAI's API: it takes the final assistant message, then answers afresh."""
    gw = chaos()
    same_answer("claude-sonnet-4-5", prefill="ignore")
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 8})
    message, _ = anthropic_stream(gw)
    assert message.content[0].text == TEXT


# --- the ways a stream breaks ---------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "cut", "after": 5},
        {"kind": "cut", "after": 5, "mode": "reset"},
        {"kind": "stall", "after": 5},  # forever: the idle deadline (0.5 s here) ends it
        {"kind": "stall", "after": 5, "delay": 0.2, "then": "close"},  # then a close
        {"kind": "mid_stream_error", "after": 5},
        {"kind": "malformed", "after": 5, "target": "content"},
        {"kind": "no_terminal"},
    ],
    ids=["cut", "reset", "stall-forever", "stall-then-close", "error-event", "broken-content",
         "no-terminal"],
)  # fmt: skip
@pytest.mark.parametrize("caller", ["openai", "anthropic"])
def test_every_kind_of_break_is_finished(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    fault: dict[str, Any],
    caller: str,
) -> None:
    gw = chaos()
    if caller == "openai":
        sim.set_fault("gpt-4o", fault)
        text, _ = openai_stream(gw)
        assert text == TEXT
        assert sim.attempts("gpt-4o-mini") == 1
    else:
        sim.set_fault("claude-opus-4-7", fault)
        message, events = anthropic_stream(gw)
        assert message.content[0].text == TEXT
        assert events[-1] == "message_stop"
        assert sim.attempts("claude-sonnet-4-5") == 1


def test_a_broken_event_without_content_is_dropped_not_resumed(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    sim.set_fault("claude-opus-4-7", {"kind": "malformed", "after": 5})  # a broken ping
    message, _ = anthropic_stream(gw)
    assert message.content[0].text == TEXT
    assert sim.attempts("claude-sonnet-4-5") == 0


def test_the_continuation_asks_for_no_more_than_the_callers_max_tokens(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 5})
    text, _ = openai_stream(gw, max_tokens=200)
    assert text == TEXT
    (continuation,) = sim.requests("gpt-4o-mini")
    delivered = "".join(TEXT.split(" ")[:5])  # 5 pieces, about 4 characters a token
    assert continuation.body["max_tokens"] == 200 - max(
        5, -(-len(" ".join(TEXT.split(" ")[:5])) // 4)
    )
    assert len(delivered) > 0


def test_a_continuation_that_breaks_is_continued_again(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos({"models": {"claude": ["anthropic/claude-opus-4-7", "anthropic/claude-sonnet-4-5",
                                      "anthropic/claude-haiku-4-5"]}})  # fmt: skip
    same_answer("claude-haiku-4-5", answer=TEXT, on_continue="sentence")
    try:
        sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 4})
        sim.set_fault("claude-sonnet-4-5", {"kind": "cut", "after": 6})
        message, _ = anthropic_stream(gw)
        assert message.content[0].text == TEXT
        assert sim.attempts("claude-haiku-4-5") == 1
    finally:
        sim.set_model("claude-haiku-4-5", **RESET)


def test_without_resume_the_break_is_an_error(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos({"resume": {"enabled": False}})
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 5})
    with pytest.raises(openai.APIError, match="broke after"):
        openai_stream(gw)
    assert sim.attempts("gpt-4o-mini") == 0


def test_when_every_continuation_breaks_the_caller_is_told(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    sim.set_fault("gpt-4o-mini", {"kind": "cut", "after": 3})
    with pytest.raises(openai.APIError, match="could not be resumed"):
        openai_stream(gw)


def test_a_lone_target_continues_its_own_answer(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """With nobody else to ask, the target that broke is asked for the rest (once cut,
    the connection is gone, but the model is not)."""
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3, "count": 1})
    text, _ = openai_stream(gw, model="gpt-solo")
    assert text == TEXT
    assert sim.attempts("gpt-4o") == 2


def test_tool_calls_are_never_resumed(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 1})
    tools: Any = [{"type": "function", "function": {"name": "now", "parameters": {
        "type": "object", "properties": {"tz": {"type": "string"}}}}}]  # fmt: skip
    with pytest.raises(openai.APIError, match=r"could not be resumed|broke after"):
        openai_stream(gw, tools=tools)
    assert sim.attempts("gpt-4o-mini") == 0


def test_a_long_answer_is_not_kept_twice(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos({"resume": {"max_chars": 40}})
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 12})
    with pytest.raises(openai.APIError, match="broke after"):
        openai_stream(gw)
    assert sim.attempts("gpt-4o-mini") == 0


def test_the_caller_is_kept_alive_while_a_restart_is_checked(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A restart is held back until it covers what was sent; meanwhile the caller's
    connection gets SSE comments (OpenAI) or pings (Anthropic)."""
    monkeypatch.setattr(resume, "KEEPALIVE", 0.05)
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue="restart", chunk_delay=0.02)
    same_answer("claude-sonnet-4-5", prefill="ignore", on_continue="restart", chunk_delay=0.02)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 15})
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 15})
    raw = request(gw.url + "/v1/chat/completions", body=chat("gpt", stream=True))
    body = raw.body.decode()
    assert body.count(": failsoft is fetching the rest of this answer") >= 2
    assert body.endswith("data: [DONE]\n\n")
    body = request(
        gw.url + "/v1/messages",
        body={"model": "claude", "max_tokens": 300, "messages": HI, "stream": True},
        headers={"anthropic-version": "2023-06-01"},
    ).body.decode()
    cut = body.index("failsoft: the stream broke")
    assert body.count("event: ping", cut) >= 2
    assert body.endswith('event: message_stop\ndata: {"type":"message_stop"}\n\n')

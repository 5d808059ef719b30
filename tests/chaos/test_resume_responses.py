"""Mid-stream resume for Responses callers (`POST /v1/responses`): a plain-text answer that
breaks after it started is finished in the caller's same stream (one response id, the same
message item, `sequence_number` going on by one), or ends with `error` and
`response.failed`, numbered like everything before them.

Every model gives the same answer (`TEXT`, as in `test_resume.py`), so what the caller
receives can be compared word for word with the whole answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.chaos.test_resume import MODELS, RESET, TEXT
from tests.conftest import PROVIDER_KEY
from tests.helpers import request
from tests.translate.test_responses_sdk import check_grammar

QUESTION = "Tell me about resilient gateways."
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture
def same_answer(sim: SimServer) -> Iterator[Callable[..., None]]:
    for name in MODELS:
        sim.set_model(name, answer=TEXT, on_continue="sentence")

    def model(name: str, **settings: Any) -> None:
        sim.set_model(name, **settings)

    yield model
    for name in MODELS:
        sim.set_model(name, **RESET)


def raw(gw: GatewayThread, model: str = "gpt", **extra: Any) -> list[dict[str, Any]]:
    """The events of a streamed answer, as sent (comments skipped)."""
    body = {"model": model, "input": QUESTION, "stream": True, **extra}
    response = request(gw.url + "/v1/responses", body=body)
    assert response.status == 200, response.body
    events = []
    for frame in response.body.decode().split("\n\n"):
        fields = [line for line in frame.split("\n") if line and not line.startswith(":")]
        if fields:
            lines = dict(line.split(": ", 1) for line in fields)
            data = json.loads(lines["data"])
            assert lines["event"] == data["type"]
            events.append(data)
    return events


def text_of(events: list[dict[str, Any]]) -> str:
    return "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")


def check_one_message(events: list[dict[str, Any]]) -> None:
    """The resumed text went on in the message item the caller already had."""
    added = [e for e in events if e["type"] == "response.output_item.added"]
    assert len(added) == 1
    item = added[0]["item"]["id"]
    deltas = [e for e in events if e["type"] == "response.output_text.delta"]
    assert {(e["item_id"], e["output_index"], e["content_index"]) for e in deltas} == {(item, 0, 0)}
    (done,) = [e for e in events if e["type"] == "response.output_text.done"]
    assert done["text"] == TEXT
    final = events[-1]["response"]
    assert final["status"] == "completed"
    assert [i["id"] for i in final["output"]] == [item]
    assert final["output"][0]["content"][0]["text"] == TEXT


@pytest.mark.parametrize("mode", ["restart", "sentence"])
def test_a_cut_stream_is_resumed_in_the_same_numbered_stream(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    mode: str,
) -> None:
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue=mode)
    after = 9 if mode == "restart" else 20
    sim.set_fault("gpt-4o", {"kind": "cut", "after": after})
    events = raw(gw)
    check_grammar(events)  # created ... completed, one response id, numbered 0, 1, 2, ...
    assert text_of(events) == TEXT
    check_one_message(events)
    assert events[-1]["response"]["model"] == "gpt-4o"  # the broken stream's answer
    usage = events[-1]["response"]["usage"]
    assert usage["output_tokens"] > len(TEXT.split(" ")) - after
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    (asked,) = [r.body for r in sim.requests("gpt-4o-mini")]
    assert [m["role"] for m in asked["messages"]] == ["user", "assistant", "user"]
    assert TEXT.startswith(asked["messages"][1]["content"])
    metrics = request(gw.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_resumed_total{model="gpt-4o",provider="openai"} 1.0' in metrics


def test_a_prefill_target_continues_a_responses_answer(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """Claude Sonnet 4.5 takes the text so far as a final assistant message (a prefill)."""
    gw = chaos()
    sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 7, "mode": "reset"})
    events = raw(gw, "claude", max_output_tokens=300)
    check_grammar(events)
    assert text_of(events) == TEXT
    check_one_message(events)
    (asked,) = [r.body for r in sim.requests("claude-sonnet-4-5")]
    said = asked["messages"][-1]
    assert said["role"] == "assistant"
    assert TEXT.startswith(said["content"] if isinstance(said["content"], str) else "")
    assert asked["max_tokens"] < 300  # what was delivered is taken off the caller's limit


@pytest.mark.parametrize("how", ["events", "helper"])
def test_the_sdk_reads_a_resumed_stream_as_one_answer(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    how: str,
) -> None:
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    same_answer("gpt-4o-mini", on_continue="restart")
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        if how == "events":
            events = list(client.responses.create(model="gpt", input=QUESTION, stream=True))
            dumped = [e.model_dump() for e in events]
            check_grammar(dumped)
            final = events[-1].response  # type: ignore[union-attr]
        else:
            with client.responses.stream(model="gpt", input=QUESTION) as stream:
                deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
                final = stream.get_final_response()
            assert "".join(deltas) == TEXT
    assert final.output_text == TEXT
    assert final.status == "completed"


def test_an_upstream_error_event_mid_stream_is_resumed_too(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """The upstream's in-band error is not relayed when the answer is resumed, and the
    numbering has no gap where it would have been."""
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue="restart")
    sim.set_fault("gpt-4o", {"kind": "mid_stream_error", "after": 5})
    events = raw(gw)
    check_grammar(events)
    assert text_of(events) == TEXT
    assert "error" not in [e["type"] for e in events]


def test_an_unverifiable_continuation_ends_with_numbered_error_events(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue="continue")
    same_answer("gpt-4o", on_continue="continue")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    events = raw(gw)
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "could not be resumed" in events[-2]["message"]
    assert TEXT.startswith(text_of(events)) and text_of(events) != TEXT
    assert events[-1]["response"]["status"] == "failed"


def test_the_sdk_helper_sees_the_error_and_the_failed_response(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """The openai SDK does not raise on a Responses `error` event: it yields it, then
    `response.failed` (same response id, or it would raise), and has no final response."""
    gw = chaos({"resume": {"enabled": False}})
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    with (
        openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client,
        client.responses.stream(model="gpt", input=QUESTION) as stream,
    ):
        events = list(stream)
        with pytest.raises(RuntimeError):
            stream.get_final_response()
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
    error = events[-2]
    assert error.code == "stream_interrupted" and "broke after" in error.message  # type: ignore[union-attr]
    received = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert TEXT.startswith(received) and received != TEXT
    assert events[-1].response.status == "failed"  # type: ignore[union-attr]
    assert sim.attempts("gpt-4o-mini") == 0


def test_without_resume_the_break_is_numbered_error_then_failed(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos({"resume": {"enabled": False}})
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    events = raw(gw)
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "could not be resumed" not in events[-2]["message"]


def test_an_answer_with_a_tool_call_is_not_resumed(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """As on the other surfaces: only plain text is continued (a call's arguments cannot
    be checked for a join)."""
    gw = chaos()
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 2})
    events = raw(gw, tools=[WEATHER], input="What is the weather in Paris? Use the tool.")
    kinds = [e["type"] for e in events]
    if "error" not in kinds:
        pytest.skip("the simulator answered before the cut")
    assert kinds[-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert sim.attempts("gpt-4o-mini") == 0


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "cut", "after": 5, "mode": "reset"},
        {"kind": "stall", "after": 5},  # forever: the idle deadline (0.5 s here) ends it
        {"kind": "malformed", "after": 5, "target": "content"},
        {"kind": "no_terminal"},
    ],
    ids=["reset", "stall-forever", "broken-content", "no-terminal"],
)
@pytest.mark.parametrize("model", ["gpt", "claude"])
def test_every_kind_of_break_is_finished(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    fault: dict[str, Any],
    model: str,
) -> None:
    gw = chaos()
    primary, backup = ("gpt-4o", "gpt-4o-mini") if model == "gpt" else MODELS[2:]
    sim.set_fault(primary, fault)
    events = raw(gw, model)
    check_grammar(events)
    assert text_of(events) == TEXT
    check_one_message(events)
    assert sim.attempts(backup) == 1


def test_a_continuation_that_breaks_is_continued_again(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """The second continuation goes on from everything the caller has, the first
    continuation's text included, and the numbering still has no gap."""
    gw = chaos({"models": {"claude": ["anthropic/claude-opus-4-7", "anthropic/claude-sonnet-4-5",
                                      "anthropic/claude-haiku-4-5"]}})  # fmt: skip
    same_answer("claude-haiku-4-5", answer=TEXT, on_continue="sentence")
    try:
        sim.set_fault("claude-opus-4-7", {"kind": "cut", "after": 4})
        sim.set_fault("claude-sonnet-4-5", {"kind": "cut", "after": 6})
        events = raw(gw, "claude")
        check_grammar(events)
        assert text_of(events) == TEXT
        check_one_message(events)
        assert sim.attempts("claude-haiku-4-5") == 1
    finally:
        sim.set_model("claude-haiku-4-5", **RESET)


def test_when_every_continuation_breaks_the_caller_is_told_in_order(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    gw = chaos()
    same_answer("gpt-4o-mini", on_continue="restart")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    sim.set_fault("gpt-4o-mini", {"kind": "cut", "after": 6})  # after 3 new words relayed
    events = raw(gw)
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "could not be resumed" in events[-2]["message"]
    assert TEXT.startswith(text_of(events)) and len(text_of(events).split(" ")) > 3
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1


def test_a_resumed_answer_is_kept_whole_and_continued(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """With `responses.store` on, the response kept under the caller's id is the whole
    resumed answer, and the next turn is sent with it."""
    gw = chaos({"responses": {"store": True}})
    same_answer("gpt-4o-mini", on_continue="restart")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    events = raw(gw)
    check_grammar(events)
    ident = events[-1]["response"]["id"]
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        kept = client.responses.retrieve(ident)
        assert kept.output_text == TEXT
        client.responses.create(model="gpt", input="And then?", previous_response_id=ident)
    said = [m for m in sim.requests("gpt-4o")[-1].body["messages"] if m["role"] == "assistant"]
    assert said[-1]["content"] == TEXT


RESPONSES_TARGET: dict[str, Any] = {
    "providers": {
        "openai-responses": {
            "dialect": "openai",
            "api": "responses",
            "base_url": "{sim}/v1",
            "api_key": PROVIDER_KEY,
        }
    },
    "models": {
        "native": ["openai-responses/gpt-4o", "openai/gpt-4o-mini"],
        "native-both": ["openai-responses/gpt-4o", "openai-responses/gpt-4o-mini"],
        "native-claude": ["openai-responses/gpt-4o", "anthropic/claude-sonnet-4-5"],
        "native-solo": ["openai-responses/gpt-4o"],
    },
}


def relayed(
    chaos: Callable[..., GatewayThread], sim: SimServer, overrides: dict[str, Any] | None = None
) -> GatewayThread:
    """A gateway whose `native*` models start on a Responses target (relayed as is)."""
    config = json.loads(json.dumps(RESPONSES_TARGET).replace("{sim}", sim.url))
    return chaos({**config, **(overrides or {})})


def check_upstreams_message(events: list[dict[str, Any]]) -> None:
    """The resumed answer is the upstream's own: its response id, item id and settings."""
    created = events[0]["response"]
    final = events[-1]["response"]
    assert final["id"] == created["id"]
    assert final["model"] == "gpt-4o"
    assert final["service_tier"] == created["service_tier"]  # the upstream's fields, kept
    assert final["instructions"] == "Be brief."
    (added,) = [e for e in events if e["type"] == "response.output_item.added"]
    assert final["output"][0]["id"] == added["item"]["id"]
    assert final["output"][0]["status"] == "completed"
    usage = final["usage"]
    assert usage["output_tokens"] > 0
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


@pytest.mark.parametrize("after", [1, 4, 9, 20])
@pytest.mark.parametrize(
    ("model", "backup", "path"),
    [
        ("native", "gpt-4o-mini", "/v1/chat/completions"),
        ("native-both", "gpt-4o-mini", "/v1/responses"),
        ("native-claude", "claude-sonnet-4-5", "/v1/messages"),
    ],
    ids=["to-chat", "to-responses", "to-anthropic"],
)
def test_a_relayed_responses_stream_is_resumed_in_the_upstreams_numbering(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    after: int,
    model: str,
    backup: str,
    path: str,
) -> None:
    """A Responses caller's stream relayed as is from a Responses target, cut after `after`
    text deltas: failsoft's encoder takes over where the caller is, and the continuation
    (from a target of the same dialect or another) goes on in the upstream's message item,
    numbered on from its last event."""
    gw = relayed(chaos, sim)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": after})
    events = raw(gw, model, instructions="Be brief.")
    check_grammar(events)
    assert text_of(events) == TEXT
    check_one_message(events)
    check_upstreams_message(events)
    (asked,) = sim.requests(backup)
    assert asked.path == path
    metrics = request(gw.url + "/metrics", method="GET").body.decode()
    assert 'failsoft_resumed_total{model="gpt-4o",provider="openai-responses"} 1.0' in metrics


@pytest.mark.parametrize(
    "fault",
    [
        {"kind": "stall", "after": 5},
        {"kind": "malformed", "after": 5, "target": "content"},
        {"kind": "mid_stream_error", "after": 5},
        {"kind": "no_terminal"},
    ],
    ids=["stall-forever", "broken-content", "upstream-error", "no-terminal"],
)
def test_every_kind_of_break_of_a_relayed_stream_is_finished(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    fault: dict[str, Any],
) -> None:
    """Including a break after the message item was done (`no_terminal`: only
    `response.completed` is missing), and an upstream `error` event, which the caller does
    not see when the answer is finished."""
    gw = relayed(chaos, sim)
    same_answer("gpt-4o-mini", on_continue="restart")
    sim.set_fault("gpt-4o", fault)
    events = raw(gw, "native", instructions="Be brief.")
    check_grammar(events)
    assert text_of(events) == TEXT
    check_one_message(events)
    check_upstreams_message(events)
    assert "error" not in [e["type"] for e in events]


@pytest.mark.parametrize("how", ["events", "helper"])
def test_the_sdk_reads_a_resumed_relayed_stream_as_one_answer(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None], how: str
) -> None:
    gw = relayed(chaos, sim)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        if how == "events":
            events = list(client.responses.create(model="native", input=QUESTION, stream=True))
            check_grammar([e.model_dump() for e in events])
            final = events[-1].response  # type: ignore[union-attr]
        else:
            with client.responses.stream(model="native", input=QUESTION) as stream:
                deltas = [e.delta for e in stream if e.type == "response.output_text.delta"]
                final = stream.get_final_response()
            assert "".join(deltas) == TEXT
    assert final.output_text == TEXT
    assert final.status == "completed"
    assert final.model == "gpt-4o"
    assert len(final.output) == 1


def test_a_relayed_stream_is_continued_again_when_its_continuation_breaks(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """The broken target itself is asked last: here, after the backup's continuation
    broke too (the cut fault answers only its first request)."""
    gw = relayed(chaos, sim)
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 4, "count": 1})
    sim.set_fault("gpt-4o-mini", {"kind": "cut", "after": 6})
    events = raw(gw, "native-both", instructions="Be brief.")
    check_grammar(events)
    assert text_of(events) == TEXT
    check_one_message(events)
    check_upstreams_message(events)
    assert sim.attempts("gpt-4o") == 2


def test_an_unverifiable_continuation_of_a_relayed_stream_ends_numbered(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """Whatever the continuation relayed before it failed, failsoft's end numbers on."""
    gw = relayed(chaos, sim)
    same_answer("gpt-4o-mini", on_continue="continue")
    same_answer("gpt-4o", on_continue="continue")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    events = raw(gw, "native")
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "could not be resumed" in events[-2]["message"]
    assert TEXT.startswith(text_of(events)) and text_of(events) != TEXT
    assert len({e["response"]["id"] for e in events if "response" in e}) == 1


def test_when_the_continuation_of_a_relayed_stream_breaks_the_end_numbers_on(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """Text relayed from the continuation moved the count on; so does the error end."""
    gw = relayed(chaos, sim)
    same_answer("gpt-4o-mini", on_continue="restart")
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 3})
    sim.set_fault("gpt-4o-mini", {"kind": "cut", "after": 6})  # after 3 new words relayed
    events = raw(gw, "native")
    assert [e["type"] for e in events][-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert TEXT.startswith(text_of(events)) and len(text_of(events).split(" ")) > 3


def test_a_relayed_upstream_error_event_is_numbered_on_when_not_resumed(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """The upstream's own error event (not failsoft's) ends the stream when no target can
    continue: numbered after the text relayed from a continuation that broke."""
    gw = relayed(chaos, sim)
    same_answer("gpt-4o-mini", on_continue="restart")
    sim.set_fault("gpt-4o", {"kind": "mid_stream_error", "after": 3})
    sim.set_fault("gpt-4o-mini", {"kind": "cut", "after": 6})
    events = raw(gw, "native")
    kinds = [e["type"] for e in events]
    assert kinds[-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert len(text_of(events).split(" ")) > 3  # the continuation's words came first
    assert events[-2]["code"] == "server_error"
    assert "broke after" not in events[-2]["message"]  # the upstream's message, as it came


@pytest.mark.parametrize(
    ("preface", "after"), [(None, 2), ("Let me look that up.", 9)], ids=["call", "text-then-call"]
)
def test_a_relayed_stream_with_a_function_call_is_not_resumed(
    chaos: Callable[..., GatewayThread],
    sim: SimServer,
    same_answer: Callable[..., None],
    preface: str | None,
    after: int,
) -> None:
    """As on the other surfaces, only plain text is continued: a break inside a function
    call (after some text, or none) ends numbered, and no target is asked."""
    gw = relayed(chaos, sim)
    sim.set_model("gpt-4o", tool_preface=preface)
    try:
        sim.set_fault("gpt-4o", {"kind": "cut", "after": after})
        events = raw(gw, "native", tools=[WEATHER], input="What is the weather in Paris?")
    finally:
        sim.set_model("gpt-4o", tool_preface=None)
    kinds = [e["type"] for e in events]
    added = [e["item"]["type"] for e in events if e["type"] == "response.output_item.added"]
    assert added[-1] == "function_call"
    assert kinds[-2:] == ["error", "response.failed"]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert "could not be resumed" not in events[-2]["message"]
    assert sim.attempts("gpt-4o-mini") == 0


def test_a_relayed_responses_stream_that_breaks_ends_numbered_without_resume(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """Resume off: the relayed stream ends with `error` and `response.failed`, numbered on
    from the upstream's own events."""
    gw = relayed(chaos, sim, {"resume": {"enabled": False}})
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    events = raw(gw, "native")
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events[-2:]] == ["error", "response.failed"]
    assert TEXT.startswith(text_of(events)) and text_of(events) != TEXT
    assert sim.attempts("gpt-4o-mini") == 0


def test_a_resumed_relayed_answer_is_kept_whole(
    chaos: Callable[..., GatewayThread], sim: SimServer, same_answer: Callable[..., None]
) -> None:
    """With `responses.store` on, the response kept under the upstream's id is the whole
    resumed answer."""
    gw = relayed(chaos, sim, {"responses": {"store": True}})
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 9})
    events = raw(gw, "native")
    check_grammar(events)
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="c", max_retries=0) as client:
        kept = client.responses.retrieve(events[-1]["response"]["id"])
    assert kept.output_text == TEXT

"""A request's meter: reported usage taken as is; what was never reported, estimated."""

from __future__ import annotations

from failsoft.usage.meter import Meter, Usage


def test_reported_usage_is_not_estimated() -> None:
    meter = Meter("team", prompt_chars=400)
    attempt = meter.begin("openai", "gpt-4o", "openai")
    attempt.event({"choices": [{"delta": {"content": "hello"}}]})
    attempt.event({"choices": [], "usage": {"prompt_tokens": 30, "completion_tokens": 2}})
    assert meter.settle() == [Usage("openai", "gpt-4o", 30, 2, 0, estimated=False)]
    assert meter.tokens() == 32


def test_a_cut_stream_is_estimated_from_the_request_and_the_text_so_far() -> None:
    meter = Meter("team", prompt_chars=400)
    attempt = meter.begin("openai", "gpt-4o", "openai")
    for _ in range(3):
        attempt.event({"choices": [{"delta": {"content": "abcdefgh"}}]})
    (usage,) = meter.settle()
    assert usage.estimated
    assert usage.input == 100  # 400 characters, about 4 a token
    assert usage.output == 6  # 24 characters; at least one token a delta


def test_anthropic_input_reported_output_estimated() -> None:
    meter = Meter("team", prompt_chars=40)
    attempt = meter.begin("anthropic", "claude", "anthropic")
    attempt.event({"type": "message_start", "message": {"usage": {"input_tokens": 77}}})
    attempt.event({"type": "content_block_delta", "delta": {"text": "x" * 40}})
    (usage,) = meter.settle()
    assert (usage.input, usage.output, usage.estimated) == (77, 10, True)


def test_each_billed_attempt_counts_and_none_is_none() -> None:
    meter = Meter("team", prompt_chars=8)
    assert meter.tokens() is None
    meter.begin("a", "m1", "openai").answer({"usage": {"prompt_tokens": 5, "completion_tokens": 1}})
    meter.begin("b", "m2", "anthropic")  # a hedge that lost before any event
    first, second = meter.settle()
    assert not first.estimated
    assert second == Usage("b", "m2", 2, 0, 0, estimated=True)


def test_request_tokens_reads_the_scopes_meter() -> None:
    from failsoft.usage.meter import METER, request_tokens

    assert request_tokens({}) is None
    meter = Meter("team", prompt_chars=8)
    meter.begin("a", "m", "openai").answer({"usage": {"prompt_tokens": 5, "completion_tokens": 3}})
    assert request_tokens({METER: meter}) == 8

"""Usage and text as each dialect reports them, normalised (input includes cached reads)."""

from __future__ import annotations

from failsoft.usage.extract import (
    Counts,
    answer_counts,
    event_counts,
    event_text,
    usage_chunk,
)


def test_openai_usage_with_cached_tokens() -> None:
    usage = {
        "prompt_tokens": 100,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 60},
    }
    assert answer_counts("openai", {"usage": usage}) == Counts(100, 7, 60)
    chunk = {"choices": [], "usage": usage}
    assert event_counts("openai", chunk) == Counts(100, 7, 60)
    assert usage_chunk(chunk)
    assert not usage_chunk({"choices": [{"delta": {"content": "hi"}}], "usage": None})
    assert event_counts("openai", {"choices": [{"delta": {"content": "hi"}}]}) is None


def test_anthropic_adds_cache_reads_and_writes_back_to_input() -> None:
    start = {
        "type": "message_start",
        "message": {"usage": {"input_tokens": 10, "cache_read_input_tokens": 80,
                              "cache_creation_input_tokens": 5, "output_tokens": 1}},
    }  # fmt: skip
    assert event_counts("anthropic", start) == Counts(95, 1, 80)
    delta = {"type": "message_delta", "usage": {"output_tokens": 42}}
    assert event_counts("anthropic", delta) == Counts(None, 42, 0)
    assert event_counts("anthropic", {"type": "ping"}) is None


def test_gemini_counts_thoughts_as_output() -> None:
    chunk = {
        "candidates": [{"content": {"parts": [{"text": "hello"}]}}],
        "usageMetadata": {"promptTokenCount": 12, "candidatesTokenCount": 3,
                          "thoughtsTokenCount": 4, "cachedContentTokenCount": 2},
    }  # fmt: skip
    assert event_counts("gemini", chunk) == Counts(12, 7, 2)
    assert event_text("gemini", chunk) == 5


def test_responses_usage_on_completion_only() -> None:
    done = {
        "type": "response.completed",
        "response": {"usage": {"input_tokens": 9, "output_tokens": 2}},
    }
    assert event_counts("responses", done) == Counts(9, 2, 0)
    assert event_counts("responses", {"type": "response.output_text.delta", "delta": "abc"}) is None
    assert event_text("responses", {"type": "response.output_text.delta", "delta": "abc"}) == 3


def test_text_of_deltas_for_estimates() -> None:
    chunk = {
        "choices": [
            {"delta": {"content": "abcd", "tool_calls": [{"function": {"arguments": "{}"}}]}}
        ]
    }
    assert event_text("openai", chunk) == 6
    assert event_text("anthropic", {"type": "content_block_delta", "delta": {"text": "xyz"}}) == 3
    assert event_text("openai", None) == 0
    assert answer_counts("openai", "not a dict") is None

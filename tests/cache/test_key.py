"""The cache key hits on requests that must get the same answer and only on those."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from failsoft.cache.key import IGNORED_FIELDS, cache_key, canonical, fingerprint


def openai_request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "gpt",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is a cache?"},
        ],
        "temperature": 0.2,
        "max_tokens": 100,
        **extra,
    }


def anthropic_request(**extra: Any) -> dict[str, Any]:
    return {
        "model": "claude",
        "max_tokens": 256,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "text",
                        "text": "What is a cache?",
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    }
                ],
            }
        ],
        **extra,
    }


def key(
    payload: dict[str, Any], *, dialect: str = "openai", plan: str = "gpt", ns: str = ""
) -> str:
    return cache_key(dialect, plan, payload, ns)


def test_key_is_hex_sha256_and_deterministic() -> None:
    found = key(openai_request())
    assert re.fullmatch(r"[0-9a-f]{64}", found)
    assert found == key(openai_request())


def test_key_order_and_spacing_do_not_matter() -> None:
    a = openai_request()
    b = dict(reversed(list(a.items())))
    b["messages"] = [dict(reversed(list(m.items()))) for m in a["messages"]]
    spaced = json.loads(json.dumps(a, indent=4, separators=(" ,  ", " :  ")))
    assert key(a) == key(b) == key(spaced)


def test_integral_floats_equal_integers_everywhere() -> None:
    assert key(openai_request(temperature=1)) == key(openai_request(temperature=1.0))
    assert key(openai_request(max_tokens=100.0)) == key(openai_request())
    assert key(openai_request(logit_bias={"50256": -100})) == key(
        openai_request(logit_bias={"50256": -100.0})
    )
    assert key(openai_request(seed=0)) == key(openai_request(seed=-0.0))
    assert key(openai_request(temperature=1)) != key(openai_request(temperature=1.5))
    # true is not 1: a boolean and a number are different requests
    assert key(openai_request(n=1)) != key(openai_request(n=True))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("stream", True),
        ("stream_options", {"include_usage": True}),
        ("user", "alice"),
        ("safety_identifier", "alice-hash"),
        ("metadata", {"trace": "abc"}),
        ("store", True),
        ("service_tier", "priority"),
        ("prompt_cache_key", "k1"),
        ("model", "gpt-4o-mini"),
    ],
)
def test_ignored_fields_are_ignored(field: str, value: Any) -> None:
    assert field in IGNORED_FIELDS
    assert key(openai_request(**{field: value})) == key(openai_request())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("temperature", 0.7),
        ("top_p", 0.9),
        ("top_k", 40),
        ("seed", 7),
        ("stop", ["\n"]),
        ("stop_sequences", ["END"]),
        ("max_tokens", 101),
        ("max_completion_tokens", 50),
        ("n", 2),
        ("presence_penalty", 0.5),
        ("frequency_penalty", 0.5),
        ("logit_bias", {"50256": -100}),
        ("reasoning_effort", "high"),
        ("thinking", {"type": "enabled", "budget_tokens": 1024}),
        ("response_format", {"type": "json_object"}),
        ("output_config", {"effort": "low"}),
        ("tool_choice", "required"),
        ("parallel_tool_calls", False),
        ("logprobs", True),
        ("some_future_field", 1),
    ],
)
def test_answer_changing_fields_change_the_key(field: str, value: Any) -> None:
    assert key(openai_request(**{field: value})) != key(openai_request())


def test_messages_and_tools_change_the_key() -> None:
    other = openai_request(messages=[{"role": "user", "content": "What is a queue?"}])
    assert key(other) != key(openai_request())
    tool = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
    renamed = {"type": "function", "function": {"name": "search", "parameters": {"type": "object"}}}
    with_tool = key(openai_request(tools=[tool]))
    assert with_tool != key(openai_request())
    assert with_tool != key(openai_request(tools=[renamed]))


def test_cache_control_markers_are_ignored_anywhere() -> None:
    plain = anthropic_request()
    plain["system"][0].pop("cache_control")
    plain["messages"][0]["content"][0].pop("cache_control")
    assert key(anthropic_request(), dialect="anthropic") == key(plain, dialect="anthropic")
    tool = {"name": "lookup", "input_schema": {"type": "object"}}
    marked_tool = {**tool, "cache_control": {"type": "ephemeral"}}
    assert key(anthropic_request(tools=[tool])) == key(anthropic_request(tools=[marked_tool]))
    top = anthropic_request(cache_control={"type": "ephemeral"})
    assert key(top) == key(anthropic_request())


def test_cache_control_inside_a_json_schema_is_data() -> None:
    def schema(props: dict[str, Any]) -> dict[str, Any]:
        return {"name": "t", "input_schema": {"type": "object", "properties": props}}

    with_prop = schema({"cache_control": {"type": "string"}, "q": {"type": "string"}})
    without = schema({"q": {"type": "string"}})
    assert key(anthropic_request(tools=[with_prop])) != key(anthropic_request(tools=[without]))


def test_namespace_plan_and_dialect_separate() -> None:
    payload = openai_request()
    base = key(payload)
    assert key(payload, ns=fingerprint("sk-a")) != base
    assert key(payload, ns=fingerprint("sk-a")) != key(payload, ns=fingerprint("sk-b"))
    assert key(payload, plan="gpt-cheap") != base
    assert key(payload, dialect="anthropic") != base


def test_field_names_cannot_collide_with_the_envelope() -> None:
    # The payload sits under its own member, so a body field called "plan" is not the plan.
    assert key({"plan": "x"}, plan="y") != key({"plan": "y"}, plan="x")


def test_gemini_fields_count() -> None:
    base = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    tuned = {**base, "generationConfig": {"temperature": 0.1}}
    assert key(base, dialect="gemini") != key(tuned, dialect="gemini")
    assert key({**base, "labels": {"team": "a"}}, dialect="gemini") == key(base, dialect="gemini")


def test_non_json_values_are_refused() -> None:
    with pytest.raises(TypeError):
        key(openai_request(temperature=object()))
    with pytest.raises(TypeError):
        key({"logit_bias": {1: 2}})


def test_tuples_and_huge_integers_are_handled() -> None:
    assert key({"stop": ("a", "b")}) == key({"stop": ["a", "b"]})
    assert key({"seed": 2**70}) != key({"seed": 2**71})
    assert b'"dialect":"openai"' in canonical("openai", "gpt", {})


def test_fingerprint_is_short_stable_and_hides_the_secret() -> None:
    secret = "sk-caller-test-9876543210"
    found = fingerprint(secret)
    assert re.fullmatch(r"[0-9a-f]{16}", found)
    assert found == fingerprint(secret)
    assert found != fingerprint(secret + "x")
    assert secret not in found

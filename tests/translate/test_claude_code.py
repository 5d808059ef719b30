"""Claude Code's requests through the real anthropic SDK, answered by every other dialect.

Claude Code sends `context_management` edits, a mid-conversation `role: "system"`
message, `max_tokens: 64000`, a thinking budget, tools and its betas on every request;
each of them must leave a fallback of another dialect usable.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import pytest

from failsoft.config import parse_config
from failsoft.errors import Untranslatable
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.translate import anthropic as anthropic_dialect
from tests.conftest import CALLER_KEY, PROVIDER_KEY
from tests.translate.sdk import QUESTION

BETAS = "claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27"
EDITS = {
    "edits": [
        {"type": "clear_thinking_20251015", "keep": "all"},
        {
            "type": "clear_tool_uses_20250919",
            "trigger": {"type": "input_tokens", "value": 100000},
            "keep": {"type": "tool_uses", "value": 3},
        },
    ]
}
REMINDER = "The user's shell is bash; answer briefly."
BASH = {
    "name": "Bash",
    "description": "Run a shell command.",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
TARGETS = {
    "via-openai": ("gpt-4o", "16384"),
    "via-gemini": ("gemini-2.5-flash", None),
    "via-responses": ("gpt-5-pro", None),
}
"""virtual model → (simulated model, the max_tokens it is lowered to, if any)"""
LIMITS = {"gpt-4o": 16384, "gemini-2.5-flash": 65536, "gpt-5-pro": 128000}
OPUS_48 = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
models:
  opus48: [anthropic/claude-opus-4-8]
"""


def claude_code_request(**extra: Any) -> dict[str, Any]:
    """The shape of Claude Code's first request (its system prompt much shortened)."""
    return {
        "max_tokens": 64000,
        "system": [
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}
        ],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>Be careful.</system-reminder>"},
                    {"type": "text", "text": QUESTION},
                ],
            },
            {"role": "system", "content": REMINDER},
        ],
        "tools": [BASH],
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "metadata": {"user_id": "user_abc_session_1"},
        "extra_body": {"context_management": EDITS},
        "extra_headers": {"anthropic-beta": BETAS},
        **extra,
    }


def system_reached(virtual: str, body: dict[str, Any]) -> None:
    """The mid-conversation system message arrived where the target dialect keeps it."""
    if virtual == "via-openai":
        assert body["messages"][-1] == {"role": "system", "content": REMINDER}
        assert body["messages"][0] == {"role": "system", "content": "You are Claude Code."}
    elif virtual == "via-gemini":
        texts = [part["text"] for part in body["systemInstruction"]["parts"]]
        assert texts == ["You are Claude Code.", REMINDER]
        assert all(turn["role"] != "system" for turn in body["contents"])
    else:
        last = body["input"][-1]
        assert last["role"] == "system"
        assert last["content"] == [{"type": "input_text", "text": REMINDER}]


@pytest.fixture
def real_limits(sim: SimServer) -> Iterator[None]:
    """The simulated models refuse more output than their real counterparts write."""
    for model, limit in LIMITS.items():
        sim.set_model(model, max_output_tokens=limit)
    yield
    for model in LIMITS:
        sim.set_model(model, max_output_tokens=None)


@pytest.mark.parametrize("virtual", list(TARGETS))
@pytest.mark.parametrize("stream", [False, True])
def test_a_claude_code_request_is_answered_by_another_dialect(
    tant: anthropic.Anthropic, sim: SimServer, virtual: str, stream: bool, real_limits: None
) -> None:
    model, capped = TARGETS[virtual]
    request = claude_code_request(model=virtual)
    if stream:
        with tant.messages.stream(**request) as events:
            headers = events.response.headers
            message = events.get_final_message()
    else:
        raw = tant.messages.with_raw_response.create(**request, timeout=30)
        headers, message = raw.headers, raw.parse()
    assert message.content
    assert message.stop_reason in ("end_turn", "tool_use")
    warning = headers["x-failsoft-warning"]
    assert (
        "dropped context_management (clear_thinking_20251015, clear_tool_uses_20250919:" in warning
    )
    assert headers["x-failsoft-model"] == model
    body = sim.requests(model)[-1].body
    system_reached(virtual, body)
    if capped is not None:
        assert f"64000 lowered to {capped} ({model}'s output limit)" in warning
        assert body.get("max_completion_tokens", body.get("max_tokens")) == int(capped)
    else:
        assert "lowered" not in warning


def test_an_unknown_context_edit_makes_the_target_untranslatable(
    tant: anthropic.Anthropic, sim: SimServer
) -> None:
    compact = {"edits": [{"type": "compact_20260112"}]}
    with pytest.raises(anthropic.BadRequestError) as caught:
        tant.messages.create(
            **claude_code_request(model="via-openai", extra_body={"context_management": compact}),
            timeout=30,
        )
    message = caught.value.message
    assert "context_management.edits[0]': 'compact_20260112' edits have no equivalent" in message
    assert "openai/gpt-4o" in message
    assert sim.attempts("gpt-4o") == 0


def test_a_system_message_goes_to_claude_opus_4_8_as_sent(sim: SimServer) -> None:
    """Same dialect: the bytes pass (context_management included); only max_tokens would
    change, and 64000 fits Opus 4.8."""
    config = parse_config(OPUS_48.format(sim=sim.url, key=PROVIDER_KEY))
    with (
        GatewayThread(config).running() as gw,
        anthropic.Anthropic(base_url=gw.url, api_key=CALLER_KEY, max_retries=0) as client,
    ):
        raw = client.messages.with_raw_response.create(
            **claude_code_request(model="opus48"), timeout=30
        )
    assert raw.parse().content
    assert "x-failsoft-warning" not in raw.headers
    body = sim.requests("claude-opus-4-8")[-1].body
    assert body["messages"][-1] == {"role": "system", "content": REMINDER}
    assert body["context_management"] == EDITS
    assert body["max_tokens"] == 64000


def test_an_older_claude_gets_the_system_message_in_its_system_prompt(
    tant: anthropic.Anthropic, sim: SimServer
) -> None:
    """Same dialect, a model that refuses the role (Opus 4.7): the message's text moves to
    the end of the top-level `system` instead of the target answering a 400."""
    raw = tant.messages.with_raw_response.create(
        **claude_code_request(model="via-anthropic"), timeout=30
    )
    assert raw.parse().content
    assert "moved mid-conversation system messages" in raw.headers["x-failsoft-warning"]
    body = sim.requests("claude-opus-4-7")[-1].body
    assert all(m["role"] != "system" for m in body["messages"])
    system = body["system"]
    text = system if isinstance(system, str) else " ".join(b["text"] for b in system)
    assert text.endswith(REMINDER)


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ({"edits": []}, None),
        ({"edits": [{"type": "clear_tool_uses_20250919"}]}, "dropped context_management"),
        ({"edits": [{"type": "compact_20260112"}]}, "'compact_20260112' edits have no equivalent"),
        ({"edits": [{"type": "x" * 500}]}, "'xxxxx"),
        ({"edits": [{}]}, "None edits have no equivalent"),
        ({"edits": [], "trigger": 1}, "'context_management.trigger' has no equivalent"),
        ({"edits": {}}, "must be an array"),
        ([], "must be an object"),
    ],
)
def test_context_management_shapes(value: Any, outcome: str | None) -> None:
    payload = {"messages": [{"role": "user", "content": "hi"}], "context_management": value}
    if outcome is None or outcome.startswith("dropped"):
        dropped = anthropic_dialect.parse_request(payload).dropped
        assert [outcome in d for d in dropped] == ([] if outcome is None else [True])
        return
    with pytest.raises(Untranslatable) as caught:
        anthropic_dialect.parse_request(payload)
    assert outcome in str(caught.value)
    assert len(str(caught.value)) < 200


def test_adaptive_thinking_carries_its_effort(tant: anthropic.Anthropic, sim: SimServer) -> None:
    """Claude Code on Opus 4.8 thinks adaptively at an effort; o4-mini gets that effort."""
    raw = tant.messages.with_raw_response.create(
        model="via-o4",
        max_tokens=2000,
        messages=[{"role": "user", "content": QUESTION}],
        extra_body={"thinking": {"type": "adaptive"}, "output_config": {"effort": "high"}},
    )
    assert raw.parse().content
    assert "x-failsoft-warning" not in raw.headers
    assert sim.requests("o4-mini")[-1].body["reasoning_effort"] == "high"
    plain = {"messages": [{"role": "user", "content": "hi"}], "output_config": {"effort": "low"}}
    assert anthropic_dialect.parse_request(plain).dropped == [
        "dropped output_config.effort (carried only with adaptive thinking)"
    ]

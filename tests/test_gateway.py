"""Library mode: the same routing and fallback in-process, without a proxy."""

from __future__ import annotations

import pytest

from failsoft import (
    AllTargetsFailed,
    AttemptFinished,
    Gateway,
    RequestFinished,
    StreamInterrupted,
    UpstreamClientFault,
)
from failsoft.errors import UnknownModel
from failsoft.sim import SimServer
from tests.conftest import make_config

HI = [{"role": "user", "content": "hi"}]


async def test_chat_completion_fails_over(sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 503})
    async with Gateway(make_config(sim.url)) as gw:
        reply = await gw.chat_completions({"model": "gpt", "messages": HI})
    assert reply.model == "gpt-4o-mini"
    assert reply.provider == "openai"
    assert reply.trail == "openai/gpt-4o:503,openai/gpt-4o-mini:200"
    assert reply.body["choices"][0]["message"]["content"].startswith("Simulated answer")
    assert reply.body["model"] == "gpt-4o-mini"


async def test_messages_and_events(sim: SimServer) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "reset"})
    seen: list[object] = []
    async with Gateway(make_config(sim.url)) as gw:
        gw.subscribe(AttemptFinished, seen.append)
        unsubscribe = gw.subscribe(RequestFinished, seen.append)
        reply = await gw.messages(
            {"model": "claude", "max_tokens": 50, "messages": HI}, anthropic_version="2026-10-21"
        )
        unsubscribe()
    assert reply.body["type"] == "message"
    assert reply.body["stop_reason"] == "end_turn"
    assert [type(e).__name__ for e in seen] == [
        "AttemptFinished",
        "AttemptFinished",
        "RequestFinished",
    ]
    first, second, done = seen
    assert isinstance(first, AttemptFinished) and first.outcome == "reset" and not first.ok
    assert isinstance(second, AttemptFinished) and second.ok and second.first_token is not None
    assert isinstance(done, RequestFinished) and done.ok and done.attempts == 2
    assert sim.requests("claude-sonnet-4-5")[-1].headers.get("anthropic-version") == "2026-10-21"


async def test_stream_yields_parsed_events(sim: SimServer) -> None:
    async with Gateway(make_config(sim.url)) as gw:
        async with gw.stream_messages(
            {"model": "claude", "max_tokens": 50, "messages": HI}
        ) as events:
            kinds = [event["type"] async for event in events]
        assert events.model == "claude-opus-4-7"
    assert kinds[0] == "message_start"
    assert kinds[-1] == "message_stop"


async def test_broken_stream_raises(sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "cut", "after": 2})
    async with Gateway(make_config(sim.url)) as gw:
        async with gw.stream_chat_completions({"model": "gpt", "messages": HI}) as chunks:
            got = []
            with pytest.raises(StreamInterrupted, match="broke after"):
                async for chunk in chunks:
                    got.append(chunk)
    assert got  # the content before the break was delivered


async def test_errors_are_raised(sim: SimServer) -> None:
    async with Gateway(make_config(sim.url)) as gw:
        sim.set_fault("*", {"kind": "status", "status": 529})
        with pytest.raises(AllTargetsFailed) as exhausted:
            await gw.chat_completions({"model": "gpt", "messages": HI})
        assert [a.outcome for a in exhausted.value.attempts] == ["529", "529"]
        assert exhausted.value.should_retry
        sim.set_fault("*", {"kind": "status", "status": 404})
        with pytest.raises(UpstreamClientFault) as fault:
            await gw.chat_completions({"model": "gpt", "messages": HI})
        assert fault.value.error.status == 404
        with pytest.raises(UnknownModel):
            await gw.chat_completions({"model": "nope", "messages": HI})


async def test_a_refused_key_fails_over_and_attempts_count_only_real_ones(
    sim: SimServer,
) -> None:
    """A 401 is failsoft's key, not the caller's: the backup answers. Once the breaker is
    open for long the primary is skipped, and a skip is not an attempt."""
    async with Gateway(make_config(sim.url)) as gw:
        sim.set_fault("gpt-4o", {"kind": "status", "status": 401})
        first = await gw.chat_completions({"model": "gpt", "messages": HI})
        assert first.trail == "openai/gpt-4o:401,openai/gpt-4o-mini:200"
        assert first.attempt_count == 2
        later = await gw.chat_completions({"model": "gpt", "messages": HI})
        assert later.trail == "openai/gpt-4o:open,openai/gpt-4o-mini:200"
        assert later.attempt_count == 1 and len(later.attempts) == 2
        with pytest.raises(AllTargetsFailed) as exhausted:
            await gw.chat_completions({"model": "gpt-one", "messages": HI})
    message = str(exhausted.value)
    assert message.startswith("failsoft: all 1 target failed for model 'gpt-one'")
    assert "the provider rejected failsoft's credentials" in message
    assert not exhausted.value.should_retry
    assert sim.attempts("gpt-4o") == 1


def test_gateway_loads_a_config_file(tmp_path: object, sim: SimServer) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "gw.yaml"
    path.write_text(
        f"providers:\n  openai: {{dialect: openai, base_url: '{sim.url}/v1'}}\n"
        "models:\n  gpt: [openai/gpt-4o]\n"
    )
    gw = Gateway(path)
    assert list(gw.config.models) == ["gpt"]

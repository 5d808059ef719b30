"""After a fallback the caller learns which model answered and what it used."""

from __future__ import annotations

import anthropic
import openai

from failsoft.sim import SimServer
from tests.chaos.conftest import HI


def test_openai_fallback_reports_model_and_usage(oai: openai.OpenAI, sim: SimServer) -> None:
    sim.set_fault("gpt-4o", {"kind": "status", "status": 529})
    raw = oai.chat.completions.with_raw_response.create(model="gpt", messages=HI)
    completion = raw.parse()
    assert raw.headers["x-failsoft-model"] == completion.model == "gpt-4o-mini"
    assert raw.headers["x-failsoft-provider"] == "openai"
    assert completion.usage is not None
    assert completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == (
        completion.usage.prompt_tokens + completion.usage.completion_tokens
    )
    chunks = list(
        oai.chat.completions.create(
            model="gpt", messages=HI, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].usage is not None
    assert chunks[-1].model == "gpt-4o-mini"


def test_anthropic_fallback_reports_model_and_usage(
    ant: anthropic.Anthropic, sim: SimServer
) -> None:
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
    with ant.messages.stream(model="claude", max_tokens=64, messages=HI) as stream:
        message = stream.get_final_message()
        headers = stream.response.headers
    assert headers["x-failsoft-model"] == message.model == "claude-sonnet-4-5"
    assert message.usage.output_tokens > 0
    assert message.usage.input_tokens > 0

"""Golden-file tests: documented provider examples and their reviewed translations.

Streams are also replayed into the SDKs' own accumulators (the code behind
`messages.stream().get_final_message()` and `chat.completions.stream()`), so a
translation that looks right but that an SDK would assemble wrongly still fails.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from pydantic import TypeAdapter

from failsoft.dialects.sse import SSEDecoder

from .golden_io import (
    CALLERS,
    CREATED,
    GOLDEN,
    check_json,
    check_text,
    translate_request,
    translate_response,
    translate_stream,
)

REQUESTS = sorted((GOLDEN / "requests").glob("*.json"))
RESPONSES = sorted((GOLDEN / "responses").glob("*.json"))
STREAMS = sorted((GOLDEN / "streams").glob("*.*.sse"))
STREAM_INPUTS = [p for p in STREAMS if ".to-" not in p.name]


@pytest.fixture(autouse=True)
def _fixed_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """`created` is the time of translation when the upstream gives none."""
    import failsoft.translate.openai_answer as openai_tr
    import failsoft.translate.openai_stream as openai_stream

    class Clock:
        @staticmethod
        def time() -> float:
            return CREATED

    monkeypatch.setattr(openai_tr, "time", Clock)
    monkeypatch.setattr(openai_stream, "time", Clock)


def _inputs(paths: list[Path]) -> list[Path]:
    return [p for p in paths if not p.name.endswith(".out.json")]


@pytest.mark.parametrize("path", _inputs(REQUESTS), ids=lambda p: p.stem)
def test_request(path: Path) -> None:
    case = orjson.loads(path.read_bytes())
    check_json(path.with_suffix(".out.json"), translate_request(case))


@pytest.mark.parametrize("path", _inputs(RESPONSES), ids=lambda p: p.stem)
def test_response(path: Path) -> None:
    case = orjson.loads(path.read_bytes())
    check_json(path.with_suffix(".out.json"), translate_response(case))


def _cases() -> list[tuple[Path, str]]:
    out = []
    for path in STREAM_INPUTS:
        target = path.name.split(".")[-2]
        out.extend((path, caller) for caller in CALLERS[target])
    return out


@pytest.mark.parametrize(
    ("path", "caller"), _cases(), ids=lambda v: v.stem if isinstance(v, Path) else v
)
def test_stream(path: Path, caller: str) -> None:
    target = path.name.split(".")[-2]
    stem = path.name.split(".")[0]
    out = translate_stream(target, caller, path.read_bytes())
    check_text(path.with_name(f"{stem}.to-{caller}.sse"), out)
    _sdk_accepts(caller, out)


def _sdk_accepts(caller: str, data: bytes) -> None:
    """The SDK's stream accumulator builds a final message from the translated events."""
    events = [e for e in SSEDecoder().feed(data)]
    if caller.startswith("openai"):
        assert events[-1].data == b"[DONE]"
        state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
        for event in events[:-1]:
            state.handle_chunk(ChatCompletionChunk.model_validate(orjson.loads(event.data)))
        final = state.get_final_completion()
        assert final.choices[0].finish_reason is not None
        for call in final.choices[0].message.tool_calls or ():
            orjson.loads(call.function.arguments)  # whole, valid JSON
        if caller.endswith("+usage"):
            assert final.usage is not None and final.usage.completion_tokens > 0
        return
    adapter: TypeAdapter[RawMessageStreamEvent] = TypeAdapter(RawMessageStreamEvent)
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        assert event.event == orjson.loads(event.data)["type"]
        parsed = adapter.validate_python(orjson.loads(event.data))
        snapshot = accumulate_event(event=parsed, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None and snapshot.stop_reason is not None
    assert events[-1].event == "message_stop"
    assert snapshot.usage.output_tokens > 1

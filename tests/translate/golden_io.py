"""Running golden cases: requests, whole responses and streams through the translators.

Inputs live under `golden/` as the providers document them; each case's translations sit
next to it (`*.out.json`, `*.to-<caller>.sse`) and were reviewed by hand. After a
deliberate change, `FAILSOFT_UPDATE_GOLDEN=1 pytest tests/translate` rewrites them; the
diff is then the review.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from failsoft.dialects import WIRES
from failsoft.dialects.base import TERMINAL
from failsoft.dialects.sse import SSEDecoder
from failsoft.errors import Untranslatable
from failsoft.translate import TargetOptions, translate
from failsoft.translate.bridge import Translation
from failsoft.types import ChatRequest

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FAILSOFT_UPDATE_GOLDEN") == "1"
CREATED = 1_700_000_000

OPTIONS = {
    "openai": TargetOptions("openai"),
    "openai@compat": TargetOptions("openai", max_tokens_field="max_tokens"),
    "anthropic": TargetOptions("anthropic"),
    "anthropic@2026-10-21": TargetOptions("anthropic", anthropic_version="2026-10-21"),
    "gemini": TargetOptions("gemini"),
}
CALLERS = {
    "openai": ("anthropic",),
    "anthropic": ("openai", "openai+usage"),
    "gemini": ("openai", "openai+usage", "anthropic"),
}


def request_for(caller: str, payload: dict[str, Any]) -> ChatRequest:
    body = orjson.dumps(payload)
    return ChatRequest(caller, payload["model"], bool(payload.get("stream")), payload, body)  # type: ignore[arg-type]


def translate_request(case: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    payload = case["input"]
    for key in case["targets"]:
        request = request_for(case["caller"], payload)
        try:
            translation = translate(request, OPTIONS[key])
        except Untranslatable as exc:
            out[key] = {"untranslatable": exc.message}
            continue
        body = orjson.loads(translation.body("MODEL", bool(payload.get("stream"))))
        out[key] = {"body": body, "warnings": list(translation.warnings)}
    return out


def translate_response(case: dict[str, Any]) -> dict[str, Any]:
    target = case["target"]
    return {
        caller: Translation(caller, target, {}, ()).response(case["input"])
        for caller in ("openai", "anthropic")
        if caller != target
    }


def translate_stream(target: str, caller: str, text: bytes) -> bytes:
    dialect, _, usage = caller.partition("+")
    converter = Translation(dialect, target, {}, ()).converter(include_usage=bool(usage))
    tracker = WIRES[target].tracker()
    out = []
    for event in SSEDecoder().feed(text):
        kind = tracker.feed(event)
        assert kind <= TERMINAL, (kind, event)
        out.append(converter.feed(kind, tracker.last, []))
        if kind == TERMINAL:
            break
    return b"".join(out)


def check_json(path: Path, actual: Any) -> None:
    if UPDATE or not path.exists():
        path.write_bytes(orjson.dumps(actual, option=orjson.OPT_INDENT_2) + b"\n")
    assert orjson.loads(path.read_bytes()) == actual, f"differs from {path.name}"


def check_text(path: Path, actual: bytes) -> None:
    if UPDATE or not path.exists():
        path.write_bytes(actual)
    assert path.read_bytes() == actual, f"differs from {path.name}"

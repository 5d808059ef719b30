"""What the server does with a caller's body up to the upstream call, without the nets
that turn a crash into a 400 or a skip: the function atheris drives (tests/fuzz/targets.py),
kept free of atheris so pytest can import it anywhere.

Each body is parsed as its surface parses it (`server/chat.py`), checked as the door checks
it (`failsoft/validate`), then, if the door let it through, read into the internal form and
written out for every target dialect (`translate/bridge.py`). Only failsoft's documented
request errors may escape: `RequestError` (a 4xx in the caller's dialect; `Untranslatable`
is one) and, from the parsers, a plain `ValueError` naming the field (a 400 at the server).
Anything else (a `TypeError` in a translator, a `RecursionError`, ...) is a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from failsoft import validate
from failsoft.dialects.base import parse_chat_body
from failsoft.errors import RequestError
from failsoft.server import gemini_api, responses_api
from failsoft.translate import bridge
from failsoft.translate.common import TargetOptions, Warnings

CORPUS = Path(__file__).parent / "corpus"
"""Seed requests, a few valid ones per caller dialect."""
DIALECTS = ("openai", "anthropic", "responses", "gemini")

PARSE: dict[str, Callable[[bytes], tuple[dict[str, Any], str, bool]]] = {
    "openai": parse_chat_body,
    "anthropic": parse_chat_body,
    "responses": responses_api.parse_body,
    "gemini": gemini_api.parse_body,
}
TARGETS = (
    TargetOptions("openai"),
    TargetOptions("openai", max_tokens_field="max_tokens"),
    TargetOptions("anthropic"),
    TargetOptions("anthropic", anthropic_version="2026-10-21"),
    TargetOptions("gemini"),
    TargetOptions("responses"),
)


def one(dialect: str, body: bytes) -> None:
    """What the server does with `body` up to the upstream call (`server/chat.py`,
    `translate/bridge.py`), without the nets that turn a crash into a 400 or a skip."""
    try:
        payload, model, _ = PARSE[dialect](body)
        validate.request(dialect, payload, model or "m")
    except RequestError:
        return
    try:
        ir = bridge._PARSE[dialect](payload)
    except RequestError:
        return
    except ValueError as exc:
        if type(exc) is not ValueError:  # UnicodeError, RecursionError's kin: a crash
            raise
        return
    for options in TARGETS:
        try:
            built = bridge._BUILD[options.dialect](ir, options, Warnings(ir.dropped))
        except RequestError:
            continue
        translation = bridge.Translation(dialect, options.dialect, built, ())
        translation.body("claude-opus-4-7", stream=True, limit=1000)
        translation.warnings_for("o4-mini", limit=1000)

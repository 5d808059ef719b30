"""Gemini's rules for function-calling turns, as the real API enforces them.

These are the 400s a translating gateway meets only with tools: a call turn that does not
follow a user turn, results that do not answer the call turn right before them (parallel
results split across turns, or one dropped), and on Gemini 3 a call turn whose thought
signature was lost on the way back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from failsoft.sim.tools import valid_signature
from failsoft.sim.wire import ErrorSpec

SIGNED_MODELS = "gemini-3"
"""Models whose names start with this require thought signatures on function calls."""
_SIGNATURES_DOC = "https://ai.google.dev/gemini-api/docs/thought-signatures"


class Invalid(Exception):
    """A request the real API rejects with 400 INVALID_ARGUMENT."""

    def __init__(self, spec: ErrorSpec) -> None:
        super().__init__(spec.message)
        self.spec = spec


def invalid(message: str) -> Invalid:
    return Invalid(ErrorSpec(400, message=message))


def check_turns(contents: Sequence[Mapping[str, Any]], model: str) -> None:
    """Raise `Invalid` for the first function-calling rule the conversation breaks."""
    signed = model.startswith(SIGNED_MODELS)
    previous: Mapping[str, Any] | None = None
    for index, content in enumerate(contents):
        parts = content["parts"]
        calls = [part for part in parts if "functionCall" in part]
        results = sum(1 for part in parts if "functionResponse" in part)
        if calls and content["role"] == "model":
            if previous is None or previous["role"] != "user":
                raise invalid(
                    "Please ensure that function call turn comes immediately after a user turn "
                    "or after a function response turn."
                )
            if signed:
                _check_signature(calls[0], index)
        if results:
            asked = _calls(previous)
            if not asked:
                raise invalid(
                    "Please ensure that function response turn comes immediately after a "
                    "function call turn."
                )
            if results != asked:
                raise invalid(
                    "Please ensure that the number of function response parts is equal to the "
                    "number of function call parts of the function call turn."
                )
        previous = content


def _calls(content: Mapping[str, Any] | None) -> int:
    if content is None or content["role"] != "model":
        return 0
    return sum(1 for part in content["parts"] if "functionCall" in part)


def _check_signature(part: Mapping[str, Any], index: int) -> None:
    """Only the first call of a turn carries the signature (parallel calls share it)."""
    signature = part.get("thoughtSignature")
    name = part["functionCall"].get("name")
    if signature is None:
        raise invalid(
            "Function call is missing a thought_signature in functionCall parts. This is "
            "required for tools to work correctly, and missing thought_signature may lead to "
            f"degraded model performance. Additional data, function call `default_api:{name}` , "
            f"position {index + 1}. Please refer to {_SIGNATURES_DOC} for more details."
        )
    if not valid_signature(signature):
        raise invalid(
            "Corrupted thought signature. "
            f"Function call `default_api:{name}` , position {index + 1}."
        )

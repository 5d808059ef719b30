"""atheris driver: ``python -m tests.fuzz.targets <dialect> [libFuzzer options] [corpus]``
(tests/fuzz/test_atheris.py runs it for a fixed time). Half the inputs are bodies as bytes,
half a seed request from tests/fuzz/corpus/<dialect> changed as a tree (types, shapes, part
types): the near-valid requests a byte mutator rarely writes. Each goes through
`pipeline.one`; what may escape it is said there.
"""

from __future__ import annotations

import copy
import json
import sys
from typing import Any

import atheris

with atheris.instrument_imports(
    include=["failsoft.validate", "failsoft.translate", "failsoft.dialects"]
):
    from tests.fuzz import pipeline

WORDS = (
    "role",
    "content",
    "type",
    "text",
    "user",
    "assistant",
    "system",
    "tool",
    "model",
    "messages",
    "tools",
    "tool_calls",
    "function",
    "name",
    "arguments",
    "parameters",
    "input",
    "output",
    "call_id",
    "tool_use",
    "tool_result",
    "image",
    "image_url",
    "source",
    "data",
    "url",
    "parts",
    "contents",
    "functionCall",
    "functionResponse",
    "args",
    "thinking",
    "reasoning",
    "effort",
    "max_tokens",
    "stream",
    "stop",
    "instructions",
    "input_text",
    "input_image",
    "function_call",
    "function_call_output",
    "custom",
    "cache_control",
    "systemInstruction",
    "generationConfig",
    "thinkingConfig",
    "inlineData",
    "mimeType",
    "developer",
    "refusal",
    "namespace",
    "file",
    "document",
    "redacted_thinking",
    "signature",
    "thoughtSignature",
    "response_format",
    "tool_choice",
)


def _value(fdp: atheris.FuzzedDataProvider, depth: int = 0) -> Any:
    kind = fdp.ConsumeIntInRange(0, 9 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(8)
    if kind == 3:
        return fdp.ConsumeFloat()
    if kind == 4:
        return WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]
    if kind == 5:
        return fdp.ConsumeUnicode(fdp.ConsumeIntInRange(0, 40))
    if kind in (6, 7):
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {
        WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]: _value(fdp, depth + 1)
        for _ in range(fdp.ConsumeIntInRange(0, 3))
    }


def _mutate(node: Any, fdp: atheris.FuzzedDataProvider) -> Any:
    """`node` with one value somewhere in it replaced, dropped or added."""
    if isinstance(node, dict) and node and fdp.ConsumeIntInRange(0, 3):
        keys = list(node)
        key = keys[fdp.ConsumeIntInRange(0, len(keys) - 1)]
        action = fdp.ConsumeIntInRange(0, 5)
        if action == 0:
            del node[key]
        elif action == 1:
            node[WORDS[fdp.ConsumeIntInRange(0, len(WORDS) - 1)]] = _value(fdp)
        else:
            node[key] = _mutate(node[key], fdp)
        return node
    if isinstance(node, list) and node and fdp.ConsumeIntInRange(0, 3):
        index = fdp.ConsumeIntInRange(0, len(node) - 1)
        action = fdp.ConsumeIntInRange(0, 5)
        if action == 0:
            del node[index]
        elif action == 1:
            node.append(copy.deepcopy(node[index]))
        else:
            node[index] = _mutate(node[index], fdp)
        return node
    return _value(fdp)


def structured(dialect: str, data: bytes, seeds: list[dict[str, Any]]) -> None:
    """A valid seed request with a few of its values changed (types, shapes, part types):
    the near-valid requests a byte mutator rarely writes."""
    fdp = atheris.FuzzedDataProvider(data)
    body = copy.deepcopy(seeds[fdp.ConsumeIntInRange(0, len(seeds) - 1)])
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        body = _mutate(body, fdp)
    pipeline.one(
        dialect, json.dumps(body).encode()
    )  # lone surrogates escaped, NaN as NaN: both sendable


def main() -> None:
    dialect = sys.argv.pop(1)
    if dialect not in pipeline.PARSE:
        raise SystemExit(f"usage: python -m tests.fuzz.targets {{{','.join(pipeline.PARSE)}}} ...")
    seeds = [json.loads(p.read_bytes()) for p in sorted((pipeline.CORPUS / dialect).glob("*.json"))]

    def test_one(data: bytes) -> None:
        # Odd first byte: the bytes as a body; even: a seed request mutated as a tree.
        if data[:1] and data[0] & 1:
            pipeline.one(dialect, data[1:])
        else:
            structured(dialect, data, seeds)

    atheris.Setup(sys.argv, test_one)
    atheris.Fuzz()


if __name__ == "__main__":
    main()

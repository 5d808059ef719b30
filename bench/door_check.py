"""What the door check (failsoft/validate) costs per request, next to what parsing the same
body with orjson costs (the gateway does both on every request). Best of 7 runs, so a busy
shared machine shows less noise; the ratio to orjson is the figure to compare across runs.

    python bench/door_check.py
"""

from __future__ import annotations

import timeit
from collections.abc import Callable
from typing import Any

import orjson

from failsoft import validate

TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
SMALL: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are helpful. " * 20},
        {"role": "user", "content": [{"type": "text", "text": "hello " * 200}]},
    ],
    "tools": [TOOL],
    "stream": True,
    "max_tokens": 100,
}
BIG: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "user" if i % 2 == 0 else "assistant", "content": "word " * 380}
        for i in range(100)
    ],
    "max_tokens": 100,
}


def best(call: Callable[[], object], number: int) -> float:
    """Microseconds per call, best of 7."""
    return min(timeit.repeat(call, number=number, repeat=7)) / number * 1e6


def main() -> None:
    for name, payload, number in (("typical", SMALL, 20_000), ("large", BIG, 500)):
        body = orjson.dumps(payload)
        for dialect in ("openai", "anthropic"):
            check = best(lambda: validate.request(dialect, payload, "gpt-4o"), number)  # noqa: B023
            parse = best(lambda: orjson.loads(body), number)  # noqa: B023
            print(
                f"{name:8} {len(body):7} B {dialect:9}  check {check:7.2f} µs"
                f"  orjson.loads {parse:7.2f} µs  ratio {check / parse:.2f}"
            )


if __name__ == "__main__":
    main()

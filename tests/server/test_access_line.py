"""The access line's shortcuts (remembered route heads and labels, failsoft's request id
written as is, one float formatting for the durations, `text_now`) write what the plain
`logfmt.line` over the same fields and `text_line(*now())` write, byte for byte."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest

from failsoft.config.log import LogConfig
from failsoft.logfmt import line
from failsoft.logjson import now, text_line, text_now
from failsoft.server import access_line
from failsoft.server.access import AccessLog, Exchange
from failsoft.server.refusals import RefusalLog

VARIANTS: dict[str, list[Any]] = {
    "rid": [b"fs_0123456789abcdef01234567", None, b'we"ird id', b"fs_0123", b"x" * 300],
    "path": ["/v1/chat/completions", '/v1/chat/"x"\n', "/nowhere", "/" + "p" * 250],
    "method": ["POST", "GET"],
    "model": ["gpt", None, "gpt \u00e9=1", "m" * 250],
    "attempts": [b"1", None, "2", b"x"],
    "trail": [b"sim/gpt-4o:200", None, "a/m:503,b/n:200", b"", "t r"],
    "answered": [(b"sim", b"gpt-4o"), (None, None), (b"sim", None), (b"p q", b"m")],
    "first": [None, 0.0031, 0.00005, 0.00015],
    "stream": [False, True],
    "tokens": [(12, 50), (None, None), (0, None)],
    "cache": [None, b"HIT"],
    "rung": [None, b"targets"],
    "broken": [False, True],
    "disconnected": [False, True],
    "refused": [None, "unknown_model"],
    "cut": [None, "slow_reader"],
    "caller": [None, "team-a", "team b"],
    "status": [200, 499],
    "elapsed": [0.0123456, 0.00004, 0.00005, 0.00025, 1.23456789, 123.456, 2e13],
}


def _cases() -> list[dict[str, Any]]:
    base = {name: values[0] for name, values in VARIANTS.items()}
    cases = [base]
    for name, values in VARIANTS.items():
        cases += [{**base, name: value} for value in values[1:]]
    cases += [
        {**base, "stream": True, "first": first, "elapsed": elapsed}
        for first, elapsed in itertools.product(VARIANTS["first"][1:], VARIANTS["elapsed"])
    ]
    return cases


def _exchange(case: dict[str, Any]) -> Exchange:
    async def send(message: object) -> None:
        pass

    log = AccessLog(LogConfig(), RefusalLog())
    ex = Exchange(log, send, {"method": case["method"], "path": case["path"]}, True, True)
    ex.rid, ex.model, ex.attempts, ex.trail = (
        case["rid"], case["model"], case["attempts"], case["trail"]
    )  # fmt: skip
    ex.provider, ex.answered = case["answered"]
    ex.stream = case["stream"]
    ex.first = None if case["first"] is None else ex.started + case["first"]
    ex.input_tokens, ex.output_tokens = case["tokens"]
    ex.cache, ex.rung, ex.broken = case["cache"], case["rung"], case["broken"]
    ex.disconnected, ex.refused, ex.cut = case["disconnected"], case["refused"], case["cut"]
    ex.caller = case["caller"]
    return ex


def _plain(ex: Exchange, status: int, elapsed: float) -> str:
    """The line as `logfmt.line` writes it: every value through `logfmt.value`."""
    provider, model = ex.provider, ex.answered
    label = None
    if provider is not None and model is not None:
        label = f"{provider.decode('latin-1')}/{model.decode('latin-1')}"
    ttft = None
    if ex.stream and ex.first is not None:
        ttft = round((ex.first - ex.started) * 1000, 1)
    fields = {
        "rid": ex.rid,
        "surface": ex.surface,
        "method": ex.method,
        "path": ex.path,
        "model": ex.model,
        "status": status,
        "attempts": ex.attempts,
        "answered": label,
        "trail": ex.trail or None,
        "ms": round(elapsed * 1000, 1),
        "ttft_ms": ttft,
        "in": ex.input_tokens,
        "out": ex.output_tokens,
        "cache": ex.cache,
        "rung": ex.rung,
        "stream": ex.stream,
        "broken": ex.broken,
        "disconnect": ex.disconnected,
        "refused": ex.refused,
        "cut": ex.cut,
    }
    if ex.caller is not None:
        fields["key"] = ex.caller
    return line(fields)


@pytest.mark.parametrize("case", _cases())
def test_the_line_is_logfmt_line_of_its_fields(case: dict[str, Any]) -> None:
    ex = _exchange(case)
    for _ in range(2):  # once to remember its words, once from them
        assert access_line.line(ex, case["status"], case["elapsed"]) == _plain(
            ex, case["status"], case["elapsed"]
        )


@pytest.mark.parametrize(
    "clock", [1764972999.0, 1764972999.0005, 1764972999.123456, 1764972999.9995, 1764972999.99999]
)
def test_text_now_is_text_line_of_now(monkeypatch: pytest.MonkeyPatch, clock: float) -> None:
    monkeypatch.setattr(time, "time", lambda: clock)
    monkeypatch.setattr(time, "time_ns", lambda: int(clock * 1e9))
    prefix = "INFO    failsoft.access: "
    assert text_now(prefix, "rid=x") == text_line(*now(), prefix, "rid=x")

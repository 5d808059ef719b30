"""Steady traffic through the real SDKs, each request's fate recorded from what the caller saw.

Every request reads the gateway's headers: `x-failsoft-trail` says which upstream attempts
were made and how each ended, so the upstream error rate is measured from the caller's side
without peeking into the gateway.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import openai

from failsoft.types import SKIPPED

SKIPS = SKIPPED
OK = frozenset({"200", "cancelled"})

PROMPTS = (
    "Summarise the incident timeline.",
    "Why do retries need jitter?",
    "Explain a circuit breaker in one line.",
    "What does stale-if-error mean?",
)


@dataclass
class Result:
    started: float
    finished: float
    model: str
    """The virtual model asked for."""
    sdk: str
    stream: bool
    ok: bool
    answered_by: str | None
    trail: list[tuple[str, str]] = field(default_factory=list)
    error: str | None = None
    text: str | None = None
    """The answer's text (checked against what every simulated model says)."""

    @property
    def latency(self) -> float:
        return self.finished - self.started

    @property
    def upstream_attempts(self) -> int:
        """Requests that reached a provider (targets skipped by a breaker do not)."""
        return sum(1 for _, outcome in self.trail if outcome not in SKIPS)

    @property
    def upstream_failures(self) -> int:
        return sum(1 for _, outcome in self.trail if outcome not in SKIPS and outcome not in OK)

    @property
    def skipped(self) -> int:
        """Targets passed over without an attempt (open breaker, spent retry budget)."""
        return sum(1 for _, outcome in self.trail if outcome in SKIPS)


def parse_trail(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    out = []
    for item in value.split(","):
        target, _, outcome = item.rpartition(":")
        out.append((target, outcome))
    return out


class Traffic:
    """Sends `rate` requests per second (open loop) until stopped, alternating SDKs and modes."""

    def __init__(self, gateway_url: str, rate: float, on_result: Callable[[Result], None]) -> None:
        self.rate = rate
        self.on_result = on_result
        # The gateway is on 127.0.0.1: an operator's HTTP(S)_PROXY must not carry the demo's
        # calls (the SDKs' httpx clients honour it by default).
        self.openai = openai.AsyncOpenAI(
            base_url=gateway_url + "/v1",
            api_key="sk-demo-caller",
            max_retries=0,
            timeout=30,
            http_client=openai.DefaultAsyncHttpxClient(trust_env=False),
        )
        self.anthropic = anthropic.AsyncAnthropic(
            base_url=gateway_url,
            api_key="sk-demo-caller",
            max_retries=0,
            timeout=30,
            http_client=anthropic.DefaultAsyncHttpxClient(trust_env=False),
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, duration: float) -> None:
        start = time.monotonic()
        n = 0
        while True:
            due = start + n / self.rate
            if due - start >= duration:
                break
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(self._one(n))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            n += 1
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        await self.openai.close()
        await self.anthropic.close()

    async def _one(self, n: int) -> None:
        kind = n % 4
        prompt = PROMPTS[n % len(PROMPTS)]
        started = time.monotonic()
        try:
            if kind < 2:
                result = await self._anthropic(prompt, stream=kind == 1, started=started)
            else:
                result = await self._openai(prompt, stream=kind == 3, started=started)
        except Exception as exc:  # the demo reports every failure, it never crashes on one
            model = "claude-opus" if kind < 2 else "gpt-4o"
            sdk = "anthropic" if kind < 2 else "openai"
            result = Result(started, time.monotonic(), model, sdk, kind % 2 == 1, False, None)
            result.error = f"{type(exc).__name__}: {exc}"
        self.on_result(result)

    async def _anthropic(self, prompt: str, *, stream: bool, started: float) -> Result:
        result = Result(started, 0.0, "claude-opus", "anthropic", stream, False, None)
        messages: Any = [{"role": "user", "content": prompt}]
        message: Any
        try:
            if stream:
                async with self.anthropic.messages.stream(
                    model="claude-opus", max_tokens=256, messages=messages
                ) as s:
                    result.trail = parse_trail(s.response.headers.get("x-failsoft-trail"))
                    message = await s.get_final_message()
            else:
                raw = await self.anthropic.messages.with_raw_response.create(
                    model="claude-opus", max_tokens=256, messages=messages
                )
                result.trail = parse_trail(raw.headers.get("x-failsoft-trail"))
                message = await raw.parse()
            result.ok = message.stop_reason is not None
            result.answered_by = message.model
            result.text = "".join(b.text for b in message.content if b.type == "text")
        except anthropic.APIStatusError as exc:
            result.error = _describe(exc.status_code, _message(exc.body, exc.message), stream)
            result.trail = result.trail or parse_trail(exc.response.headers.get("x-failsoft-trail"))
        except anthropic.APIError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        result.finished = time.monotonic()
        return result

    async def _openai(self, prompt: str, *, stream: bool, started: float) -> Result:
        result = Result(started, 0.0, "gpt-4o", "openai", stream, False, None)
        messages: Any = [{"role": "user", "content": prompt}]
        try:
            if stream:
                async with self.openai.chat.completions.with_streaming_response.create(
                    model="gpt-4o", messages=messages, stream=True
                ) as raw:
                    result.trail = parse_trail(raw.headers.get("x-failsoft-trail"))
                    finish = None
                    model = None
                    text = ""
                    async for chunk in await raw.parse():
                        model = chunk.model
                        if chunk.choices and chunk.choices[0].finish_reason:
                            finish = chunk.choices[0].finish_reason
                        if chunk.choices and chunk.choices[0].delta.content:
                            text += chunk.choices[0].delta.content
                result.ok = finish is not None
                result.answered_by = model
                result.text = text
            else:
                resp = await self.openai.chat.completions.with_raw_response.create(
                    model="gpt-4o", messages=messages
                )
                result.trail = parse_trail(resp.headers.get("x-failsoft-trail"))
                completion = resp.parse()
                result.ok = True
                result.answered_by = completion.model
                result.text = completion.choices[0].message.content
        except openai.APIStatusError as exc:
            result.error = _describe(exc.status_code, exc.message, stream)
            result.trail = parse_trail(exc.response.headers.get("x-failsoft-trail"))
        except openai.APIError as exc:
            result.error = f"stream broke: {exc.message}"
        result.finished = time.monotonic()
        return result


def _message(body: object, fallback: str) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return str(error["message"])
    return fallback


def _describe(status: int, message: str, stream: bool) -> str:
    if status == 200:
        return f"stream broke: {message}"
    return f"HTTP {status}: {message}"

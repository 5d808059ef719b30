"""Mid-stream resume (on by default): finish a broken answer, verifiably, or not at all.

When a committed stream breaks (cut, stalled past `deadlines.idle`, a broken event, an
in-band error, no terminal event) and everything it delivered is plain text (one choice,
no tool calls, no thinking blocks), failsoft asks for the rest of the answer: from the
other targets first, then the one that broke. Per target, one of two ways:

* **prefill**, where the target really continues a final assistant message (Anthropic
  models that accept it, vLLM-style servers with `continue_final_message`): the text so
  far, right-stripped, as that message. A target that refuses the prefill (400) is
  remembered and asked again with a user turn; the refusal never reaches the caller.
* **a user turn** asking to go on (`resume.prompt`, which asks the model to repeat its
  last sentence first): the answer is relayed only once it can be checked, as a restart of
  the whole answer or an overlap of at least 20 characters with its end
  (`router/splice.py`). Anything else ends the caller's stream with the in-band error.

The continuation asks for no more than the caller's `max_tokens` minus what was
delivered, and is relayed into the caller's stream as more of the same answer: same ids,
same content block, one proper end, usage counting the original prompt and every output
token. While a continuation is being found or checked, the caller's connection is kept
alive (SSE comments; `ping` events on the Anthropic surface). If no target can continue,
the caller gets the in-band error, as without resume.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import orjson

from failsoft.config import Resume, VirtualModel
from failsoft.dialects import continuation, responses_continuation
from failsoft.dialects.base import UNPARSED
from failsoft.dialects.continuation import Tally
from failsoft.dialects.responses_continuation import ResponsesTranscript
from failsoft.dialects.sse import SSEDecoder
from failsoft.errors import FailsoftError, UpstreamClientFault, UpstreamError
from failsoft.providers import Provider
from failsoft.router.afresh import answer_afresh
from failsoft.router.splice import Splice, Unverifiable
from failsoft.router.state import RouterState
from failsoft.router.streaming import CommittedStream
from failsoft.translate.responses_stream import ResponsesEncoder
from failsoft.types import ChatRequest, Target

log = logging.getLogger("failsoft.router")

KEEPALIVE = 2.0
"""Seconds without anything to send before the caller gets a keep-alive."""
MIN_TIME_LEFT = 0.5
"""Below this much of the request's deadline, a continuation is not worth starting."""
PREFILL_REFUSERS = re.compile(r"claude-[a-z]+-4-[67]\b|claude-[a-z]+-4\.[67]\b")
"""Anthropic models known to refuse an assistant prefill with a 400 (Claude 4.6, 4.7)."""
VLLM_CONTINUE = {"continue_final_message": True, "add_generation_prompt": False}
REFUSAL_MEMORY = 3600.0
"""Seconds a target's refusal of a prefill is remembered (a provider may start taking
them; an hour later one continuation tries again)."""
MAX_REFUSALS = 4096

Open = Callable[[ChatRequest, VirtualModel], Awaitable[CommittedStream]]


class Host(Protocol):
    """What resuming needs of the router."""

    state: RouterState
    providers: dict[str, Provider]


class _Found:
    __slots__ = ("prompt_chars", "rest", "splice")

    def __init__(self, rest: CommittedStream, splice: Splice, prompt_chars: int) -> None:
        self.rest = rest
        self.splice = splice
        self.prompt_chars = prompt_chars


class Resumption:
    """Watches one committed stream and, if it breaks, brings the rest of its answer."""

    def __init__(self, config: Resume, plan: VirtualModel, host: Host, go_on: Open) -> None:
        self._config = config
        self._plan = plan
        self._host = host
        self._open = go_on
        self._used = 0
        self._broke: set[Target] = set()
        """Targets whose continuation broke in this request: not asked again."""
        self._original: continuation.AnyTranscript = continuation.OpenAITranscript()

    def attach(self, stream: CommittedStream) -> None:
        """Follow `stream` from its head on. This runs before the head reaches the caller:
        the events the attempt already parsed are observed as they are, not decoded and
        parsed again (the JSON of each is what `orjson.loads` of its data gives)."""
        original = continuation.transcript(stream.request.dialect, self._config.max_chars)
        events = stream.head_events
        if events is None:  # translated: the head is the caller's dialect, not parsed yet
            events = [(event.data, UNPARSED) for event in SSEDecoder().feed(stream.head)]
        for data, obj in events:
            if obj is UNPARSED or obj is None:  # None: `[DONE]`, or JSON null
                try:
                    obj = orjson.loads(data)
                except orjson.JSONDecodeError:
                    original.resumable = False
                    continue
            original.observe(obj)
        self._original = original
        stream.observers.append(original.observe)

    async def __call__(
        self, stream: CommittedStream, error: UpstreamError
    ) -> AsyncIterator[bytes] | None:
        original = self._original
        converter = stream.converter
        taken = None
        if isinstance(original, ResponsesTranscript) and converter is None:
            # Relayed as it came from a Responses target: failsoft's own encoder takes over.
            converter = taken = responses_continuation.relay_converter(original)
        encoder = converter.encoder if converter is not None else None
        if isinstance(original, ResponsesTranscript) and converter is None:
            # Reasoning only, relayed from a Responses target: nothing to continue.
            afresh = answer_afresh(stream, original, error, self._plan, self._open,
                                   self._host.state, MIN_TIME_LEFT)  # fmt: skip
            if afresh is not None:
                return afresh
        why = None
        if not original.resumable:
            why = "the answer so far is not plain text (or too long to keep)"
        elif stream.request.dialect == "responses" and not isinstance(encoder, ResponsesEncoder):
            why = "the stream's items could not be followed"
        elif not original.text.strip():
            why = "nothing was said yet"
        elif stream.deadline.remaining() < MIN_TIME_LEFT:
            why = "the request's deadline is (nearly) spent"
        elif self._budget(stream.request) == 0:
            why = "the answer already used its max_tokens"
        if why is not None:
            log.warning("%s: cannot resume: %s", stream.request.request_id, why)
            self._host.state.counters.add("resume_failed", stream.target)
            return None
        if taken is not None:
            stream.take_over(taken)
        return self._resume(stream, error)

    # ------------------------------------------------------------------ the relay

    async def _resume(
        self, stream: CommittedStream, error: UpstreamError
    ) -> AsyncGenerator[bytes, None]:
        request = stream.request
        original = self._original
        counters = self._host.state.counters
        include = bool((request.payload.get("stream_options") or {}).get("include_usage"))
        framer = continuation.framer(original, include, stream.converter)
        tally = Tally(
            prompt=continuation.prompt_tokens(original),
            delivered=continuation.estimate_tokens(original.text, original.deltas),
        )
        # Scrubbed like failsoft's own error event: this comment reaches the caller too.
        reason = " ".join(stream.attempt.provider.scrub_text(error.message).split())
        yield f": failsoft: the stream broke ({reason}); fetching the rest\n\n".encode()
        broken = error
        why = "no target could continue it"
        while True:
            if self._used >= self._config.max_resumes or not original.resumable:
                break
            self._used += 1
            search = asyncio.ensure_future(self._find(stream))
            try:
                while not search.done():
                    await asyncio.wait({search}, timeout=KEEPALIVE)
                    if not search.done():
                        yield framer.keepalive()
            finally:
                if not search.done():
                    search.cancel()
                    await asyncio.gather(search, return_exceptions=True)
            found = search.result()
            if found is None:
                break
            reader = continuation.transcript(request.dialect)
            outcome = None
            try:
                async for data in self._relay(found, reader, framer):
                    yield data
            except _Failed as exc:
                outcome = exc
            finally:
                await found.rest.aclose()
            tally.continued += continuation.output_tokens(reader)
            self._count_prompt(found, reader, tally, original)
            if outcome is not None:
                counters.add("resume_unverified", found.rest.target)
                counters.add("resume_failed", stream.target)
                log.warning(
                    "%s: the continuation from %s was not relayed: %s",
                    request.request_id,
                    found.rest.target.label,
                    outcome,
                )
                yield stream.failure_frame(broken, f"{found.rest.target.label}: {outcome}")
                return
            if outcome is None and found.rest.error is None:
                log.info(
                    "%s: resumed the answer from %s on %s (%s); the continuation's prompt "
                    "cost %s input tokens",
                    request.request_id,
                    stream.target.label,
                    found.rest.target.label,
                    found.splice.how,
                    continuation.prompt_tokens(reader),
                )
                counters.add("resumed", stream.target)
                stream.complete = True
                stream.resumed = True
                yield framer.finish(reader.stop, tally)
                return
            # The continuation broke too: once more, from everything said so far.
            self._broke.add(found.rest.target)
            why = f"the continuation from {found.rest.target.label} broke as well"
        counters.add("resume_failed", stream.target)
        yield stream.failure_frame(broken, why)

    async def _relay(
        self,
        found: _Found,
        reader: continuation.AnyTranscript,
        framer: continuation.AnyFramer,
    ) -> AsyncGenerator[bytes, None]:
        splice = found.splice
        decoder = SSEDecoder()
        loop = asyncio.get_running_loop()
        quiet_since = loop.time()
        async for data in found.rest:
            for event in decoder.feed(data):
                obj = _parse(event.data)
                if obj is None:
                    continue
                added = reader.observe(obj)
                if not reader.resumable:
                    raise _Failed("the continuation was not plain text")
                if not added:
                    continue
                try:
                    text = splice.feed(added)
                except Unverifiable as exc:
                    raise _Failed(str(exc)) from None
                if text:
                    yield framer.text(text)
                    quiet_since = loop.time()
                elif loop.time() - quiet_since >= KEEPALIVE:
                    yield framer.keepalive()  # still checking: keep the caller's connection
                    quiet_since = loop.time()
        if found.rest.error is not None:
            return  # broke: the caller's stream goes on with the next continuation
        try:
            text = splice.end()
        except Unverifiable as exc:
            raise _Failed(str(exc)) from None
        if text:
            yield framer.text(text)

    # ------------------------------------------------------------------ finding one

    async def _find(self, stream: CommittedStream) -> _Found | None:
        """The first target that takes the continuation: the others, then the one that
        broke; each with a prefill where it supports one, else with a user turn."""
        state = self._host.state
        broke = self._broke
        targets = [t for t in self._plan.targets if t != stream.target and t not in broke]
        if stream.target not in broke:
            targets.append(stream.target)
        json_only = continuation.forced_json(stream.request.dialect, stream.request.payload)
        for target in targets:
            prefill = self._prefill(target)
            for use_prefill in (True, False) if prefill else (False,):
                if not use_prefill and json_only:
                    continue
                if stream.deadline.remaining() < MIN_TIME_LEFT:
                    return None
                request, splice, prompt_chars = self._request(stream, target, use_prefill)
                plan = dataclasses.replace(self._plan, targets=(target,), weights=())
                try:
                    rest = await self._open(request, plan)
                except UpstreamClientFault as exc:
                    if use_prefill and exc.error.status in (400, 422):
                        refused = state.prefill_refused
                        if target not in refused and len(refused) >= MAX_REFUSALS:
                            del refused[next(iter(refused))]
                        refused[target] = state.clock.monotonic()
                        state.counters.add("prefill_refused", target)
                        log.info(
                            "%s: %s refused the prefill of a continuation (%s); asking "
                            "with a user turn from now on",
                            stream.request.request_id,
                            target.label,
                            exc.error.status,
                        )
                        continue
                    log.info("%s: %s cannot continue: %s", stream.request.request_id,
                             target.label, exc)  # fmt: skip
                    break
                except FailsoftError as exc:
                    log.info("%s: %s cannot continue: %s", stream.request.request_id,
                             target.label, exc)  # fmt: skip
                    break
                return _Found(rest, splice, prompt_chars)
        return None

    def _prefill(self, target: Target) -> bool:
        """Whether `target` really continues an assistant prefill (see the module doc)."""
        setting = self._config.prefill
        provider = self._host.providers[target.provider]
        if setting == "auto":
            setting = provider.config.prefill
        state = self._host.state
        refused = state.prefill_refused.get(target)
        if refused is not None and state.clock.monotonic() - refused < REFUSAL_MEMORY:
            return False
        if setting == "off":
            return False
        if setting == "on":
            return True
        # auto: what is known per dialect. OpenAI's API takes a final assistant message
        # but starts a fresh turn (not a continuation); Gemini's behaviour is not
        # documented; Anthropic continues it, except the models that refuse it.
        return provider.dialect == "anthropic" and not PREFILL_REFUSERS.search(target.model)

    def _budget(self, request: ChatRequest) -> int | None:
        """Output tokens the continuation may use (None: the caller set no limit)."""
        limit = continuation.max_tokens(request.dialect, request.payload)
        if limit is None:
            return None
        original = self._original
        return max(0, limit - continuation.estimate_tokens(original.text, original.deltas))

    def _request(
        self, stream: CommittedStream, target: Target, prefill: bool
    ) -> tuple[ChatRequest, Splice, int]:
        original = self._original
        said = original.text
        config = self._config
        request = stream.request
        if prefill:
            kept = said.rstrip()
            splice = Splice(said, "prefill", said[len(kept) :])
            payload = continuation.continuation_payload(
                request.dialect, request.payload, kept, None, self._budget(request)
            )
            prompt_chars = len(kept)
        else:
            splice = Splice(said, "verify")
            payload = continuation.continuation_payload(
                request.dialect, request.payload, said, config.prompt, self._budget(request)
            )
            prompt_chars = len(said) + len(config.prompt)
        provider = self._host.providers[target.provider]
        extra = VLLM_CONTINUE if prefill and provider.dialect == "openai" else {}
        resumed = dataclasses.replace(
            request,
            payload=payload,
            body=orjson.dumps(payload),
            stream=True,
            timeout=stream.deadline.remaining(),
            request_id=f"{request.request_id}-r{self._used}",
            client_retries=0,
            ir=None,
            translations={},
            upstream_extra=extra,
        )
        return resumed, splice, prompt_chars

    def _count_prompt(
        self,
        found: _Found,
        reader: continuation.AnyTranscript,
        tally: Tally,
        original: continuation.AnyTranscript,
    ) -> None:
        """The continuation's own prompt is billed too: counted for `/metrics`; and when
        the broken stream never said its prompt's size, estimated from it."""
        cost = continuation.prompt_tokens(reader)
        if cost is None:
            return
        self._host.state.counters.add("resume_prompt_tokens", found.rest.target, cost)
        if tally.prompt is None:
            tally.prompt = max(0, cost - math.ceil(found.prompt_chars / 4))


class _Failed(Exception):
    """The continuation cannot be relayed (not plain text, or not verifiably joined)."""


def _parse(data: bytes) -> dict[str, Any] | None:
    """A continuation event's JSON; None for `[DONE]`, errors (see `rest.error`) and junk."""
    if data[:6] == b"[DONE]":
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(obj, dict) or obj.get("type") == "error" or "error" in obj:
        return None
    return obj

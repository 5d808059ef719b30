"""Conversation state for the Responses surface (`responses.store`).

The Responses API is stateful: a caller may send only its new turn plus the
`previous_response_id` of the answer before it. No provider but OpenAI holds OpenAI's
conversations, so failsoft keeps its own record: every answer it serves on
`/v1/responses` is kept under the id the caller saw, with the whole input of its turn (the
history already expanded) and its output. A request naming a kept response is expanded
here, before any target is chosen: the stored input and output, then the new input, with
`previous_response_id` removed. The router then sees an ordinary stateless request, so a
conversation begun on one provider continues on any other, of any dialect.

`instructions` are not carried from one turn to the next (they apply to one response only,
as in OpenAI's API); the previous turns' system and developer messages in `input` are.

Writes go through the store's queue (they never delay an answer); a small in-process cache
of the latest answers lets a `GET` or a next turn right after an answer find it before the
store has it. With storage off, a request with `previous_response_id` can only go to a
target that speaks the Responses API itself and holds the conversation; with no such
target in its plan it gets a 400 that says how to turn storage on.

With `auth:` on, each kept answer records its owner (the name of the key that asked for it)
and only that key finds it again: for any other key, a `GET`, a `DELETE`, its input items
and a `previous_response_id` naming it answer as if it did not exist (404, never 403,
which would confirm it does). Answers kept while `auth:` was off have no owner, and no key
finds them once it is on. Without `auth:`, anyone who knows an id may read it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson

from failsoft.clock import Clock
from failsoft.config import Config
from failsoft.errors import InvalidRequest, RequestError
from failsoft.store import QueuedStore, ResponseDropped, StoredResponse, StoreUnavailable

log = logging.getLogger("failsoft.server")

RECENT = 256
"""Answers kept in process memory at most, for a read right after the answer..."""
RECENT_BYTES = 32 * 1024 * 1024
"""...and their JSON's bytes at most."""
MAX_ID = 256
"""Longest response id looked up (ids failsoft serves are far shorter)."""
_KEPT = ("completed", "incomplete")
"""Statuses of answers worth continuing (a failed one has no output to continue from)."""


class PreviousResponseNotFound(InvalidRequest):
    code = "previous_response_not_found"


class ResponseNotFound(RequestError):
    status = 404
    anthropic_type = "not_found_error"
    code = "response_not_found"


class StorageOff(InvalidRequest):
    code = "unsupported_parameter"


class StoreAway(RequestError):
    """The store does not answer: the conversation cannot be read now (retrying may help)."""

    status = 503
    openai_type = "server_error"
    anthropic_type = "api_error"
    code = "store_unavailable"


@dataclass(slots=True)
class Turn:
    """One Responses request on its way: the body to route (expanded when it named a kept
    response), and what is kept of it with its answer."""

    payload: dict[str, Any]
    body: bytes
    keep: bool = False
    """Whether its answer is to be kept (storage on, and the caller did not say `store:
    false`)."""
    input: list[Any] = field(default_factory=list)
    """The whole input the model saw: stored history, then the new items."""
    previous: str | None = None
    owner: str | None = None
    """The name of the caller's key (`auth:` on), kept with the answer; None without auth."""


class Conversations:
    def __init__(self, config: Config, store: QueuedStore, clock: Clock) -> None:
        self.config = config
        self.settings = config.responses
        self.store = store
        self.clock = clock
        self._recent: OrderedDict[str, StoredResponse] = OrderedDict()
        self._recent_bytes = 0

    @property
    def enabled(self) -> bool:
        return self.settings.store

    # ------------------------------------------------------------------ requests

    async def expand(
        self, payload: dict[str, Any], body: bytes, model: str, owner: str | None = None
    ) -> Turn:
        """The request as it is routed; `RequestError` when it names a conversation that
        cannot be continued (or that `owner`, the caller's key name, does not own)."""
        previous = payload.get("previous_response_id")
        if previous is not None and not isinstance(previous, str):
            raise InvalidRequest("'previous_response_id' must be a string", param=_PREVIOUS)
        if not self.enabled:
            if previous is not None and not self._native(model):
                raise StorageOff(
                    f"'previous_response_id' needs the earlier turns, and failsoft keeps no "
                    f"conversations (responses.store is off) while no target of '{model}' "
                    "speaks the Responses API itself. Set `responses: {store: true}` in "
                    "failsoft's config to continue conversations on any provider, or send "
                    "the whole conversation in 'input'.",
                    param=_PREVIOUS,
                )
            return Turn(payload, body, owner=owner)
        keep = payload.get("store") is not False
        items = _items(payload.get("input"))
        if previous is None:
            return Turn(payload, body, keep, items, owner=owner)
        record = await self.find(previous, owner) if len(previous) <= MAX_ID else None
        if record is None:
            raise PreviousResponseNotFound(
                f"Previous response with id '{previous}' not found.", param=_PREVIOUS
            )
        history = list(record.get("input") or ())
        history.extend(_as_input(record.get("response", {}).get("output") or ()))
        expanded = {k: v for k, v in payload.items() if k != _PREVIOUS}
        expanded["input"] = history + items
        return Turn(expanded, orjson.dumps(expanded), keep, expanded["input"], previous, owner)

    def _native(self, model: str) -> bool:
        """Whether a target of `model` speaks the Responses API itself (`api: responses`),
        and so can be given the caller's `previous_response_id` as it is."""
        plan = self.config.resolve(model)
        if plan is None:
            return True  # the model is unknown: that is the error the caller should get
        for target in plan.targets:
            provider = self.config.providers.get(target.provider)
            if getattr(provider, "api", None) == "responses":
                return True
        return False

    # ------------------------------------------------------------------ answers

    def watch(self, turn: Turn) -> StreamWatch | None:
        """A reader of the answer's stream that keeps it once it is complete."""
        return StreamWatch(self, turn, self.settings.max_bytes) if turn.keep else None

    async def answered(self, turn: Turn, body: bytes) -> None:
        """A whole (non-streamed) answer was produced for `turn`: keep it."""
        if not turn.keep:
            return
        try:
            response = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        if isinstance(response, dict):
            await self.keep(turn, response)

    async def keep(self, turn: Turn, response: dict[str, Any]) -> None:
        """Keep an answer; never raises: a record that cannot be made must not cost the
        caller the answer it is about to receive."""
        try:
            await self._keep(turn, response)
        except Exception:
            log.exception("response %r not kept", response.get("id"))

    async def _keep(self, turn: Turn, response: dict[str, Any]) -> None:
        ident = response.get("id")
        if not isinstance(ident, str) or response.get("status") not in _KEPT:
            return
        kept = dict(response)
        kept["previous_response_id"] = turn.previous
        kept["instructions"] = turn.payload.get("instructions")
        kept["store"] = True
        record: dict[str, Any] = {"response": kept, "input": turn.input}
        if turn.owner is not None:
            record["owner"] = turn.owner
        body = orjson.dumps(record).decode()
        if len(body) > self.settings.max_bytes:
            log.warning(
                "response %s not kept: its conversation is %d bytes, over responses.max_bytes "
                "(%d); a later turn that names it gets previous_response_not_found",
                ident,
                len(body),
                self.settings.max_bytes,
            )
            return
        now = self.clock.wall()
        stored = StoredResponse(ident, now, now + self.settings.retention, body)
        self._remember(stored)
        await self.store.save_response(stored)

    # ------------------------------------------------------------------ reads

    async def find(self, ident: str, owner: str | None = None) -> dict[str, Any] | None:
        """`{"response": …, "input": […]}` of a kept response, or None (unknown, expired,
        deleted, or, when `owner` is given (`auth:` on), kept for another key);
        `StoreAway` when the store does not answer."""
        now = self.clock.wall()
        record = self._recent.get(ident)
        if record is not None and record.expires_at <= now:
            self._forget(ident)
            record = None
        if record is None:
            try:
                record = await self.store.stored_response(ident, now)
            except StoreUnavailable as exc:
                raise StoreAway(
                    f"failsoft's store does not answer, so response '{ident}' cannot be read "
                    f"now: {exc}"
                ) from None
        if record is None:
            return None
        found = orjson.loads(record.body)
        if not isinstance(found, dict):
            return None
        if owner is not None and found.get("owner") != owner:
            return None  # as if unknown: another key learns nothing of it
        return found

    async def delete(self, ident: str, owner: str | None = None) -> bool:
        if not self.enabled or await self.find(ident, owner) is None:
            return False
        self._forget(ident)
        await self.store.drop_response(ResponseDropped(ident))
        return True

    def _remember(self, record: StoredResponse) -> None:
        self._forget(record.id)
        self._recent[record.id] = record
        self._recent_bytes += len(record.body)
        while len(self._recent) > RECENT or self._recent_bytes > RECENT_BYTES:
            _, oldest = self._recent.popitem(last=False)
            self._recent_bytes -= len(oldest.body)

    def _forget(self, ident: str) -> None:
        old = self._recent.pop(ident, None)
        if old is not None:
            self._recent_bytes -= len(old.body)


class StreamWatch:
    """Reads the Responses events sent to the caller, for the final `response` object
    (`response.completed` or `.incomplete` carry it whole); every other event is only
    split off, never parsed."""

    __slots__ = ("_done", "_limit", "_owner", "_tail", "_turn")

    def __init__(self, owner: Conversations, turn: Turn, limit: int) -> None:
        self._owner = owner
        self._turn = turn
        self._limit = limit + 65_536
        self._tail = b""
        self._done = False

    async def feed(self, data: bytes) -> None:
        if self._done:
            return
        frames = (self._tail + data).split(b"\n\n")
        self._tail = frames.pop()
        for frame in frames:
            if _final(frame):
                self._done = True
                await self._keep(frame)
                return
        if len(self._tail) > self._limit:  # one event this big is the answer, too big
            self._done = True
            self._tail = b""
            log.warning(
                "a streamed response was not kept: its final event is over "
                "responses.max_bytes (%d)",
                self._owner.settings.max_bytes,
            )

    async def _keep(self, frame: bytes) -> None:
        for line in frame.split(b"\n"):
            if line.startswith(b"data:"):
                try:
                    event = orjson.loads(line[5:])
                except orjson.JSONDecodeError:
                    return
                response = event.get("response") if isinstance(event, dict) else None
                if isinstance(response, dict):
                    await self._owner.keep(self._turn, response)
                return


_PREVIOUS = "previous_response_id"
_FINAL = (b"event: response.completed", b"event: response.incomplete")


def _final(frame: bytes) -> bool:
    head = frame.lstrip()[:40]
    return head.startswith(_FINAL)


def _items(value: Any) -> list[Any]:
    """The request's `input` as items (a string is one user message)."""
    if isinstance(value, str):
        return [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}
        ]
    return list(value) if isinstance(value, list) else []


def _as_input(output: Any) -> list[Any]:
    """An answer's output items as the next turn's input (the Responses API takes them
    back as they came, ids and statuses included)."""
    return [item for item in output if isinstance(item, dict)]

"""The semantic cache: reuse an answer when the new question means the same as a stored one.

A request is reduced to two things:

* its *scope* (`scope_for`): everything the exact-match key covers except the conversation
  turns, i.e. the namespace (tenant), the dialect, the virtual model / plan, the system
  prompt (OpenAI `system`/`developer` messages, Anthropic `system`, Gemini
  `systemInstruction`), the tools, and the other answer-shaping fields (`response_format`,
  `temperature`, `max_tokens`, ...). Answers never cross scopes, so one tenant's, one
  prompt's or one output format's answers are never served for another;
* its *last user text* (`last_user_text`), which is embedded and compared, within the
  scope, with the texts of the stored answers.

Earlier turns are not part of the scope (the issue scopes by plan and system prompt): a
follow-up such as "and its population?" is compared as it stands, so it can hit the same
follow-up asked after a different first question. Pass `history=True` to `scope_for` to
scope by the earlier turns too, which is safe for multi-turn chats but makes their hits
rare.

The index is brute force: one float32 matrix per scope, one matrix-vector product per
lookup (on one BLAS thread, see `_one_blas_thread`), run on the event loop. Measured on
this 2-core machine while other work ran on it: p50 ~1 ms at 10k entries, ~7 ms at 50k,
growing linearly with the scope's size (1.5 KB of matrix per entry). So keep scopes below
~30k entries where a lookup must stay under 5 ms; past ~50k an approximate index (or the
search in a thread) would be the next step. Hence the per-scope bound (50k by default)
and the overall one.

Nothing here imports numpy, torch or the model at import time (see `failsoft.cache.embed`).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from failsoft.cache.embed import (
    DIM,
    INSTALL_HINT,
    Embedder,
    EmbedderBusy,
    SemanticUnavailable,
    TextTooLong,
    check_available,
    normalise,
)
from failsoft.cache.key import canonical

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from failsoft.cache.embed import Vector

__all__ = [
    "DEFAULT_THRESHOLD",
    "INSTALL_HINT",
    "Embedder",
    "EmbedderBusy",
    "SemanticCache",
    "SemanticIndex",
    "SemanticUnavailable",
    "TextTooLong",
    "check_available",
    "last_user_text",
    "scope_for",
]

log = logging.getLogger("failsoft.cache.semantic")

DEFAULT_THRESHOLD = 0.92
"""Cosine similarity at or above which a stored answer is reused.

Chosen from pairs measured with this model (texts normalised as `normalise` does):
paraphrases that should hit scored 0.94-0.97 ("What is the capital of France?" / "Which
city is France's capital?" 0.96; reversing a Python list, two phrasings, 0.97; Hamlet
summary 0.94), while near-misses that must not scored up to 0.87 ("What is 2+2?" /
"What is 2+3?" 0.87; boiling point in Celsius / in Fahrenheit 0.86; France's / Germany's
capital 0.47). 0.92 keeps a margin on both sides; it still misses some true paraphrases
(string to int in Python, two phrasings: 0.88), the price of never serving 2+2 for 2+3.
"""

SCOPE_VERSION = 1
"""Part of every scope: bump it when what a scope covers changes, so old entries miss."""

_NON_TURN_ROLES = frozenset({"system", "developer"})


class _Scope:
    """One scope's entries: rows of a matrix that grows by doubling, with a free list."""

    __slots__ = ("created", "free", "keys", "live", "order", "size", "vectors")

    def __init__(self, dim: int, capacity: int) -> None:
        import numpy as np

        self.vectors: NDArray[np.float32] = np.zeros((capacity, dim), np.float32)
        self.created: NDArray[np.float64] = np.zeros(capacity, np.float64)
        self.live: NDArray[np.bool_] = np.zeros(capacity, np.bool_)
        self.keys: list[str | None] = [None] * capacity
        self.order: OrderedDict[str, int] = OrderedDict()
        """Key to row, oldest first."""
        self.free: list[int] = []
        self.size = 0
        """Rows in use or freed; rows past it were never used."""

    def row_for(self, limit: int) -> int:
        import numpy as np

        if self.free:
            return self.free.pop()
        capacity = len(self.keys)
        if self.size == capacity:
            grown = min(capacity * 2, max(limit, capacity))
            self.vectors = np.concatenate(
                [self.vectors, np.zeros((grown - capacity, self.vectors.shape[1]), np.float32)]
            )
            self.created = np.concatenate([self.created, np.zeros(grown - capacity)])
            self.live = np.concatenate([self.live, np.zeros(grown - capacity, np.bool_)])
            self.keys.extend([None] * (grown - capacity))
        self.size += 1
        return self.size - 1


class SemanticIndex:
    """Unit vectors and the cache keys they stand for, searched by cosine within a scope.

    At most `max_per_scope` entries per scope and `max_entries` in all; past either the
    oldest entry (of the scope, or of all) goes. A key re-added to a scope replaces its
    entry. Times (`created_at`, `now`) are seconds on any one clock the caller keeps to.
    Used from one event loop; it is not thread-safe.
    """

    def __init__(
        self, *, dim: int = DIM, max_per_scope: int = 50_000, max_entries: int = 200_000
    ) -> None:
        if max_per_scope < 1 or max_entries < 1:
            raise ValueError("the index bounds must be positive")
        self.dim = dim
        self.max_per_scope = max_per_scope
        self.max_entries = max_entries
        self._scopes: dict[str, _Scope] = {}
        self._order: OrderedDict[tuple[str, str], None] = OrderedDict()
        """(scope, key) of every entry, oldest first."""
        self._scopes_of: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._order)

    def scope_size(self, scope: str) -> int:
        found = self._scopes.get(scope)
        return len(found.order) if found else 0

    def add(self, scope: str, vector: Vector, key: str, created_at: float) -> None:
        import numpy as np

        vector = np.asarray(vector, np.float32)
        if vector.shape != (self.dim,):
            raise ValueError(f"expected a vector of shape ({self.dim},), got {vector.shape}")
        self._drop(scope, key)
        while len(self._order) >= self.max_entries:
            self._drop(*next(iter(self._order)))
        found = self._scopes.get(scope)
        if found is None:
            found = self._scopes[scope] = _Scope(self.dim, min(64, self.max_per_scope))
        while len(found.order) >= self.max_per_scope:
            self._drop(scope, next(iter(found.order)))
        row = found.row_for(self.max_per_scope)
        found.vectors[row] = vector
        found.created[row] = created_at
        found.live[row] = True
        found.keys[row] = key
        found.order[key] = row
        self._order[(scope, key)] = None
        self._scopes_of.setdefault(key, set()).add(scope)
        self._scopes.setdefault(scope, found)  # in case an eviction above emptied it

    def nearest(
        self,
        scope: str,
        vector: Vector,
        *,
        now: float | None = None,
        max_age: float | None = None,
    ) -> tuple[str, float] | None:
        """The most similar entry of `scope` (no older than `max_age` at `now`), if any."""
        import numpy as np

        found = self._scopes.get(scope)
        if found is None:
            return None
        n = found.size
        valid = found.live[:n]
        if max_age is not None:
            if now is None:
                raise ValueError("max_age needs now")
            valid = valid & (found.created[:n] >= now - max_age)
        if not valid.any():
            return None
        with _one_blas_thread():
            products = found.vectors[:n] @ np.asarray(vector, np.float32)
        similarity = np.where(valid, products, -np.inf)
        row = int(np.argmax(similarity))
        key = found.keys[row]
        assert key is not None
        return key, float(similarity[row])

    def remove(self, key: str) -> int:
        """Forget `key` in every scope (e.g. when its answer left the answer cache)."""
        scopes = list(self._scopes_of.get(key, ()))
        for scope in scopes:
            self._drop(scope, key)
        return len(scopes)

    def prune(self, now: float, max_age: float) -> int:
        """Forget every entry older than `max_age`; return how many went."""
        old = [
            (scope, key)
            for scope, found in self._scopes.items()
            for key, row in found.order.items()
            if found.created[row] < now - max_age
        ]
        for scope, key in old:
            self._drop(scope, key)
        return len(old)

    def _drop(self, scope: str, key: str) -> None:
        found = self._scopes.get(scope)
        if found is None or key not in found.order:
            return
        row = found.order.pop(key)
        found.live[row] = False
        found.keys[row] = None
        found.free.append(row)
        del self._order[(scope, key)]
        owners = self._scopes_of[key]
        owners.discard(scope)
        if not owners:
            del self._scopes_of[key]
        if not found.order:
            del self._scopes[scope]  # frees its matrix; a busy scope's never shrinks


@functools.cache
def _blas_controller() -> Any:
    try:
        return importlib.import_module("threadpoolctl").ThreadpoolController()
    except ImportError:  # comes with the model's dependencies (scikit-learn), not with numpy
        return None


def _one_blas_thread() -> contextlib.AbstractContextManager[object]:
    """One BLAS thread for a search, not OpenBLAS's default of one per core.

    On a busy 2-core machine a 2-thread product spins waiting for its second thread: p50
    8 ms at 10k entries against 1 ms on one thread, and worse tails at 50k. The search
    runs on the event loop, which gains nothing from a second thread it has to wait for.
    """
    controller = _blas_controller()
    if controller is None:
        return contextlib.nullcontext()
    limiter: contextlib.AbstractContextManager[object] = controller.limit(limits=1, user_api="blas")
    return limiter


class SemanticCache:
    """Embedder + index, for the gateway: it never delays a request for the model.

    Until the model has loaded (`warm()`, or in the background from the first call on),
    lookups miss and additions are skipped; a model that cannot load is logged once and
    the cache keeps missing. Texts with nothing to embed or too long for the model, and a
    full embedding queue, are misses too: the cache can cost a miss, never an error.
    """

    def __init__(
        self,
        embedder: Embedder | None = None,
        index: SemanticIndex | None = None,
        *,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.embedder = embedder if embedder is not None else Embedder()
        self.index = index if index is not None else SemanticIndex()
        self.threshold = threshold

    @property
    def ready(self) -> bool:
        return self.embedder.state == "ready"

    async def warm(self) -> None:
        """Load the model now; raises `SemanticUnavailable` (with install steps) if it can't."""
        await self.embedder.load()

    async def add(self, scope: str, text: str, key: str, now: float) -> bool:
        """Remember that `key`'s answer answers `text` in `scope`; false when skipped."""
        vector = await self._embed(text)
        if vector is None:
            return False
        self.index.add(scope, vector, key, now)
        return True

    async def lookup(
        self,
        scope: str,
        text: str,
        threshold: float | None = None,
        now: float | None = None,
        max_age: float | None = None,
    ) -> tuple[str, float] | None:
        """The key of the closest stored text in `scope` if it is similar enough."""
        vector = await self._embed(text)
        if vector is None:
            return None
        found = self.index.nearest(scope, vector, now=now, max_age=max_age)
        limit = self.threshold if threshold is None else threshold
        if found is None or found[1] < limit:
            return None
        return found

    def remove(self, key: str) -> int:
        return self.index.remove(key)

    def prune(self, now: float, max_age: float) -> int:
        return self.index.prune(now, max_age)

    def close(self) -> None:
        self.embedder.close()

    async def _embed(self, text: str) -> Vector | None:
        if self.embedder.state != "ready":
            self.embedder.start_loading()
            return None
        try:
            return await self.embedder.embed(text)
        except (ValueError, EmbedderBusy) as exc:  # TextTooLong is a ValueError
            log.debug("semantic cache skipped a text: %s", exc)
        except Exception:
            log.warning("semantic cache: embedding failed", exc_info=True)
        return None


def last_user_text(dialect: str, payload: Mapping[str, Any]) -> str | None:
    """The text of the newest turn if it is the user's and text only, else None.

    A turn that also carries an image, a file, audio or a tool result gives None rather
    than its text: "what is in this picture?" means something else with every picture,
    and the text beside a tool result depends on that result, neither of which is embedded.
    """
    if dialect == "gemini":
        contents = payload.get("contents")
        if not isinstance(contents, list) or not contents:
            return None
        turn = contents[-1]
        if not isinstance(turn, Mapping) or turn.get("role", "user") != "user":
            return None
        parts = turn.get("parts")
        if not isinstance(parts, list):
            return None
        texts = []
        for part in parts:
            if not isinstance(part, Mapping) or set(part) != {"text"}:
                return None
            texts.append(part["text"])
        return _joined(texts)
    if dialect == "responses":
        return _responses_last_user_text(payload.get("input"))
    if dialect not in ("openai", "anthropic"):
        return None
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages:
        return None
    turn = messages[-1]
    if not isinstance(turn, Mapping) or turn.get("role") != "user":
        return None
    return _text_only(turn.get("content"), "text")


def _responses_last_user_text(items: Any) -> str | None:
    """A Responses `input`: a string is one user turn; else its last item, if that is a
    user message of text only (`input_text` parts, or a string)."""
    if isinstance(items, str):
        return _joined([items])
    if not isinstance(items, list) or not items:
        return None
    turn = items[-1]
    if not isinstance(turn, Mapping) or turn.get("role") != "user":
        return None
    if turn.get("type", "message") != "message":
        return None
    return _text_only(turn.get("content"), "input_text")


def _text_only(content: Any, kind: str) -> str | None:
    """A turn's text when it holds nothing else (`kind` names a text part in its dialect):
    an image, a file, audio or a tool result makes it a question text alone cannot match."""
    if isinstance(content, str):
        return _joined([content])
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if not isinstance(part, Mapping) or part.get("type") != kind:
            return None
        texts.append(part.get("text"))
    return _joined(texts)


def _joined(texts: list[Any]) -> str | None:
    if not all(isinstance(text, str) for text in texts):
        return None
    text = normalise("\n".join(texts))
    return text or None


def scope_for(
    namespace: str, plan: str, dialect: str, payload: Mapping[str, Any], *, history: bool = False
) -> str:
    """The scope (hex sha256) of a request: its exact-match key without its turns.

    `history=True` keeps the turns before the last one in the scope as well.
    """
    body = dict(payload)
    if dialect == "openai":
        messages = payload.get("messages")
        if isinstance(messages, list):
            body["messages"] = (
                messages[:-1]
                if history
                else [
                    m
                    for m in messages
                    if isinstance(m, Mapping) and m.get("role") in _NON_TURN_ROLES
                ]
            )
    elif dialect == "anthropic":
        messages = payload.get("messages")
        if isinstance(messages, list):
            body["messages"] = messages[:-1] if history else []
    elif dialect == "gemini":
        contents = payload.get("contents")
        if isinstance(contents, list):
            body["contents"] = contents[:-1] if history else []
    elif dialect == "responses":
        items = payload.get("input")
        items = [items] if isinstance(items, str) else items
        if isinstance(items, list):
            body["input"] = (
                items[:-1]
                if history
                else [
                    i for i in items if isinstance(i, Mapping) and i.get("role") in _NON_TURN_ROLES
                ]
            )
    else:
        raise ValueError(f"no semantic scope for dialect {dialect!r}")
    head = f"failsoft-semantic-scope\x00{SCOPE_VERSION}\x00{int(history)}\x00".encode()
    return hashlib.sha256(head + canonical(dialect, plan, body, namespace)).hexdigest()

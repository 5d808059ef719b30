"""The models a provider lists, for `direct: ["@listed"]`: fetched in the background, never
on the request path.

A caller may name `provider/model` directly only for models failsoft serves that way
(docs/security.md#direct-model-names); `@listed` lets that set follow the provider's own
list (`GET /models`) instead of a hand-kept pattern. Each provider that asks for it gets one
task: a fetch at start-up, then one every `list_refresh`. What it keeps is bounded (names,
pages, bytes, time); a failed fetch keeps the last good list and is logged once per
episode. Until a first list arrives only plan targets and explicit patterns are admitted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import orjson

from failsoft.config import Config, ProviderConfig
from failsoft.config.schema import LISTED
from failsoft.providers.base import Provider
from failsoft.transport.http import FetchError, Transport, fetch

log = logging.getLogger("failsoft.providers.listing")

MAX_LISTED = 5000
"""Names kept per provider (further names are dropped, with a warning)."""
MAX_PAGES = 20
"""Pages fetched per list (Anthropic and Gemini paginate)."""
PAGE_BYTES = 4 << 20
"""Largest page read (a list of 1,000 models is ~300 kB)."""
PAGE_SECONDS = 10.0
"""Time one page may take."""
MAX_NAME = 256
"""Longest model name kept; longer or with control characters: skipped."""
PAGE_SIZE = 1000


class ListError(Exception):
    """The list could not be fetched or read (the message says why, never a key)."""


def listed(config: ProviderConfig) -> bool:
    return LISTED in config.direct


def page_url(provider: Provider, cursor: str | None) -> str:
    """Where one page of `provider`'s model list is (`cursor`: the previous page's)."""
    base = provider.config.normalized_url
    dialect = provider.config.dialect
    if dialect == "anthropic":
        url = f"{base}/v1/models?limit={PAGE_SIZE}"
        return url if cursor is None else f"{url}&after_id={quote(cursor, safe='')}"
    if dialect == "gemini":
        url = f"{base}/models?pageSize={PAGE_SIZE}"
        return url if cursor is None else f"{url}&pageToken={quote(cursor, safe='')}"
    return f"{base}/models"


def parse_page(dialect: str, body: Any) -> tuple[list[str], str | None]:
    """The model names on one page and the cursor of the next (None: last page).

    OpenAI: `data[].id`; Anthropic: `data[].id` with `has_more`/`last_id`; Gemini:
    `models[].name` without `models/`, only models that generate content, `nextPageToken`.
    """
    if not isinstance(body, dict):
        raise ListError("the answer is not a JSON object")
    if dialect == "gemini":
        items = body.get("models", [])
        if not isinstance(items, list):
            raise ListError("`models` is not a list")
        names = [
            item["name"].removeprefix("models/")
            for item in items
            if isinstance(item, dict) and isinstance(item.get("name"), str) and _generates(item)
        ]
        token = body.get("nextPageToken")
        return names, token if isinstance(token, str) and token else None
    items = body.get("data")
    if not isinstance(items, list):
        raise ListError("`data` is missing or not a list")
    names = [i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), str)]
    if dialect == "anthropic" and body.get("has_more") is True:
        last = body.get("last_id")
        return names, last if isinstance(last, str) and last else None
    return names, None


def _generates(item: dict[str, Any]) -> bool:
    methods = item.get("supportedGenerationMethods")
    if not isinstance(methods, list):
        return True
    return "generateContent" in methods or "streamGenerateContent" in methods


def _keep(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME and name.isprintable()


async def fetch_list(transport: Transport, provider: Provider) -> frozenset[str]:
    """Every model `provider` lists (at most MAX_LISTED), or ListError."""
    headers = {
        k: v
        for k, v in provider.headers({}).items()
        if k not in ("content-type", "accept-encoding")
    }
    names: dict[str, None] = {}
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        try:
            got = await fetch(
                transport,
                "GET",
                page_url(provider, cursor),
                headers=headers,
                seconds=PAGE_SECONDS,
                limit=PAGE_BYTES,
            )
        except FetchError as exc:
            raise ListError(provider.scrub_text(str(exc))) from None
        if got.status != 200:
            raise ListError(f"HTTP {got.status}")
        try:
            body = orjson.loads(got.body)
        except orjson.JSONDecodeError:
            raise ListError("the answer is not JSON") from None
        page, next_cursor = parse_page(provider.config.dialect, body)
        for name in page:
            if _keep(name):
                names.setdefault(name, None)
        if len(names) >= MAX_LISTED:
            log.warning(
                "%s lists more than %d models; the rest are not admitted", provider.name, MAX_LISTED
            )
            return frozenset(list(names)[:MAX_LISTED])
        if next_cursor is None or next_cursor == cursor:
            return frozenset(names)
        cursor = next_cursor
    log.warning(
        "%s: model list longer than %d pages; the rest is not admitted", provider.name, MAX_PAGES
    )
    return frozenset(names)


class ModelLister:
    """One background task per provider with `@listed`; the lists go to `names().listed`.

    `names` returns the running config's `ModelNames` (a reload swaps it), so a new list is
    seen by the next request, and a reload hands the new config the lists already got.
    """

    def __init__(
        self, transport: Transport, names: Callable[[], dict[str, frozenset[str]]]
    ) -> None:
        self.transport = transport
        self._names = names
        self.lists: dict[str, frozenset[str]] = {}
        """Provider → the last list it gave."""
        self.failures: dict[str, int] = {}
        """Provider → failed fetches in a row (0 after a success)."""
        self.fetches: dict[str, int] = {}
        """Provider → lists fetched successfully (tests poll on it)."""
        self._tasks: dict[str, tuple[ProviderConfig, asyncio.Task[None]]] = {}
        self._stopped: list[asyncio.Task[None]] = []
        """Tasks a reload cancelled, awaited by `close()` (pruned as they end)."""
        self._providers: dict[str, Provider] = {}

    def start(self, config: Config, providers: dict[str, Provider]) -> None:
        """Fetch the lists `config` asks for (again for a provider whose config changed),
        stop fetching the others; hand the lists kept to the running config."""
        wanted = {n: p for n, p in providers.items() if n in config.providers and listed(p.config)}
        self._providers = wanted
        for name in [n for n in self._tasks if n not in wanted]:
            self._stop(self._tasks.pop(name)[1])
            self.lists.pop(name, None)
            self.failures.pop(name, None)
        for name, provider in wanted.items():
            running = self._tasks.get(name)
            if running is not None and running[0] == provider.config:
                continue
            if running is not None:
                self._stop(running[1])
            task = asyncio.create_task(self._run(name, provider), name=f"list-models-{name}")
            self._tasks[name] = (provider.config, task)
        target = self._names()
        target.clear()
        target.update(self.lists)

    def _stop(self, task: asyncio.Task[None]) -> None:
        task.cancel()
        self._stopped = [t for t in self._stopped if not t.done()]
        self._stopped.append(task)

    async def close(self) -> None:
        tasks = [task for _, task in self._tasks.values()] + self._stopped
        self._tasks.clear()
        self._stopped = []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _run(self, name: str, provider: Provider) -> None:
        while True:
            await self.refresh(name, provider)
            await asyncio.sleep(provider.config.list_refresh)

    async def refresh(self, name: str, provider: Provider) -> None:
        """Fetch `name`'s list once; on failure keep the last (warned once per episode)."""
        try:
            got = await fetch_list(self.transport, provider)
        except Exception as exc:  # one provider's odd answer must not end its task
            if not isinstance(exc, ListError):
                exc = ListError(type(exc).__name__)
            failed = self.failures.get(name, 0)
            self.failures[name] = failed + 1
            if failed == 0:
                kept = self.lists.get(name)
                log.warning(
                    "%s: cannot fetch its model list (%s); %s",
                    name,
                    exc,
                    f"keeping the last one ({len(kept)} models)"
                    if kept is not None
                    else "only plan targets and `direct` patterns are admitted",
                )
            return
        if self.failures.get(name):
            log.info("%s: model list fetched again (%d models)", name, len(got))
        self.failures[name] = 0
        self.fetches[name] = self.fetches.get(name, 0) + 1
        if self._providers.get(name) is not provider:
            return  # replaced by a reload meanwhile
        self.lists[name] = got
        self._names()[name] = got

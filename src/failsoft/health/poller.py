"""Polls one provider's public status page and keeps its last good reading.

A status page is a second opinion next to failsoft's own error rates, so the poller is
deliberately polite and stubborn: conditional requests (a 304 costs the page nothing), a
random first delay so a fleet of gateways does not poll in lockstep, exponential backoff with
jitter when the page itself is failing (status pages fall over during the very outages they
report), `Retry-After` honoured, and never an exception out of the loop. A failed poll keeps
the last good reading, marked with `error`, rather than forgetting what the page said.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson

from failsoft.clock import Clock
from failsoft.health.statuspage import (
    StatusPageError,
    parse_any,
    parse_google_cloud,
    parse_incidentio_widget,
    parse_statuspage,
)
from failsoft.health.types import ProviderStatus
from failsoft.transport.http import FetchError, Transport, fetch

log = logging.getLogger("failsoft.health")

Kind = Literal["auto", "statuspage", "incidentio", "google"]

_PARSERS: dict[Kind, Callable[[Any, str, str, datetime], ProviderStatus]] = {
    "auto": parse_any,
    "statuspage": parse_statuspage,
    "incidentio": parse_incidentio_widget,
    "google": parse_google_cloud,
}
_LIMIT = 32 << 20
"""Google's incidents.json is the whole history (megabytes); Statuspage summaries are small."""
_OFF_LOOP = 1 << 20
"""Bodies larger than this are decoded in a thread, not on the event loop."""


def resolve_urls(url: str, kind: Kind = "auto") -> tuple[str, str]:
    """(the JSON URL to fetch, the page's human URL) for a configured `url`.

    A page's base (`https://status.claude.com`) gets the kind's usual path: Statuspage's
    `/api/v2/summary.json` (also served by incident.io; `auto`), incident.io's widget
    `/proxy/<host>`, Google's `/incidents.json`. A full JSON URL (ending in `.json`, or under
    `/proxy/` or `/api/`) is fetched as is, and the page's URL is what precedes that path.
    """
    url = url.strip()
    base = url.rstrip("/")
    parts = urlsplit(base)
    path = parts.path
    if not (path.endswith(".json") or "/proxy/" in path or "/api/" in path):
        if kind == "incidentio":
            return f"{base}/proxy/{parts.hostname}", base
        if kind == "google":
            return f"{base}/incidents.json", base
        return f"{base}/api/v2/summary.json", base
    for marker in ("/proxy/", "/api/"):
        if marker in path:
            path = path[: path.index(marker)]
            break
    else:
        path = path.rsplit("/", 1)[0]
    return url, urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _changed(old: ProviderStatus | None, new: ProviderStatus) -> bool:
    """Whether a consumer needs to hear of `new`: the page says something else, or polling
    started or stopped failing (a new fetch time or a reworded error is not news)."""
    if old is None or (old.error is None) != (new.error is None):
        return True
    return dataclasses.replace(old, fetched_at=None, error=None) != dataclasses.replace(
        new, fetched_at=None, error=None
    )


class StatusPagePoller:
    """Reads one provider's status page every `interval` seconds (longer while it fails)."""

    def __init__(
        self,
        provider: str,
        url: str,
        transport: Transport,
        *,
        clock: Clock,
        interval: float = 60.0,
        kind: Kind = "auto",
        timeout: float = 10.0,
        max_backoff: float = 900.0,
        rng: random.Random | None = None,
    ) -> None:
        if interval <= 0 or timeout <= 0:
            raise ValueError("interval and timeout must be positive")
        if kind not in _PARSERS:
            raise ValueError(f"unknown status page kind {kind!r}")
        self.provider = provider
        self.kind = kind
        self.url, self.page_url = resolve_urls(url, kind)
        self._transport = transport
        self._clock = clock
        self._interval = interval
        self._timeout = timeout
        self._max_backoff = max(max_backoff, interval)
        self._rng = rng if rng is not None else random.Random()
        self._parse = _PARSERS[kind]
        self._good: ProviderStatus | None = None
        self._current: ProviderStatus | None = None
        self._etag: str | None = None
        self._modified: str | None = None
        self._failures = 0
        # The first poll comes after a random pause, so gateways started together spread out.
        self._delay = self._rng.random() * min(5.0, interval)

    @property
    def status(self) -> ProviderStatus | None:
        """What the last poll returned (None before the first)."""
        return self._current

    @property
    def failures(self) -> int:
        """Polls failed in a row."""
        return self._failures

    def next_delay(self) -> float:
        """Seconds to wait before the next poll: the initial random pause, `interval` after a
        success, a backoff (or the page's `Retry-After`) after a failure."""
        return self._delay

    async def poll_once(self) -> ProviderStatus:
        """Fetch and read the page once. Never raises (except cancellation): a failure returns
        the last good reading with `error` set, or, before any success, an empty reading with
        indicator `none` and `error` set, since a page that cannot be read says nothing
        about the provider; `error` is what tells consumers the page is unknown."""
        headers = {"accept": "application/json"}
        if self._etag:
            headers["if-none-match"] = self._etag
        if self._modified:
            headers["if-modified-since"] = self._modified
        try:
            got = await fetch(
                self._transport,
                "GET",
                self.url,
                headers=headers,
                seconds=self._timeout,
                limit=_LIMIT,
            )
        except FetchError as exc:
            return self._fail(f"cannot fetch {self.url}: {exc}")
        except Exception as exc:  # an unusable URL, say: still a failed poll, not a crash
            return self._fail(f"cannot fetch {self.url}: {type(exc).__name__}: {exc}")
        now = datetime.fromtimestamp(self._clock.wall(), UTC)
        answer = {name.lower(): value for name, value in got.headers.items()}
        if got.status == 304 and self._good is not None:
            self._etag = answer.get("etag", self._etag)
            return self._succeed(dataclasses.replace(self._good, fetched_at=now, error=None))
        if not 200 <= got.status < 300:
            wait = answer.get("retry-after") if got.status in (429, 503) else None
            return self._fail(f"HTTP {got.status} from {self.url}", self._retry_after(wait))
        try:
            status = await self._read(got.body, now)
        except (orjson.JSONDecodeError, UnicodeDecodeError) as exc:
            return self._fail(f"{self.url} did not answer JSON ({exc})")
        except StatusPageError as exc:
            return self._fail(str(exc))
        except Exception as exc:  # a parser bug must not stop the polling
            log.debug("%s: cannot read %s", self.provider, self.url, exc_info=True)
            return self._fail(f"cannot read {self.url}: {type(exc).__name__}: {exc}")
        # Validators are kept only for a body that was read: a 304 must never vouch for
        # a page that did not parse.
        self._etag = answer.get("etag")
        self._modified = answer.get("last-modified")
        return self._succeed(status)

    async def _read(self, body: bytes, now: datetime) -> ProviderStatus:
        body = body.removeprefix(b"\xef\xbb\xbf")

        def read() -> ProviderStatus:
            return self._parse(orjson.loads(body), self.provider, self.page_url, now)

        return await asyncio.to_thread(read) if len(body) > _OFF_LOOP else read()

    def _succeed(self, status: ProviderStatus) -> ProviderStatus:
        if self._failures:
            log.info(
                "%s: status page %s readable again after %d failed polls",
                self.provider,
                self.url,
                self._failures,
            )
        self._failures = 0
        self._delay = self._interval
        self._good = self._current = status
        return status

    def _fail(self, error: str, retry_after: float | None = None) -> ProviderStatus:
        self._failures += 1
        if self._failures == 1:
            log.warning(
                "%s: status page poll failed: %s (backing off; logged again on recovery)",
                self.provider,
                error,
            )
        else:
            log.debug("%s: status page poll failed again: %s", self.provider, error)
        # Equal jitter: between half and all of the capped exponential step (never below
        # `interval`), so gateways that failed together do not retry together.
        step = min(self._max_backoff, self._interval * 2.0 ** min(self._failures, 64))
        self._delay = max(self._interval, step / 2 + self._rng.random() * step / 2)
        if retry_after is not None:
            # Honoured up to max_backoff: longer would leave failsoft blind for longer than
            # the operator said staleness is tolerable.
            self._delay = max(self._delay, min(retry_after, self._max_backoff))
        base = self._good or ProviderStatus(
            provider=self.provider,
            page_url=self.page_url,
            indicator="none",
            description="Status page unavailable",
        )
        self._current = dataclasses.replace(base, error=error)
        return self._current

    def _retry_after(self, value: str | None) -> float | None:
        """Seconds from a `Retry-After` header: a number of seconds or an HTTP date."""
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - self._clock.wall())

    async def run(self, on_update: Callable[[ProviderStatus], None]) -> None:
        """Poll forever, calling `on_update` with each reading that differs from the last one
        passed (content, or failing vs. readable). Only cancellation ends it."""
        told: ProviderStatus | None = None
        while True:
            await self._clock.sleep(self.next_delay())
            try:
                status = await self.poll_once()
            except Exception:  # poll_once catches everything; this is the last line
                log.exception("%s: status page poller error", self.provider)
                self._delay = self._max_backoff
                continue
            if _changed(told, status):
                told = status
                try:
                    on_update(status)
                except Exception:
                    log.exception("%s: status page update handler failed", self.provider)

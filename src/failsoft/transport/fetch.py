"""Control-plane HTTP (status pages, webhooks, probes, model lists, count_tokens): one
whole small response per call over the transport's aiohttp session, which decompresses and
follows redirects. Never on the proxied path. Its proxy is the one the proxied path would
take (proxies.py): aiohttp's own reading of the environment would ignore `https://` proxies,
`ALL_PROXY` and `host:port` entries of NO_PROXY."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

from failsoft.errors import PoolBusy
from failsoft.transport.pool import Pool
from failsoft.transport.proxies import Proxies, Proxy

if TYPE_CHECKING:
    from failsoft.transport.http import Transport

USER_AGENT = "failsoft/0.1"


@dataclass(frozen=True)
class Fetched:
    """A whole small response, for control-plane calls (status pages, webhooks, probes)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class FetchError(Exception):
    """The request got no HTTP answer (connect failure, timeout, reset, body too large)."""


async def fetch(
    transport: Transport,
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    seconds: float = 10.0,
    limit: int = 4 << 20,
    pool: Pool | None = None,
) -> Fetched:
    """One request, read whole (at most `limit` bytes) within `seconds` overall.

    Not for the proxied path: no streaming and a total timeout. Any failure to get an answer
    is a `FetchError` naming why; HTTP error statuses are answers and are returned. With
    `pool` (a caller-driven call to a provider, e.g. count_tokens) it takes one of that
    provider's slots, waiting at most `transport.pool_wait` for one.
    """
    if pool is None:
        return await _fetch(transport, method, url, headers, body, seconds, limit)
    if not pool.take():
        try:
            await pool.wait(min(transport.pool_wait, seconds))
        except PoolBusy as exc:
            raise FetchError(str(exc)) from None
    try:
        return await _fetch(transport, method, url, headers, body, seconds, limit)
    finally:
        pool.give()


async def _fetch(
    transport: Transport,
    method: str,
    url: str,
    headers: Mapping[str, str] | None,
    body: bytes | None,
    seconds: float,
    limit: int,
) -> Fetched:
    if transport._session is None:
        await transport.start()
    session = transport._session
    assert session is not None
    sent: Mapping[str, str] = {"user-agent": USER_AGENT, **(headers or {})}
    extra: dict[str, Any] = {}
    proxy = _proxy_for(transport.proxies, url)
    if proxy is not None:
        from failsoft.transport.aio import through

        sent = through(proxy, url.partition(":")[0].lower(), sent, extra)
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers=sent,
            timeout=aiohttp.ClientTimeout(total=seconds),
            auto_decompress=True,
            **extra,
        ) as resp:
            data = await resp.content.read(limit + 1)
            if len(data) > limit:
                raise FetchError(f"the answer is larger than {limit} bytes")
            return Fetched(resp.status, dict(resp.headers), data)
    except TimeoutError:
        raise FetchError(f"no answer within {seconds:g}s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise FetchError(why(exc)) from None


def _proxy_for(proxies: Proxies, url: str) -> Proxy | None:
    """The proxied path's choice of proxy for a control-plane URL (aiohttp's `trust_env`
    alone would ignore `ALL_PROXY` and `https://` proxies, and `host:port` in NO_PROXY)."""
    if not proxies:
        return None
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return None  # aiohttp says what is wrong with the URL
    if not parts.hostname or scheme not in ("http", "https"):
        return None
    return proxies.for_origin(scheme, parts.hostname, port)


def why(exc: BaseException) -> str:
    """An aiohttp failure in a few words (the OS's reason for a refused connection)."""
    text = str(exc).strip()
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        text = err.strerror or str(err) if err is not None else text
    return text or type(exc).__name__

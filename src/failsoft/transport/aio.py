"""The proxied path over aiohttp (`transport.client: aiohttp`): the operator's way back to
the client failsoft used before issue 18, should the native one (`h1.py`, `origins.py`)
misbehave with some upstream or proxy.

Same contract as the native client, so nothing above the transport can tell them apart:
the same `Upstream` interface, failsoft's errors with the same classes (and as far as
aiohttp says enough, the same messages), the same proxies (the route, with its proxy, is
decided by `origins.py` from the same `Proxies`; aiohttp's own `trust_env` is off), the
same trust (`default_tls()` or the transport's context, also for an `https://` proxy),
the same request bytes (no User-Agent, no Accept-Encoding, no decompression). What it
cannot do alike: a keep-alive connection the server had closed just as a POST went out
is the upstream's failure here (aiohttp does not send a POST again), and its read buffer
is aiohttp's (reading pauses above twice `READ_BUFSIZE`).

This is the old aiohttp implementation (git history before b41bdc8), with proxies.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from typing import Any

import aiohttp

from failsoft.errors import BadResponse, ConnectError, ConnectionLost, ConnectTimeout
from failsoft.transport.fetch import why as reason
from failsoft.transport.h1 import READ_BUFSIZE
from failsoft.transport.http import Upstream, must_wait
from failsoft.transport.origins import Route, default_tls, refusal
from failsoft.transport.pool import Pool
from failsoft.transport.proxies import Proxy


class AioClient:
    """One aiohttp session for the proxied path, made in (and bound to) the running loop.

    Its connector has no limit: how many connections a provider uses is its `Pool`'s
    business, and the connect timeout covers connecting (name, TCP, proxy, TLS) only.
    """

    def __init__(
        self, loop: asyncio.AbstractEventLoop, keepalive: float, tls: ssl.SSLContext | None
    ) -> None:
        self.loop = loop
        self.connector = aiohttp.TCPConnector(
            limit=0,
            keepalive_timeout=keepalive,
            ttl_dns_cache=300,
            ssl=tls if tls is not None else default_tls(),
        )
        self.session = aiohttp.ClientSession(
            connector=self.connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            read_bufsize=READ_BUFSIZE,
            timeout=aiohttp.ClientTimeout(total=None),
            trust_env=False,  # the route says which proxy (proxies.py), as for native
        )
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

    def idle_count(self) -> int:
        conns: dict[Any, list[Any]] = getattr(self.connector, "_conns", {})
        return sum(len(idle) for idle in conns.values())

    async def close(self) -> None:
        await self.session.close()

    def _timeout(self, connect: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(connect)
        if timeout is None:
            if len(self._timeouts) > 64:
                self._timeouts.clear()
            # No limit on the connector: aiohttp's `connect` is then connecting only
            # (never a wait for a slot), name resolution and a proxy's CONNECT included.
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect, connect=connect)
            self._timeouts[connect] = timeout
        return timeout

    async def post(
        self,
        route: Route,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        connect_timeout: float,
        pool: Pool | None,
    ) -> AioUpstream:
        """As `Transport.post`: send, wait for the response's head (the caller gives
        `pool`'s slot back if this raises)."""
        proxy = route.proxy
        extra: dict[str, Any] = {}
        if proxy is not None:
            headers = through(proxy, route.scheme, headers, extra)
        try:
            resp = await self.session.post(
                url, data=body, headers=headers, timeout=self._timeout(connect_timeout), **extra
            )
        except BaseException as exc:
            error = _failure(exc, connect_timeout, proxy)
            if error is exc:
                raise
            raise error from None
        if proxy is not None and route.scheme == "http" and resp.status == 407:
            resp.close()
            raise ConnectError(f"cannot connect ({refusal(proxy, 407, 'the request')})")
        return AioUpstream(resp, pool)


def through(
    proxy: Proxy, scheme: str, headers: Mapping[str, str], extra: dict[str, Any]
) -> Mapping[str, str]:
    """aiohttp's arguments for a request through `proxy` (put in `extra`), and the
    request's headers: credentials go on the CONNECT for an https origin, on the request
    itself (which the proxy receives) for an http one, as the native client sends them."""
    extra["proxy"] = proxy.url
    if proxy.authorization is None:
        return headers
    if scheme == "https":
        extra["proxy_headers"] = {"Proxy-Authorization": proxy.authorization}
        return headers
    return {**headers, "Proxy-Authorization": proxy.authorization}


class AioUpstream(Upstream):
    """An `Upstream` read from an aiohttp response."""

    __slots__ = ("_resp",)

    def __init__(self, resp: aiohttp.ClientResponse, pool: Pool | None = None) -> None:
        self._conn = None
        self._resp = resp
        self._pool = pool
        self.status = resp.status
        self.headers = resp.headers
        self.poll = must_wait

    def __del__(self) -> None:
        # Dropped without release or close (a bug elsewhere, or a read that raised): the
        # connection is dropped and the slot must not be lost. The collector may run in
        # any thread: both happen on the loop's own.
        resp, pool = self._resp, self._pool
        self._pool = None
        loop = getattr(resp, "_loop", None)
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_drop, resp, pool)

    def _give(self) -> None:
        pool = self._pool
        if pool is not None:
            self._pool = None
            pool.give()

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    async def readany(self) -> bytes:
        try:
            return await self._resp.content.readany()
        except aiohttp.ClientPayloadError:
            self._resp.close()  # never reusable: dropped now, not when collected
            raise ConnectionLost("the connection closed in the middle of the response") from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            self._resp.close()
            raise ConnectionLost(f"connection lost while reading ({reason(exc)})") from None

    def finish(self) -> None:
        if self._resp.content.is_eof():
            self._resp.release()
        else:
            self._resp.close()
        self._give()

    def release(self) -> None:
        self._resp.release()
        self._give()

    def close(self) -> None:
        self._resp.close()
        self._give()


def _drop(resp: aiohttp.ClientResponse, pool: Pool | None) -> None:
    resp.close()
    if pool is not None:
        pool.give()


def _failure(exc: BaseException, connect_timeout: float, proxy: Proxy | None) -> BaseException:
    """failsoft's error for what sending raised (anything else as it was), worded as the
    native client's (origins.py `_connect_error`)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout(f"no connection within {connect_timeout:g}s")
    if isinstance(exc, aiohttp.ClientHttpProxyError) and proxy is not None:
        return ConnectError(f"cannot connect ({refusal(proxy, exc.status, 'CONNECT')})")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert = exc.certificate_error
        why = getattr(cert, "verify_message", None) or str(cert)
        return ConnectError(f"cannot connect ({_at(exc, proxy)}certificate verify failed: {why})")
    if isinstance(exc, aiohttp.ClientConnectorSSLError):
        err = exc.os_error
        why = getattr(err, "reason", None) or str(err)
        return ConnectError(f"cannot connect ({_at(exc, proxy)}TLS: {why})")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"cannot connect ({_at(exc, proxy)}{reason(exc)})")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ConnectionLost("the server closed the connection before answering")
    if isinstance(exc, aiohttp.ClientResponseError):
        return BadResponse(f"unreadable response ({exc.message})")
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError)):
        return ConnectionLost(f"connection lost before the response ({reason(exc)})")
    return exc


def _at(exc: aiohttp.ClientConnectorError, proxy: Proxy | None) -> str:
    """`proxy host:port: ` when the failure was reaching the proxy (not the origin)."""
    if proxy is None:
        return ""
    if isinstance(exc, aiohttp.ClientProxyConnectionError) or (
        exc.host == proxy.host and exc.port == proxy.port
    ):
        return f"proxy {proxy.name}: "
    return ""

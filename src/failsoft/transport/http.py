"""Upstream HTTP: the proxied path's own HTTP/1.1 client, and one aiohttp session for the
control plane.

`Transport.post` (every proxied request) goes over failsoft's small client (`h1.py`: one
connection, httptools; `origins.py`: keep-alive connections per origin, TLS, proxies):
aiohttp's client cost about a fifth of the gateway's CPU per request; `transport.client:
aiohttp` sends it over aiohttp instead (`aio.py`, the operator's way back). `fetch`
(`fetch.py`: status pages, webhooks, probes, model lists, count_tokens) keeps aiohttp,
which decompresses and follows redirects, and is never on the hot path.

Everything above this layer sees `Upstream` (status, headers, byte reads) and failsoft's own
errors: a connection refused becomes `ConnectError`, a reset or an incomplete body
`ConnectionLost`, a slow connect `ConnectTimeout`, a malformed answer `BadResponse`.
Time-to-first-token and idle limits are applied by the caller around these awaits.

How many connections a provider may use is its `Pool`'s business (`pool.py`): the connect
timeout covers resolving the name, connecting, a proxy's CONNECT and the TLS handshake,
never a wait for a free slot (aiohttp's `connect` timeout once covered waiting for a slot
of its process-wide limit, which is how a flood toward one upstream made idle ones "time
out connecting").
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Literal

import aiohttp

from failsoft.errors import ConnectError, ConnectionLost
from failsoft.transport.h1 import READ_BUFSIZE, Connection
from failsoft.transport.head import request as _request
from failsoft.transport.origins import Origins, refusal
from failsoft.transport.pool import Pool
from failsoft.transport.proxies import Proxies

if TYPE_CHECKING:
    from failsoft.transport.aio import AioClient

__all__ = [
    "CLIENTS",
    "READ_BUFSIZE",
    "USER_AGENT",
    "Client",
    "FetchError",
    "Fetched",
    "Transport",
    "Upstream",
    "fetch",
]

Client = Literal["native", "aiohttp"]
"""The proxied path's client (`transport.client`): failsoft's own, or aiohttp's (aio.py)."""
CLIENTS: tuple[Client, ...] = ("native", "aiohttp")


class Upstream:
    """One upstream response whose body is still to be read; it holds its pool's slot
    (and its connection) until it is finished, released or closed."""

    __slots__ = ("_conn", "_origins", "_pool", "headers", "poll", "status")

    def __init__(self, conn: Connection, origins: Origins, pool: Pool | None = None) -> None:
        self._conn: Connection | None = conn
        self._origins = origins
        self._pool = pool
        self.status = conn.status
        self.headers: Mapping[str, str] = conn.headers
        self.poll: Callable[[], bytes | None] = conn.poll
        """What `readany` would return without waiting (b"" at the end of the body), or
        None when it must wait: `Connection.poll` itself, one call for the usual read of
        an answer already here, instead of a coroutine."""

    def __del__(self) -> None:
        # Dropped without release or close (a bug elsewhere): the connection is dropped
        # and the slot must not be lost. The collector may run in any thread: both happen
        # on the loop's own.
        conn, pool = self._conn, self._pool
        if conn is None and pool is None:
            return
        self._conn = self._pool = None
        loop = conn.loop if conn is not None else None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(_drop, conn, pool)

    def _end(self, keep: bool) -> None:
        conn, pool = self._conn, self._pool
        self._conn = self._pool = None
        self.poll = must_wait
        if conn is not None:
            if keep and conn.reusable:
                self._origins.put(conn)
            else:
                conn.close()
        if pool is not None:
            pool.give()

    @property
    def content_type(self) -> str:
        """The media type, lower-case without parameters; as aiohttp said,
        application/octet-stream when missing or malformed."""
        raw = self.headers.get("content-type")
        if raw is None:
            return "application/octet-stream"
        kind = raw.partition(";")[0].strip().lower()
        if kind.count("/") != 1:
            return "application/octet-stream"
        return kind

    @property
    def connection(self) -> Connection | None:
        """The connection the body arrives on (None once finished or closed): the
        committed relay reads it in relay mode (`Connection.relay_to`)."""
        return self._conn

    def readany(self) -> Awaitable[bytes]:
        """The next bytes available; b"" at a clean end of body. A plain function handing
        back the connection's coroutine: one frame fewer on every wait for a read."""
        conn = self._conn
        if conn is None:
            raise ConnectionLost("the response was already closed")
        return conn.readany()

    async def read(self, limit: int = 1 << 20) -> bytes:
        """The whole body, or its first `limit` bytes (error bodies are only excerpted)."""
        parts: list[bytes] = []
        size = 0
        while size < limit:
            chunk = await self.readany()
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        return b"".join(parts)[:limit]

    def finish(self) -> None:
        """Done reading: keep the connection if the body already ended cleanly, else drop it.

        The terminal event usually arrives with the end of the chunked body, so the
        connection goes back to the pool without waiting for anything more. (`_end`
        inlined: every answer ends here.)
        """
        conn, pool = self._conn, self._pool
        self._conn = self._pool = None
        self.poll = must_wait
        if conn is not None:
            if conn.reusable:
                self._origins.put(conn)
            else:
                conn.close()
        if pool is not None:
            pool.give()

    def release(self) -> None:
        """Return the connection to the pool (only after the body was read to its end;
        otherwise it is dropped)."""
        self._end(keep=True)

    def close(self) -> None:
        """Drop the connection: the only safe end for a response abandoned mid-body."""
        self._end(keep=False)


def must_wait() -> None:
    """`Upstream.poll` of a response finished, closed, or read by aiohttp: `readany` says."""
    return None


def _drop(conn: Connection | None, pool: Pool | None) -> None:
    if conn is not None:
        conn.abort()
    if pool is not None:
        pool.give()


class Transport:
    """The proxied path's client (keep-alive connections per origin, made inside the
    running loop), the control plane's `aiohttp.ClientSession`, and the providers'
    connection pools.

    `limit` is aiohttp's own process-wide cap, for `fetch` only: a small private transport
    (webhooks) may set one; its `fetch` calls are bounded by a total timeout, which covers
    any wait for it. `tls` replaces the default trust (tests trust their own certificate
    this way); `proxies` replaces the environment's (`urllib.request.getproxies()`'s
    shape), and a proxy failsoft cannot use is a `ProxyError` here, when the transport is
    made, not a failure of every request. `client` chooses the proxied path's client.
    """

    def __init__(
        self,
        *,
        limit: int = 0,
        keepalive_timeout: float = 30.0,
        pool_wait: float = 0.5,
        max_answer_bytes: int = 64 << 20,
        tls: ssl.SSLContext | None = None,
        proxies: Mapping[str, str] | None = None,
        client: Client = "native",
    ) -> None:
        if client not in CLIENTS:
            raise ValueError(f"unknown transport client {client!r} (one of {CLIENTS})")
        self._limit = limit
        self._keepalive = keepalive_timeout
        self._tls = tls
        self._proxies = Proxies(proxies)
        self.client: Client = client
        self._session: aiohttp.ClientSession | None = None
        self._origins: Origins | None = None
        self._aio: AioClient | None = None
        """The proxied path's aiohttp session (`client="aiohttp"` only; aio.py)."""
        self.pools: dict[str, Pool] = {}
        """Provider name → its pool (made on first use)."""
        self.pool_wait = pool_wait
        """The longest a request waits for a free slot in its provider's pool
        (`admission.pool_wait`); beyond it the target is skipped as `busy`."""
        self.max_answer_bytes = max_answer_bytes
        """The most of one upstream answer a request reads (`server.max_answer_bytes`);
        beyond it the attempt fails as `too_large` (router/attempt.py, streaming.py)."""

    def pool(self, name: str, limit: int) -> Pool:
        """`name`'s pool, with `limit` slots (a changed limit applies from now on)."""
        pool = self.pools.get(name)
        if pool is None:
            pool = self.pools[name] = Pool(name, limit)
        elif pool.limit != limit:
            pool.limit = limit
        return pool

    async def start(self) -> None:
        self._origins_here()
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            keepalive_timeout=self._keepalive,
            ttl_dns_cache=300,
            ssl=self._tls if self._tls is not None else True,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            read_bufsize=READ_BUFSIZE,
            timeout=aiohttp.ClientTimeout(total=None),
            # The proxy is failsoft's decision (fetch.py, proxies.py): aiohttp's own reading
            # of the environment would put back a proxy where NO_PROXY's `host:port` or the
            # demo's no-proxy runtime said none, and send ~/.netrc credentials to any host.
            trust_env=False,
        )

    async def close(self) -> None:
        origins, self._origins = self._origins, None
        if origins is not None:
            origins.close()
        aio, self._aio = self._aio, None
        if aio is not None and aio.loop is asyncio.get_running_loop():
            await aio.close()
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _origins_here(self) -> Origins:
        """The keep-alive connections of the running loop (a transport moved to another
        loop, as in some tests, starts afresh there)."""
        loop = asyncio.get_running_loop()
        origins = self._origins
        if origins is None or origins.loop is not loop:
            if origins is not None:
                origins.close()
            origins = self._origins = Origins(
                loop, keepalive=self._keepalive, tls=self._tls, proxies=self._proxies
            )
        return origins

    def _aio_here(self) -> AioClient:
        """The aiohttp session of the running loop (made on first use, like origins)."""
        from failsoft.transport.aio import AioClient

        loop = asyncio.get_running_loop()
        aio = self._aio
        if aio is None or aio.loop is not loop:
            aio = self._aio = AioClient(loop, self._keepalive, self._tls)
        return aio

    @property
    def proxies(self) -> Proxies:
        """The proxies in use (for start-up logs and tests)."""
        return self._proxies

    @property
    def idle_connections(self) -> int:
        """Keep-alive connections waiting for a request (tests, metrics)."""
        if self._aio is not None:
            return self._aio.idle_count()
        return self._origins.idle_count() if self._origins is not None else 0

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float,
        pool: Pool | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> Upstream:
        """Send a POST and wait for the response headers.

        `pool`: whose slot the caller holds (`Pool.take` / `Pool.wait`); it goes with the
        `Upstream`, or back to the pool when no response comes. A keep-alive connection
        the server had closed just as the request went out (not one byte of answer) is
        not the upstream's failure: the request goes once more on a new connection (`h1.py`
        `Connection.stale`). A reset, or any byte of answer, is the upstream's failure.
        A 407 from a proxy asked in absolute form is the proxy's refusal, a `ConnectError`
        naming it, never an answer of the upstream's.

        `loop`: the running loop, when the caller knows it (an attempt does): not looked
        up then (on Python 3.11 `get_running_loop` is a `getpid` system call).
        """
        try:
            origins = self._origins
            if loop is None:
                loop = asyncio.get_running_loop()
            if origins is None or origins.loop is not loop:
                origins = self._origins_here()
            route = origins.route(url)
            if self.client != "native":
                return await self._aio_here().post(route, url, headers, body, connect_timeout, pool)
            data = _request(route, headers, body)
            conn = origins.take(route.key)
            if conn is not None:
                conn.send(data)
                try:
                    # (the wait for the head inlined: no frames between here and the loop)
                    while not conn.head_in():
                        await conn.waiter()
                except ConnectionLost:
                    conn.close()
                    if not conn.stale:
                        raise
                    conn = None  # the server had closed it: once more, on a new connection
                except BaseException:
                    conn.close()
                    raise
            if conn is None:
                conn = await origins.connect(route, connect_timeout)
                conn.send(data)
                try:
                    while not conn.head_in():
                        await conn.waiter()
                except BaseException:
                    conn.close()
                    raise
            if conn.status == 407 and route.proxy is not None and route.scheme == "http":
                conn.close()
                why = refusal(route.proxy, 407, "the request")
                raise ConnectError(f"cannot connect ({why})")
        except BaseException:
            if pool is not None:
                pool.give()
            raise
        return Upstream(conn, origins, pool)


# The control plane's calls (fetch.py), importable from here as before.
from failsoft.transport.fetch import USER_AGENT, Fetched, FetchError, fetch  # noqa: E402

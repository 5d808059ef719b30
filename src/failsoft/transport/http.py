"""Upstream HTTP over one shared aiohttp session: the only module that imports aiohttp.

Everything above this layer sees `Upstream` (status, headers, byte reads) and failsoft's own
errors, never aiohttp's: a connection refused becomes `ConnectError`, a reset or an
incomplete chunked body becomes `ConnectionLost`, a slow connect `ConnectTimeout`.
Time-to-first-token and idle limits are applied by the caller around these awaits.

How many connections a provider may use is its `Pool`'s business (`pool.py`), not
aiohttp's: the connector has no limit, and the connect timeout covers resolving the name
and connecting (aiohttp's `sock_connect`: TCP and the TLS handshake) only, never a wait
for a free slot. aiohttp's `connect` timeout also covers waiting for a slot of its
process-wide limit, which is how a flood toward one upstream once made idle ones "time out
connecting".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from failsoft.errors import BadResponse, ConnectError, ConnectionLost, ConnectTimeout, PoolBusy
from failsoft.transport.pool import Pool

USER_AGENT = "failsoft/0.1"


class Upstream:
    """One upstream response whose body is still to be read; it holds its pool's slot
    until it is finished, released or closed."""

    __slots__ = ("_pool", "_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse, pool: Pool | None = None) -> None:
        self._resp = resp
        self._pool = pool
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

    def __del__(self) -> None:
        # Dropped without release or close (a bug elsewhere): aiohttp closes the
        # connection when the response is collected, and the slot must not be lost. The
        # collector may run in any thread: the slot goes back on the loop's own.
        pool = self._pool
        if pool is not None:
            self._pool = None
            loop = getattr(self._resp, "_loop", None)
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(pool.give)

    def _give(self) -> None:
        pool = self._pool
        if pool is not None:
            self._pool = None
            pool.give()

    @property
    def content_type(self) -> str:
        return self._resp.content_type

    async def readany(self) -> bytes:
        """The next bytes available; b"" at a clean end of body."""
        try:
            return await self._resp.content.readany()
        except aiohttp.ClientPayloadError:
            raise ConnectionLost("the connection closed in the middle of the response") from None
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise ConnectionLost(f"connection lost while reading ({_why(exc)})") from None

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
        """Done reading: keep the connection if the body already ended, else drop it.

        The terminal event usually arrives with the end of the chunked body, so the
        connection goes back to the pool without waiting for anything more.
        """
        if self._resp.content.is_eof():
            self._resp.release()
        else:
            self._resp.close()
        self._give()

    def release(self) -> None:
        """Return the connection to the pool (only after the body was read to its end)."""
        self._resp.release()
        self._give()

    def close(self) -> None:
        """Drop the connection: the only safe end for a response abandoned mid-body."""
        self._resp.close()
        self._give()


READ_BUFSIZE = 1 << 16
"""aiohttp's read buffer per response: it pauses reading above twice this."""


class Transport:
    """Owns the process's one `aiohttp.ClientSession` (created inside the running loop)
    and the providers' connection pools.

    `limit` is aiohttp's own process-wide cap: 0 (none) for the proxied path, whose
    limits are the pools'. A small private transport (webhooks) may set one: its `fetch`
    calls are bounded by a total timeout, which covers any wait for it.
    """

    def __init__(
        self,
        *,
        limit: int = 0,
        keepalive_timeout: float = 30.0,
        pool_wait: float = 0.5,
        max_answer_bytes: int = 64 << 20,
    ) -> None:
        self._limit = limit
        self._keepalive = keepalive_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
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
        if self._session is not None:
            return
        connector = aiohttp.TCPConnector(
            limit=self._limit,
            keepalive_timeout=self._keepalive,
            ttl_dns_cache=300,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            # What one upstream stream may buffer before aiohttp stops reading it (twice
            # this, plus one socket read): the default 256 KiB let a caller that does not
            # read hold about 2 MiB per stream (docs/operations.md#memory-per-stream).
            read_bufsize=READ_BUFSIZE,
            timeout=aiohttp.ClientTimeout(total=None),
        )

    async def close(self) -> None:
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

    def _timeout(self, connect: float) -> aiohttp.ClientTimeout:
        timeout = self._timeouts.get(connect)
        if timeout is None:
            if len(self._timeouts) > 64:
                self._timeouts.clear()
            # sock_connect: connecting (TCP, TLS). aiohttp's `connect` also covers waiting
            # for a slot of the connector's limit: only set (for name resolution) when the
            # connector has none, so that it never includes such a wait (pool.py does).
            timeout = aiohttp.ClientTimeout(
                total=None, sock_connect=connect, connect=None if self._limit else connect
            )
            self._timeouts[connect] = timeout
        return timeout

    async def post(
        self,
        url: str,
        headers: Mapping[str, str],
        body: bytes,
        *,
        connect_timeout: float,
        pool: Pool | None = None,
    ) -> Upstream:
        """Send a POST and wait for the response headers.

        `pool`: whose slot the caller holds (`Pool.take` / `Pool.wait`); it goes with the
        `Upstream`, or back to the pool when no response comes.
        """
        try:
            if self._session is None:
                await self.start()
            assert self._session is not None
            resp = await self._session.post(
                url, data=body, headers=headers, timeout=self._timeout(connect_timeout)
            )
        except BaseException as exc:
            if pool is not None:
                pool.give()
            error = _failure(exc, connect_timeout)
            if error is exc:
                raise
            raise error from None
        return Upstream(resp, pool)


def _failure(exc: BaseException, connect_timeout: float) -> BaseException:
    """failsoft's error for what sending raised (anything else as it was)."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return ConnectTimeout(f"no connection within {connect_timeout:g}s")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return ConnectError(f"cannot connect ({_why(exc)})")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return ConnectionLost("the server closed the connection before answering")
    if isinstance(exc, aiohttp.ClientResponseError):
        return BadResponse(f"unreadable response ({exc.message})")
    if isinstance(exc, (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError)):
        return ConnectionLost(f"connection lost before the response ({_why(exc)})")
    return exc


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
    try:
        async with session.request(
            method,
            url,
            data=body,
            headers={"user-agent": USER_AGENT, **(headers or {})},
            timeout=aiohttp.ClientTimeout(total=seconds),
            auto_decompress=True,
        ) as resp:
            data = await resp.content.read(limit + 1)
            if len(data) > limit:
                raise FetchError(f"the answer is larger than {limit} bytes")
            return Fetched(resp.status, dict(resp.headers), data)
    except TimeoutError:
        raise FetchError(f"no answer within {seconds:g}s") from None
    except (aiohttp.ClientError, OSError) as exc:
        raise FetchError(_why(exc)) from None


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, aiohttp.ClientConnectorError):
        err = exc.os_error
        text = err.strerror or str(err) if err is not None else text
    return text or type(exc).__name__

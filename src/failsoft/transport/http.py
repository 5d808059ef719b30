"""Upstream HTTP over one shared aiohttp session: the only module that imports aiohttp.

Everything above this layer sees `Upstream` (status, headers, byte reads) and failsoft's own
errors, never aiohttp's: a connection refused becomes `ConnectError`, a reset or an
incomplete chunked body becomes `ConnectionLost`, a slow connect `ConnectTimeout`.
Time-to-first-token and idle limits are applied by the caller around these awaits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

import aiohttp

from failsoft.errors import BadResponse, ConnectError, ConnectionLost, ConnectTimeout

USER_AGENT = "failsoft/0.1"


class Upstream:
    """One upstream response whose body is still to be read."""

    __slots__ = ("_resp", "headers", "status")

    def __init__(self, resp: aiohttp.ClientResponse) -> None:
        self._resp = resp
        self.status = resp.status
        self.headers: Mapping[str, str] = resp.headers

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

    def release(self) -> None:
        """Return the connection to the pool (only after the body was read to its end)."""
        self._resp.release()

    def close(self) -> None:
        """Drop the connection: the only safe end for a response abandoned mid-body."""
        self._resp.close()


READ_BUFSIZE = 1 << 16
"""aiohttp's read buffer per response: it pauses reading above twice this."""


class Transport:
    """Owns the process's one `aiohttp.ClientSession`; created inside the running loop."""

    def __init__(self, *, limit: int = 1024, keepalive_timeout: float = 30.0) -> None:
        self._limit = limit
        self._keepalive = keepalive_timeout
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}

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
            timeout = self._timeouts[connect] = aiohttp.ClientTimeout(total=None, connect=connect)
        return timeout

    async def post(
        self, url: str, headers: Mapping[str, str], body: bytes, *, connect_timeout: float
    ) -> Upstream:
        """Send a POST and wait for the response headers."""
        if self._session is None:
            await self.start()
        assert self._session is not None
        try:
            resp = await self._session.post(
                url, data=body, headers=headers, timeout=self._timeout(connect_timeout)
            )
        except aiohttp.ConnectionTimeoutError:
            raise ConnectTimeout(f"no connection within {connect_timeout:g}s") from None
        except aiohttp.ClientConnectorError as exc:
            raise ConnectError(f"cannot connect ({_why(exc)})") from None
        except aiohttp.ServerDisconnectedError:
            raise ConnectionLost("the server closed the connection before answering") from None
        except aiohttp.ClientResponseError as exc:
            raise BadResponse(f"unreadable response ({exc.message})") from None
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, OSError) as exc:
            raise ConnectionLost(f"connection lost before the response ({_why(exc)})") from None
        return Upstream(resp)


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
) -> Fetched:
    """One request, read whole (at most `limit` bytes) within `seconds` overall.

    Not for the proxied path: no streaming and a total timeout. Any failure to get an answer
    is a `FetchError` naming why; HTTP error statuses are answers and are returned.
    """
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

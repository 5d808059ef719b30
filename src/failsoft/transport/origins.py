"""Where a proxied request goes, and the idle keep-alive connections of each origin.

An origin is (scheme, host, port, proxy): connections are reused only toward the same
one. Idle connections are kept `keepalive` seconds at most, the most recently used first
(the warmest, the least likely to have been closed by its server); one the server closed
while idle is dropped, never handed out. How many connections are busy is each
provider's `Pool`'s business (pool.py), not this module's: nothing here ever waits for
a slot, and the connect timeout covers resolving, connecting, a proxy's CONNECT and the
TLS handshake only.

Proxies come from the environment (proxies.py: urllib's semantics, `http://` and
`https://` proxies): an http origin is asked through the proxy in absolute form, an https
origin through a CONNECT tunnel and then TLS with the origin (TLS in TLS through an
`https://` proxy).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from failsoft.errors import BadResponse, ConnectError, ConnectionLost, ConnectTimeout
from failsoft.transport.h1 import READ_CHUNK, Connection
from failsoft.transport.proxies import Proxies, Proxy, bracket


@cache
def default_tls() -> ssl.SSLContext:
    """What aiohttp used: the system's trust store, certificates and host names verified,
    HTTP/1.1 offered by ALPN. Made once (it reads the trust store from disk)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(frozen=True, slots=True)
class Route:
    """A URL, parsed once: where to connect and what to write."""

    key: tuple[str, str, int, str]
    scheme: str
    host: str
    port: int
    target: str
    """The request-target: origin-form, or absolute-form through an http proxy."""
    host_header: str
    proxy: Proxy | None


DNS_TTL = 300.0


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Origins:
    """The idle connections of every origin, and the making of new ones."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        keepalive: float,
        tls: ssl.SSLContext | None = None,
        proxies: Proxies | None = None,
    ) -> None:
        self.loop = loop
        self.keepalive = keepalive
        self.tls = tls or default_tls()
        self.proxies = Proxies() if proxies is None else proxies
        self._routes: dict[str, Route] = {}
        self._idle: dict[tuple[str, str, int, str], list[Connection]] = {}
        self._sweep: asyncio.TimerHandle | None = None
        self._buffer = memoryview(bytearray(READ_CHUNK))
        """The read buffer of this loop's connections (h1.py `Connection.get_buffer`)."""
        self._names: dict[tuple[str, int], tuple[float, list[str]]] = {}

    # -- routes ------------------------------------------------------------------------

    def route(self, url: str) -> Route:
        route = self._routes.get(url)
        if route is None:
            if len(self._routes) > 1024:
                self._routes.clear()
            route = self._routes[url] = self._parse(url)
        return route

    def _parse(self, url: str) -> Route:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise ValueError(f"unsupported URL scheme {scheme!r}")
        host = parts.hostname
        if not host:
            raise ValueError(f"no host in the URL {url!r}")
        default = 443 if scheme == "https" else 80
        port = parts.port or default
        authority = bracket(host) if port == default else f"{bracket(host)}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy = self.proxies.for_origin(scheme, host, port)
        if proxy is not None and scheme == "http":
            target = f"http://{authority}{target}"
        key = (scheme, host, port, proxy.key if proxy is not None else "")
        return Route(key, scheme, host, port, target, authority, proxy)

    # -- idle connections --------------------------------------------------------------

    def take(self, key: tuple[str, str, int, str]) -> Connection | None:
        """The most recently used live idle connection to `key`, if any."""
        idle = self._idle.get(key)
        if not idle:
            return None
        horizon = self.loop.time() - self.keepalive
        while idle:
            conn = idle.pop()
            transport = conn.transport
            if conn.closed or transport is None or transport.is_closing():
                continue
            if conn.idle_since < horizon:
                conn.close()
                continue
            return conn
        return None

    def put(self, conn: Connection) -> None:
        """Keep `conn` for the next request to its origin (it ended its exchange cleanly)."""
        conn.done()
        self._idle.setdefault(conn.key, []).append(conn)
        if self._sweep is None and self.keepalive > 0:
            self._sweep = self.loop.call_later(self.keepalive / 2, self._expire)

    def _expire(self) -> None:
        """Close connections idle for longer than `keepalive`, and forget closed ones."""
        self._sweep = None
        horizon = self.loop.time() - self.keepalive
        for key, idle in list(self._idle.items()):
            kept = []
            for conn in idle:
                if conn.closed:
                    continue
                if conn.idle_since < horizon:
                    conn.close()
                else:
                    kept.append(conn)
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]
        if self._idle:
            self._sweep = self.loop.call_later(self.keepalive / 2, self._expire)

    def idle_count(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    def close(self) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
            self._sweep = None
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()

    # -- new connections ---------------------------------------------------------------

    async def connect(self, route: Route, seconds: float) -> Connection:
        """A new connection to `route`'s origin within `seconds`: the name resolved, TCP,
        TLS with the origin; through a proxy: TCP (and TLS, for an https:// proxy) to the
        proxy, and for an https origin a CONNECT tunnel, then TLS with the origin inside
        it (TLS in TLS through an https:// proxy: `start_tls` on the proxy's TLS transport,
        which asyncio and uvloop both support)."""
        loop = self.loop
        proxy = route.proxy
        if proxy is None:
            host, port, tls = route.host, route.port, route.scheme == "https"
        else:
            host, port, tls = proxy.host, proxy.port, proxy.tls
        at_proxy = proxy  # which failures name the proxy: until the tunnel stands
        conn: Connection | None = None
        try:
            async with asyncio.timeout(seconds):
                failure: OSError | None = None
                for address in await self._resolve(host, port):
                    try:
                        _, conn = await loop.create_connection(
                            lambda: Connection(loop, route.key, self._buffer),
                            address,
                            port,
                            ssl=self.tls if tls else None,
                            server_hostname=host if tls else None,
                        )
                        break
                    except ssl.SSLError:
                        raise
                    except OSError as exc:
                        failure = exc  # the next address, if any
                if conn is None:
                    assert failure is not None
                    raise failure
                if proxy is not None and route.scheme == "https":
                    await self._tunnel(conn, route, proxy)
                    at_proxy = None
                    assert conn.transport is not None
                    transport = await loop.start_tls(
                        conn.transport, conn, self.tls, server_hostname=route.host
                    )
                    if transport is None:
                        raise ConnectError(
                            "cannot connect (the TLS handshake through the proxy failed)"
                        )
                    conn.transport = transport
            return conn
        except BaseException as exc:
            if conn is not None:
                conn.abort()
            raise _connect_error(exc, seconds, at_proxy) from None

    async def _resolve(self, host: str, port: int) -> list[str]:
        """`host`'s addresses, kept `DNS_TTL` seconds (as aiohttp's `ttl_dns_cache` did): a
        burst of new connections resolves a name once, not once per connection in threads."""
        if _is_address(host):
            return [host]
        now = self.loop.time()
        known = self._names.get((host, port))
        if known is not None and known[0] > now:
            return known[1]
        infos = await self.loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if len(self._names) > 1024:
            self._names.clear()
        self._names[(host, port)] = (now + DNS_TTL, addresses)
        return addresses

    async def _tunnel(self, conn: Connection, route: Route, proxy: Proxy) -> None:
        """Ask the proxy for a tunnel to the origin; `ConnectError` naming the proxy (never
        its credentials) and its status when it refuses."""
        authority = f"{bracket(route.host)}:{route.port}"
        head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if proxy.authorization is not None:
            head += f"Proxy-Authorization: {proxy.authorization}\r\n"
        status = await conn.tunnel((head + "\r\n").encode())
        if status != 200:
            raise ConnectError(f"cannot connect ({refusal(proxy, status, 'CONNECT')})")


def refusal(proxy: Proxy, status: int, what: str) -> str:
    """Why a proxy refused, for messages: its name and status, never its credentials."""
    why = f"the proxy {proxy.name} answered {what} with {status}"
    if status == 407:
        if proxy.authorization is None:
            why += ", asking for credentials: put user:password@ in its URL"
        else:
            why += ", refusing the credentials in its URL"
    return why


def _connect_error(exc: BaseException, timeout: float, proxy: Proxy | None) -> BaseException:
    """failsoft's error for a failed connect (anything else as it was)."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, TimeoutError):
        return ConnectTimeout(f"no connection within {timeout:g}s")
    at = f"proxy {proxy.name}: " if proxy is not None else ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectError(f"cannot connect ({at}certificate verify failed: {exc.verify_message})")
    if isinstance(exc, ssl.SSLError):
        return ConnectError(f"cannot connect ({at}TLS: {exc.reason or exc})")
    if isinstance(exc, BadResponse):
        return ConnectError(f"cannot connect ({exc.message})")
    if isinstance(exc, ConnectionLost):
        via = f"the proxy {proxy.name}" if proxy is not None else "the server"
        return ConnectError(f"cannot connect ({via} closed the connection)")
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
        return ConnectError(f"cannot connect ({at}{text})")
    return exc


with contextlib.suppress(Exception):  # warm the trust store at import, off the loop
    default_tls()

"""Where a proxied request goes, and the idle keep-alive connections of each origin.

An origin is (scheme, host, port, proxy): connections are reused only toward the same
one. Idle connections are kept `keepalive` seconds at most, the most recently used first
(the warmest, the least likely to have been closed by its server); one the server closed
while idle is dropped, never handed out. How many connections are busy is each
provider's `Pool`'s business (pool.py), not this module's: nothing here ever waits for
a slot, and the connect timeout covers resolving, connecting, a proxy's CONNECT and the
TLS handshake only.

Proxies come from the environment, with urllib's semantics (`HTTP_PROXY`, `HTTPS_PROXY`,
`ALL_PROXY`, `NO_PROXY`, lower-case too): an http origin is asked through the proxy in
absolute form, an https origin through a CONNECT tunnel and then TLS with the origin.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import socket
import ssl
import urllib.request
from dataclasses import dataclass
from functools import cache
from urllib.parse import unquote, urlsplit

from failsoft.errors import BadResponse, ConnectError, ConnectionLost, ConnectTimeout
from failsoft.transport.h1 import READ_CHUNK, Connection


@cache
def default_tls() -> ssl.SSLContext:
    """What aiohttp used: the system's trust store, certificates and host names verified,
    HTTP/1.1 offered by ALPN. Made once (it reads the trust store from disk)."""
    context = ssl.create_default_context()
    context.set_alpn_protocols(["http/1.1"])
    return context


@dataclass(frozen=True, slots=True)
class Proxy:
    host: str
    port: int
    authorization: str | None
    """`Proxy-Authorization` value, from credentials in the proxy's URL."""
    name: str
    """host:port, for the origin key and messages (never the credentials)."""


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


def environment_proxies() -> dict[str, str]:
    return {k: v for k, v in urllib.request.getproxies().items() if v}


def _proxy(url: str) -> Proxy:
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme != "http":
        raise ValueError(f"unsupported proxy scheme {parts.scheme!r} (only http:// proxies)")
    host = parts.hostname or ""
    port = parts.port or 80
    auth = None
    if parts.username is not None:
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(secret.encode()).decode("ascii")
    return Proxy(host, port, auth, f"{_bracket(host)}:{port}")


_bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
"""NO_PROXY's semantics (not in typeshed)."""


DNS_TTL = 300.0


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


class Origins:
    """The idle connections of every origin, and the making of new ones."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        keepalive: float,
        tls: ssl.SSLContext | None = None,
        proxies: dict[str, str] | None = None,
    ) -> None:
        self.loop = loop
        self.keepalive = keepalive
        self.tls = tls or default_tls()
        self.proxies = environment_proxies() if proxies is None else proxies
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
        authority = _bracket(host) if port == default else f"{_bracket(host)}:{port}"
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        proxy = self._proxy_for(scheme, host, port)
        if proxy is not None and scheme == "http":
            target = f"http://{authority}{target}"
        key = (scheme, host, port, proxy.name if proxy is not None else "")
        return Route(key, scheme, host, port, target, authority, proxy)

    def _proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        proxies = self.proxies
        url = proxies.get(scheme) or proxies.get("all")
        if not url:
            return None
        if _bypass(f"{host}:{port}", proxies):
            return None
        return _proxy(url)

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
        """A new connection to `route`'s origin within `seconds` (name, TCP, proxy, TLS)."""
        loop = self.loop
        proxy = route.proxy
        direct_tls = route.scheme == "https" and proxy is None
        conn: Connection | None = None
        try:
            async with asyncio.timeout(seconds):
                host = proxy.host if proxy is not None else route.host
                port = proxy.port if proxy is not None else route.port
                failure: OSError | None = None
                for address in await self._resolve(host, port):
                    try:
                        _, conn = await loop.create_connection(
                            lambda: Connection(loop, route.key, self._buffer),
                            address,
                            port,
                            ssl=self.tls if direct_tls else None,
                            server_hostname=route.host if direct_tls else None,
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
            return conn
        except BaseException as exc:
            if conn is not None:
                conn.abort()
            raise _connect_error(exc, seconds, proxy) from None

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
        authority = f"{_bracket(route.host)}:{route.port}"
        head = f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n"
        if proxy.authorization is not None:
            head += f"Proxy-Authorization: {proxy.authorization}\r\n"
        status = await conn.tunnel((head + "\r\n").encode())
        if status != 200:
            why = f"the proxy {proxy.name} answered CONNECT with {status}"
            raise ConnectError(f"cannot connect ({why})")
        assert conn.transport is not None
        transport = await self.loop.start_tls(
            conn.transport, conn, self.tls, server_hostname=route.host
        )
        if transport is None:
            raise ConnectError("cannot connect (the TLS handshake through the proxy failed)")
        conn.transport = transport


def _connect_error(exc: BaseException, timeout: float, proxy: Proxy | None) -> BaseException:
    """failsoft's error for a failed connect (anything else as it was)."""
    if isinstance(exc, ConnectError):
        return exc
    if isinstance(exc, TimeoutError):
        return ConnectTimeout(f"no connection within {timeout:g}s")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectError(f"cannot connect (certificate verify failed: {exc.verify_message})")
    if isinstance(exc, ssl.SSLError):
        return ConnectError(f"cannot connect (TLS: {exc.reason or exc})")
    if isinstance(exc, BadResponse):
        return ConnectError(f"cannot connect ({exc.message})")
    if isinstance(exc, ConnectionLost):
        via = f"the proxy {proxy.name}" if proxy is not None else "the server"
        return ConnectError(f"cannot connect ({via} closed the connection)")
    if isinstance(exc, OSError):
        text = exc.strerror or str(exc) or type(exc).__name__
        if proxy is not None:
            text = f"proxy {proxy.name}: {text}"
        return ConnectError(f"cannot connect ({text})")
    return exc


with contextlib.suppress(Exception):  # warm the trust store at import, off the loop
    default_tls()

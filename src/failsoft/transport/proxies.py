"""Which proxy, if any, a proxied request goes through: the environment's proxy variables,
read and checked once when the transport is made.

Semantics are Python's `urllib.request` (`getproxies()`, `proxy_bypass_environment`),
which aiohttp's `trust_env` and requests also start from, so the control plane and the
proxied path agree:

* `HTTP_PROXY` / `HTTPS_PROXY` by the origin's scheme, else `ALL_PROXY`; each in lower or
  upper case, the lower-case one winning (an empty lower-case one unsets the variable).
* `NO_PROXY`: comma-separated names, each matching the host itself and every name under
  it (a leading dot changes nothing: `.example.com` and `example.com` are alike), compared
  without case; `host:port` matches that port only; `*` alone bypasses every proxy.
  No CIDR ranges (`10.0.0.0/8` matches nothing, as in urllib and aiohttp): list addresses.
* A proxy URL is `http://` or `https://` (TLS to the proxy, verified with the transport's
  trust, as for providers); one without a scheme is `http://`; the port defaults to 80 or
  443 by scheme. `user:password@` becomes `Proxy-Authorization: Basic` (percent-escapes
  decoded) and appears in no message. Any other scheme (`socks5://`) is refused when
  the transport is made: a gateway must not start up to fail every request, nor quietly
  go direct where an operator asked for a proxy.
"""

from __future__ import annotations

import base64
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

SCHEMES = ("http", "https", "all")
"""The proxy variables the proxied path reads (`ftp_proxy`, `socks_proxy`... are not its)."""


class ProxyError(ValueError):
    """A proxy variable failsoft cannot use; the message names it without credentials."""


@dataclass(frozen=True, slots=True)
class Proxy:
    scheme: str
    """`http` (plain to the proxy) or `https` (TLS to the proxy, then CONNECT inside it)."""
    host: str
    port: int
    authorization: str | None = field(repr=False)
    """`Proxy-Authorization` value, from credentials in the proxy's URL (kept out of the
    repr: a route or a proxy in a log line or a traceback shows none)."""
    name: str
    """host:port, for messages (never the credentials)."""

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def url(self) -> str:
        """The proxy's URL without credentials (the aiohttp client's `proxy=`)."""
        return f"{self.scheme}://{self.name}"

    @property
    def key(self) -> str:
        """What tells this proxy apart in an origin's key."""
        return self.url


def bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def redact(url: str) -> str:
    """`url` without its credentials, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    authority = authority.rpartition("@")[2]
    return (f"{scheme}://" if sep else "") + authority + slash + path


def parse_proxy(url: str, variable: str = "proxy") -> Proxy:
    """One proxy URL, checked; `ProxyError` naming `variable` and the redacted URL."""
    shown = redact(url)
    parts = urlsplit(url if "://" in url else "http://" + url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ProxyError(
            f"{variable}={shown}: unsupported proxy scheme {scheme!r} "
            "(failsoft speaks to http:// and https:// proxies only)"
        )
    try:
        host = parts.hostname or ""
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:  # a port that is not a number, or out of range
        raise ProxyError(f"{variable}={shown}: {exc}") from None
    if not host:
        raise ProxyError(f"{variable}={shown}: no proxy host")
    auth = None
    if parts.username is not None:
        secret = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
        auth = "Basic " + base64.b64encode(secret.encode()).decode("ascii")
    return Proxy(scheme, host, port, auth, f"{bracket(host)}:{port}")


_bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
"""NO_PROXY's semantics (not in typeshed)."""


class Proxies:
    """The proxy variables, parsed once: `for_origin` is a dict lookup and, with a proxy
    configured, urllib's NO_PROXY test (once per URL: routes are cached, origins.py)."""

    __slots__ = ("by_scheme", "no_proxy")

    def __init__(self, variables: Mapping[str, str] | None = None) -> None:
        """`variables` as `urllib.request.getproxies()` gives them (`{"https": url,
        "no": "..."}`); None: the environment's. `ProxyError` for a proxy failsoft cannot
        use."""
        if variables is None:
            variables = environment()
        self.by_scheme: dict[str, Proxy] = {}
        for scheme in SCHEMES:
            url = variables.get(scheme)
            if url:
                self.by_scheme[scheme] = parse_proxy(url, f"{scheme}_proxy")
        no = variables.get("no")
        self.no_proxy: dict[str, str] = {"no": no} if no else {}

    def __bool__(self) -> bool:
        return bool(self.by_scheme)

    def for_origin(self, scheme: str, host: str, port: int) -> Proxy | None:
        by_scheme = self.by_scheme
        if not by_scheme:
            return None
        proxy = by_scheme.get(scheme) or by_scheme.get("all")
        if proxy is None:
            return None
        if self.no_proxy and _bypass(f"{host}:{port}", self.no_proxy):
            return None
        return proxy

    def describe(self) -> list[str]:
        """One line per proxy in use, for start-up logs (no credentials)."""
        lines = [
            f"{scheme}_proxy: {proxy.url}" + (" (with credentials)" if proxy.authorization else "")
            for scheme, proxy in self.by_scheme.items()
        ]
        if lines and self.no_proxy:
            lines.append(f"no_proxy: {self.no_proxy['no']}")
        return lines


def environment() -> dict[str, str]:
    """The environment's proxy variables (urllib's reading of them: lower case wins)."""
    return {k: v for k, v in urllib.request.getproxies().items() if v}


def environment_problem() -> str | None:
    """Why the environment's proxies cannot be used, or None (`failsoft serve` checks at
    start-up, before binding anything)."""
    try:
        Proxies()
    except ProxyError as exc:
        return str(exc)
    return None

"""The upstream request's bytes: its head, written once per route and provider headers,
and its body, for one write (`Transport.post`, native client)."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from failsoft.transport.origins import Route

_SET_BY_US = frozenset({"host", "content-length", "transfer-encoding"})

_HEADS: dict[int, tuple[Route, Mapping[str, str], bytes]] = {}
"""The head of each (route, read-only header mapping) sent to, up to its Content-Length
value, by `id` of the route: a provider's headers are the same object on every request
(`Provider.headers`), so its head is written once, not per request."""


def request(route: Route, headers: Mapping[str, str], body: bytes) -> bytes:
    """The request's head and body, for one write.

    The same headers as aiohttp sent: Host (the caller's, if given), the given headers,
    `Accept: */*` and `Content-Type: application/octet-stream` when not given, and
    Content-Length; no User-Agent, no Accept-Encoding. A read-only mapping (a
    `MappingProxyType`, which nobody can change through it) has its head remembered with
    its route, both held so that neither id is reused; any other mapping (a span's
    carrier merged in, forwarded caller headers) is written afresh.
    """
    found = _HEADS.get(id(route))
    if found is not None and found[0] is route and found[1] is headers:
        head = found[2]
    else:
        head = _head(route, headers)
        if type(headers) is MappingProxyType:
            if len(_HEADS) >= 256:  # routes of caller-named URLs are not a fixed set
                _HEADS.clear()
            _HEADS[id(route)] = (route, headers, head)
    return b"%s%d\r\n\r\n%s" % (head, len(body), body)


def _head(route: Route, headers: Mapping[str, str]) -> bytes:
    """The request's head up to (and with) `Content-Length: `."""
    host = route.host_header
    lines = [f"POST {route.target} HTTP/1.1"]
    accept = ctype = False
    for name, value in headers.items():
        low = name.lower()
        if low in _SET_BY_US:
            if low == "host":
                host = value
            continue
        if low == "accept":
            accept = True
        elif low == "content-type":
            ctype = True
        lines.append(f"{name}: {value}")
    lines.insert(1, f"Host: {host}")
    if not accept:
        lines.append("Accept: */*")
    if not ctype:
        lines.append("Content-Type: application/octet-stream")
    proxy = route.proxy
    if proxy is not None and proxy.authorization is not None and route.scheme == "http":
        lines.append(f"Proxy-Authorization: {proxy.authorization}")
    lines.append("Content-Length: ")
    head = "\r\n".join(lines)
    if head.count("\n") != len(lines) - 1 or head.count("\r") != len(lines) - 1:
        raise ValueError("a newline or carriage return in a header name or value")
    return head.encode("utf-8")

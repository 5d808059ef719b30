"""Every transport test runs with both of the proxied path's clients (`transport.client`):
failsoft's own (`native`) and aiohttp's, which must behave alike. A test of something only
one of them has (the native client's buffer internals, its resending of a request that met
a stale keep-alive connection) says so with `only_native`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from failsoft.transport import Transport
from failsoft.transport.http import CLIENTS


@pytest.fixture(autouse=True, params=CLIENTS)
def client(request: pytest.FixtureRequest) -> Iterator[str]:
    """`Transport()` made in this test uses this client unless told otherwise."""
    defaults = Transport.__init__.__kwdefaults__
    assert defaults is not None
    before = defaults["client"]
    defaults["client"] = request.param
    try:
        yield request.param
    finally:
        defaults["client"] = before


def current_client() -> str:
    """The client `Transport()` makes now (tests run directly by test_uvloop.py included)."""
    defaults = Transport.__init__.__kwdefaults__
    assert defaults is not None
    return str(defaults["client"])


def only_native(why: str) -> None:
    """Skip the running test under the aiohttp client, saying why."""
    if current_client() != "native":
        pytest.skip(f"native client only: {why}")


def connect_head(head: bytes) -> bytes:
    """A CONNECT request's head as the native client sends it: aiohttp adds `Accept`,
    `Accept-Encoding` and its `User-Agent` (to the proxy only), which are dropped here."""
    if current_client() == "native":
        return head
    extra = (b"accept:", b"accept-encoding:", b"user-agent:")
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(extra)]
    return b"\r\n".join(lines)

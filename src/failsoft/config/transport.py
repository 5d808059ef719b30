"""The `transport:` section: how the gateway talks to providers.

One key for now, `client`: the proxied path's HTTP client. `native` (the default) is
failsoft's own HTTP/1.1 client (transport/h1.py, origins.py); `aiohttp` is the client
failsoft used before issue 18, kept as the operator's way back should the native one
misbehave with some upstream or proxy. It is one choice for the whole process, not one
per provider: what it works around (a proxy, a TLS stack, a bug in the client) is the
process's, as the proxies and the trust are; one client per process also keeps one
pool of idle connections per origin and one set of metrics. Restart-only: the open
connections belong to the client.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class TransportConfig:
    client: Literal["native", "aiohttp"] = "native"
    """The proxied path's HTTP client: `native` (failsoft's own, cheaper per request) or
    `aiohttp` (the client before issue 18). Both honour the same proxies, trust and
    limits and raise the same errors (docs/deploy.md#the-upstream-client)."""

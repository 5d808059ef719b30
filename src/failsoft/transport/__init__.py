"""Upstream HTTP: failsoft's own HTTP/1.1 client for the proxied path (keep-alive
connections per origin), one aiohttp session for the control plane (the only aiohttp
importer), and each provider's pool of connections."""

from failsoft.transport.http import Fetched, FetchError, Transport, Upstream, fetch
from failsoft.transport.pool import Pool

__all__ = ["FetchError", "Fetched", "Pool", "Transport", "Upstream", "fetch"]

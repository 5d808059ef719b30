"""Upstream HTTP: one shared aiohttp session per process (the only aiohttp importer), and
each provider's pool of connections."""

from failsoft.transport.http import Fetched, FetchError, Transport, Upstream, fetch
from failsoft.transport.pool import Pool

__all__ = ["FetchError", "Fetched", "Pool", "Transport", "Upstream", "fetch"]

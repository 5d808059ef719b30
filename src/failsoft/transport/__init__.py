"""Upstream HTTP: one shared aiohttp session per process (the only aiohttp importer)."""

from failsoft.transport.http import Fetched, FetchError, Transport, Upstream, fetch

__all__ = ["FetchError", "Fetched", "Transport", "Upstream", "fetch"]

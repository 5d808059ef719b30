"""Upstream HTTP: one shared aiohttp session per process (the only aiohttp importer)."""

from failsoft.transport.http import Transport, Upstream

__all__ = ["Transport", "Upstream"]

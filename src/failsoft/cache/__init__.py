"""The exact-match answer cache: keys, entries and three interchangeable backends.

The router looks an answer up by `cache_key(...)`, serves it while `fresh`, and when every
target fails serves it while `usable_stale` (stale-if-error); backends only store and expire.
"""

from __future__ import annotations

from failsoft.cache.base import DEFAULT_MAX_BYTES, Cache, Counters, open_cache
from failsoft.cache.entry import Entry, EntryState
from failsoft.cache.key import IGNORED_FIELDS, cache_key, fingerprint
from failsoft.cache.memory import MemoryCache

__all__ = [
    "DEFAULT_MAX_BYTES",
    "IGNORED_FIELDS",
    "Cache",
    "Counters",
    "Entry",
    "EntryState",
    "MemoryCache",
    "cache_key",
    "fingerprint",
    "open_cache",
]

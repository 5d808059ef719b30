"""failsoft's request ids (`fs_` and 24 hex digits): as random as `secrets.token_hex(12)`,
from a pool of `os.urandom` bytes rather than a system call (and four Python calls) per
request."""

from __future__ import annotations

import os
import threading

_SIZE = 12
_POOL = _SIZE * 512


class _Ids(threading.local):
    """Each thread's own pool (gateways in threads, as the tests run them, share none)."""

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0

    def reset(self) -> None:
        """A forked worker must not hand out its parent's remaining ids."""
        self.pool = b""
        self.at = 0


_ids = _Ids()
os.register_at_fork(after_in_child=_ids.reset)


def new_request_id() -> str:
    """A new request id, `fs_` and 24 hex digits."""
    ids = _ids
    at = ids.at
    if at + _SIZE > len(ids.pool):
        ids.pool = os.urandom(_POOL)
        at = 0
    ids.at = at + _SIZE
    return "fs_" + ids.pool[at : at + _SIZE].hex()

"""Helpers for the key tests: a scratch PostgreSQL database, and polling."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tests import services


@contextmanager
def scratch_database() -> Iterator[str]:
    """A database of this test's own on the shared PostgreSQL (dropped afterwards)."""
    with services.scratch_database("failsoft_keys") as url:
        yield url


def until(condition: Callable[[], bool], timeout: float = 20.0, what: str = "") -> float:
    """Poll `condition` until it holds; the seconds it took."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.01)
    return time.monotonic() - started

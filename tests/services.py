"""Local services some tests need (PostgreSQL, Redis): skip with a reason on a machine
without them, but fail under CI (`CI=true`), where they must be there."""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_URL = os.environ.get("FAILSOFT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    """Skip (or, under CI, fail) when `service` does not listen on host:port."""
    if reachable(host, port):
        return
    reason = f"{service} is not listening on {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(f"{reason} (start it to run this test; CI runs it)")


def require_modules(extra: str, *modules: str) -> None:
    """Skip (or, under CI, fail) when an optional extra's packages are not installed."""
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (pip install 'failsoft[{extra}]')"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and CI=true requires it")
    pytest.skip(f"{reason}; CI runs it")

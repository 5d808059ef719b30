"""The store of keys goes away (PostgreSQL stopped, then frozen, behind a proxy): callers
with a stored key keep being served from the last keys loaded, the admin API says 503 for
what needs the store, one line says the keys may be stale, and once the store is back a
revocation applies as usual."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.auth.support import scratch_database, until
from tests.conftest import make_config
from tests.helpers import chat, request
from tests.services import POSTGRES_URL
from tests.store.faultproxy import FaultProxy

TOKEN = "admin-token-" + "o" * 32


@pytest.fixture
def proxied() -> Iterator[tuple[str, FaultProxy]]:
    """A scratch database reached through a proxy that can stop or freeze it."""
    with scratch_database() as url:
        parts = urlsplit(POSTGRES_URL)
        with FaultProxy(parts.hostname or "127.0.0.1", parts.port or 5432).running() as proxy:
            netloc = f"{urlsplit(url).username or 'postgres'}@127.0.0.1:{proxy.port}"
            yield urlunsplit(urlsplit(url)._replace(netloc=netloc)), proxy


def status(gw: GatewayThread, key: str) -> int:
    headers = {"authorization": f"Bearer {key}"}
    return request(gw.url + "/v1/chat/completions", body=chat("gpt"), headers=headers).status


def test_stored_keys_keep_working_while_the_store_is_away(
    tmp_path: Path,
    sim: SimServer,
    proxied: tuple[str, FaultProxy],
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, proxy = proxied
    extra = f"""
store: {{url: "{url}", timeout: 0.5, retry_max: 0.2, spool: "{tmp_path / "spool"}"}}
auth: {{refresh: 0.1}}
admin: {{token: "{TOKEN}"}}
"""
    admin = {"authorization": f"Bearer {TOKEN}"}
    caplog.set_level(logging.WARNING, logger="failsoft.auth")
    with GatewayThread(make_config(sim.url, extra)).running() as gw:
        made = request(gw.url + "/admin/keys", body={"name": "steady"}, headers=admin)
        assert made.status == 201, made.body
        secret, ident = made.json()["secret"], made.json()["id"]
        assert status(gw, secret) == 200

        for away in (proxy.stop, proxy.freeze):
            away()
            until(lambda: gw.runtime.keys.why is not None, 10, "the watch to notice")
            assert all(status(gw, secret) == 200 for _ in range(10))  # the last keys
            gone = request(gw.url + f"/admin/keys/{ident}", method="DELETE", headers=admin)
            assert gone.status == 503
            ready = request(gw.url + "/readyz", method="GET")
            assert ready.status == 200  # stale keys cost no request: still ready
            assert ready.json()["checks"]["keys"]["ok"] is False
            proxy.heal()
            until(lambda: gw.runtime.keys.why is None, 20, "the store to answer again")

        gone = request(gw.url + f"/admin/keys/{ident}", method="DELETE", headers=admin)
        assert gone.status == 200, gone.body
        assert status(gw, secret) == 401
    said = [r.getMessage() for r in caplog.records if r.name == "failsoft.auth"]
    assert sum("does not answer" in line for line in said) == 2  # once per outage
    assert sum("answers again" in line for line in said) == 2
    assert secret not in caplog.text

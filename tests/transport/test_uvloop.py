"""The client's tests again on uvloop, production's loop (the others run on asyncio's):
TLS over a CONNECT tunnel (`start_tls`), TLS in TLS through an https:// proxy (`start_tls`
on a TLS transport), pausing reads, cancellation and resets differ between the two
loops' transports."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import uvloop

from tests.certs import make_cert
from tests.transport import test_client, test_proxies, test_tls_proxy

CASES: list[Callable[[], Coroutine[Any, Any, None]]] = [
    test_client.test_the_request_on_the_wire_is_what_aiohttp_sent,
    test_client.test_a_connection_is_reused_after_a_clean_end,
    test_client.test_a_body_read_until_the_server_closes,
    test_client.test_a_stale_keep_alive_connection_is_not_the_upstreams_failure,
    test_client.test_a_reset_or_a_partial_answer_is_reported_not_sent_again,
    test_client.test_errors_are_failsofts,
    test_client.test_cancelled_exchanges_drop_their_connection_and_give_the_slot_back,
    test_client.test_a_caller_that_does_not_read_holds_a_bounded_buffer,
    test_tls_proxy.test_no_proxy_and_a_refusing_proxy,
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_on_uvloop(case: Callable[[], Coroutine[Any, Any, None]]) -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(case())


def test_tls_and_tunnels_on_uvloop(tmp_path: Path) -> None:
    crt, key = make_cert(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_tls_proxy.test_tls_is_verified((crt, server)))
        runner.run(test_tls_proxy.test_an_https_origin_through_a_connect_tunnel((crt, server)))


def test_https_proxies_on_uvloop(tmp_path: Path) -> None:
    """uvloop (0.23) supports `start_tls` on its own TLS transport: TLS in TLS works."""
    crt, key = make_cert(tmp_path)
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(test_proxies.test_an_https_origin_through_an_https_proxy((crt, server)))
        runner.run(test_proxies.test_an_http_origin_through_an_https_proxy((crt, server)))
        runner.run(test_proxies.test_the_proxys_certificate_is_verified((crt, server)))
        runner.run(
            test_proxies.test_a_proxy_that_refuses_the_tunnel_is_named_without_credentials(
                (crt, server), 407, True, "refusing the credentials"
            )
        )

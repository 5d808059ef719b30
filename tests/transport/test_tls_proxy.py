"""TLS with verification (a self-signed certificate trusted by the test alone, refused by the
default trust), and proxies from the environment: absolute-form requests for http
origins, CONNECT tunnels then TLS for https ones, NO_PROXY honoured."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from failsoft.errors import ConnectError
from failsoft.transport import Transport
from tests.certs import make_cert, trusting
from tests.transport.conftest import connect_head
from tests.transport.scripted import forward_proxy, keep_answering, serve

HEADERS = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    crt, key = make_cert(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    return crt, server


async def answered(transport: Transport, url: str) -> int:
    upstream = await transport.post(url + "/v1/x", HEADERS, b"{}", connect_timeout=5)
    await upstream.read()
    upstream.finish()
    return upstream.status


async def test_tls_is_verified(cert: tuple[Path, ssl.SSLContext]) -> None:
    crt, server_tls = cert
    requests: list[bytes] = []
    async with serve(keep_answering(requests), tls=server_tls) as server:
        async with Transport(tls=trusting(crt)) as transport:
            assert await answered(transport, server.url) == 200
            assert await answered(transport, server.url) == 200
            assert transport.idle_connections == 1
            # By name: resolved (every address tried in turn), the name checked.
            assert await answered(transport, server.url.replace("127.0.0.1", "localhost")) == 200
        async with Transport(proxies={}) as transport:  # the system's trust only
            with pytest.raises(ConnectError, match="certificate verify failed"):
                await answered(transport, server.url)


async def test_an_http_origin_through_the_environments_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    requests: list[bytes] = []
    async with serve(keep_answering(requests)) as origin, forward_proxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.delenv("NO_PROXY", raising=False)
        async with Transport() as transport:
            assert await answered(transport, origin.url) == 200
            assert await answered(transport, origin.url) == 200
    assert len(proxy.seen) == 1  # one connection to the proxy, kept alive
    assert requests[0].startswith(b"POST " + origin.url.encode() + b"/v1/x HTTP/1.1\r\n")
    assert len(requests) == 2


async def test_an_https_origin_through_a_connect_tunnel(
    cert: tuple[Path, ssl.SSLContext],
) -> None:
    crt, server_tls = cert
    requests: list[bytes] = []
    async with serve(keep_answering(requests), tls=server_tls) as origin, forward_proxy() as proxy:
        async with Transport(tls=trusting(crt), proxies={"https": proxy.url}) as transport:
            assert await answered(transport, origin.url) == 200
            assert await answered(transport, origin.url) == 200
    authority = origin.url.removeprefix("https://").encode()
    assert [connect_head(head) for head in proxy.seen] == [
        b"CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (authority, authority)
    ]
    assert requests[0].startswith(b"POST /v1/x HTTP/1.1\r\n")  # origin-form inside the tunnel


async def test_no_proxy_and_a_refusing_proxy() -> None:
    requests: list[bytes] = []
    async with serve(keep_answering(requests)) as origin, forward_proxy() as proxy:
        proxies = {"http": proxy.url, "no": "localhost,127.0.0.1"}
        async with Transport(proxies=proxies) as transport:
            assert await answered(transport, origin.url) == 200
        assert proxy.seen == []
    async with Transport(proxies={"all": "http://127.0.0.1:9"}) as transport:
        with pytest.raises(ConnectError, match=r"cannot connect \(proxy 127.0.0.1:9: "):
            await answered(transport, origin.url)

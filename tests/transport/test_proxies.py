"""Proxies: `https://` ones (TLS to the proxy, verified; TLS in TLS for https origins),
credentials in the proxy's URL (sent, never shown), refusals named, and which variables
and NO_PROXY forms are honoured (urllib's semantics, proxies.py). Every proxy is a small
one written in the test (scripted.py), on 127.0.0.1, with a certificate made in the test."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from failsoft.errors import ConnectError
from failsoft.transport import Transport, fetch
from failsoft.transport.proxies import Proxies, ProxyError, environment, parse_proxy, redact
from tests.certs import make_cert, trusting
from tests.transport.conftest import connect_head, current_client
from tests.transport.scripted import forward_proxy, keep_answering, serve

HEADERS = {"content-type": "application/json"}
SECRET = "s3cr%40t"
"""The password in the proxy URLs (percent-escaped `s3cr@t`): it must reach the proxy
decoded, and appear in no message."""
BASIC = b"Basic " + base64.b64encode(b"user:s3cr@t")


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    crt, key = make_cert(tmp_path_factory.mktemp("tls"))
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(crt, key)
    return crt, server


def with_credentials(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://user:{SECRET}@{rest}"


async def answered(transport: Transport, url: str) -> int:
    upstream = await transport.post(url + "/v1/x", HEADERS, b"{}", connect_timeout=5)
    await upstream.read()
    upstream.finish()
    return upstream.status


async def test_an_https_origin_through_an_https_proxy(cert: tuple[Path, ssl.SSLContext]) -> None:
    """TLS to the proxy, CONNECT with the credentials inside it, then TLS with the origin
    inside that (TLS in TLS); the tunnel is kept for the next request."""
    crt, server_tls = cert
    requests: list[bytes] = []
    async with (
        serve(keep_answering(requests), tls=server_tls) as origin,
        forward_proxy(tls=server_tls, require=BASIC) as proxy,
    ):
        proxies = {"https": with_credentials(proxy.url)}
        async with Transport(tls=trusting(crt), proxies=proxies) as transport:
            assert await answered(transport, origin.url) == 200
            assert await answered(transport, origin.url) == 200
    authority = origin.url.removeprefix("https://").encode()
    assert [connect_head(head) for head in proxy.seen] == [
        b"CONNECT %s HTTP/1.1\r\nHost: %s\r\nProxy-Authorization: %s\r\n\r\n"
        % (authority, authority, BASIC)
    ]
    assert len(requests) == 2
    assert requests[0].startswith(b"POST /v1/x HTTP/1.1\r\n")
    assert b"proxy-authorization" not in requests[0].lower()  # the origin never sees them


async def test_an_http_origin_through_an_https_proxy(cert: tuple[Path, ssl.SSLContext]) -> None:
    """TLS to the proxy, the request in absolute form with the credentials on it."""
    crt, server_tls = cert
    requests: list[bytes] = []
    async with (
        serve(keep_answering(requests)) as origin,
        forward_proxy(tls=server_tls, require=BASIC) as proxy,
    ):
        proxies = {"http": with_credentials(proxy.url)}
        async with Transport(tls=trusting(crt), proxies=proxies) as transport:
            assert await answered(transport, origin.url) == 200
            assert await answered(transport, origin.url) == 200
    assert len(proxy.seen) == 1
    assert requests[0].startswith(b"POST " + origin.url.encode() + b"/v1/x HTTP/1.1\r\n")
    assert b"Proxy-Authorization: " + BASIC + b"\r\n" in requests[0]


async def test_the_proxys_certificate_is_verified(cert: tuple[Path, ssl.SSLContext]) -> None:
    _, server_tls = cert
    async with (
        serve(keep_answering([]), tls=server_tls) as origin,
        forward_proxy(tls=server_tls) as proxy,
    ):
        name = proxy.url.removeprefix("https://")
        async with Transport(proxies={"https": proxy.url}) as transport:  # system trust only
            with pytest.raises(ConnectError) as info:
                await answered(transport, origin.url)
        assert f"proxy {name}: certificate verify failed" in str(info.value)
        assert proxy.seen == []


@pytest.mark.parametrize(
    ("status", "credentials", "why"),
    [
        (407, False, "asking for credentials"),
        (407, True, "refusing the credentials"),
        (403, True, "answered CONNECT with 403"),
    ],
)
async def test_a_proxy_that_refuses_the_tunnel_is_named_without_credentials(
    cert: tuple[Path, ssl.SSLContext], status: int, credentials: bool, why: str
) -> None:
    crt, server_tls = cert
    async with (
        serve(keep_answering([]), tls=server_tls) as origin,
        forward_proxy(tls=server_tls, refuse=status) as proxy,
    ):
        url = with_credentials(proxy.url) if credentials else proxy.url
        name = proxy.url.removeprefix("https://")
        async with Transport(tls=trusting(crt), proxies={"https": url}) as transport:
            with pytest.raises(ConnectError) as info:
                await answered(transport, origin.url)
    message = str(info.value)
    assert message.startswith(f"cannot connect (the proxy {name} answered CONNECT with {status}")
    assert why in message
    assert "user:s" not in message and "s3cr" not in message
    assert info.value.outcome == "connect"


async def test_a_407_to_an_absolute_form_request_is_the_proxys_refusal() -> None:
    """A 407 is never an origin's answer: the attempt fails as `connect`, naming the proxy."""
    async with serve(keep_answering([])) as origin, forward_proxy(require=BASIC) as proxy:
        async with Transport(proxies={"http": proxy.url}) as transport:
            with pytest.raises(
                ConnectError, match=r"answered the request with 407, asking for credentials"
            ):
                await answered(transport, origin.url)
            if current_client() == "native":  # aiohttp forgets a closed one lazily
                assert transport.idle_connections == 0


async def test_control_plane_calls_take_the_same_proxy(cert: tuple[Path, ssl.SSLContext]) -> None:
    """`fetch` (aiohttp, whose own reading of the environment would ignore an https://
    proxy) goes through the proxy the proxied path would take, credentials included."""
    crt, server_tls = cert
    requests: list[bytes] = []
    async with (
        serve(keep_answering(requests), tls=server_tls) as origin,
        forward_proxy(tls=server_tls, require=BASIC) as proxy,
    ):
        proxies = {"https": with_credentials(proxy.url)}
        async with Transport(tls=trusting(crt), proxies=proxies) as transport:
            got = await fetch(transport, "GET", origin.url + "/status", seconds=5)
    assert got.status == 200 and got.body == b'{"ok": true}'
    assert len(proxy.seen) == 1 and proxy.seen[0].startswith(b"CONNECT ")
    assert requests[0].startswith(b"GET /status HTTP/1.1\r\n")


async def test_control_plane_ignores_proxy_variables_the_transport_does_not_take(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With `proxies={}` (the demo) or a NO_PROXY `host:port` entry, `fetch` goes direct even
    though the environment names a proxy: aiohttp's own `trust_env` would have put the
    environment's proxy (here a dead port) back, and read ~/.netrc."""
    requests: list[bytes] = []
    async with serve(keep_answering(requests)) as origin:
        for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.setenv(name, "http://127.0.0.1:9")
        port = origin.url.rsplit(":", 1)[1]
        for proxies in ({}, {"http": "http://127.0.0.1:9", "no": f"127.0.0.1:{port}"}):
            async with Transport(proxies=proxies) as transport:
                got = await fetch(transport, "GET", origin.url + "/status", seconds=5)
            assert got.status == 200
    assert len(requests) == 2


def test_proxy_urls() -> None:
    plain = parse_proxy("proxy.internal:3128")  # no scheme: http
    assert (plain.scheme, plain.host, plain.port, plain.authorization) == (
        "http",
        "proxy.internal",
        3128,
        None,
    )
    assert parse_proxy("https://proxy.internal").port == 443
    assert parse_proxy("http://proxy.internal").port == 80
    assert parse_proxy("HTTPS://[::1]:8443").name == "[::1]:8443"
    with_auth = parse_proxy(f"https://user:{SECRET}@proxy.internal:8443")
    auth = with_auth.authorization
    assert auth is not None and auth.encode() == BASIC
    assert auth not in repr(with_auth) and "Basic" not in repr(with_auth)
    for bad, why in [
        ("socks5://user:secret@proxy:1080", "unsupported proxy scheme 'socks5'"),
        ("http://user:secret@:3128", "no proxy host"),
        ("http://user:secret@proxy:99999", "out of range"),
    ]:
        with pytest.raises(ProxyError, match=why) as info:
            Transport(proxies={"all": bad})
        assert "secret" not in str(info.value) and "all_proxy=" in str(info.value)
    assert redact("https://u:p@h:1/x") == "https://h:1/x"
    assert redact("u:p@h:1") == "h:1"


def test_which_variable_and_no_proxy() -> None:
    proxies = Proxies(
        {
            "https": "http://tls-proxy:3128",
            "all": "http://any-proxy:3128",
            "no": "localhost, .internal,Example.COM,api.local:8443,10.0.0.0/8",
        }
    )
    via = proxies.for_origin

    def name(proxy: object) -> str | None:
        return getattr(proxy, "host", None)

    assert name(via("https", "api.openai.com", 443)) == "tls-proxy"
    assert name(via("http", "api.openai.com", 80)) == "any-proxy"  # ALL_PROXY: the rest
    assert via("https", "localhost", 443) is None
    assert via("https", "llm.internal", 443) is None  # leading dot: the names under it
    assert via("https", "internal", 443) is None  # ... and the name itself
    assert via("https", "a.b.example.com", 443) is None  # without case, suffix
    assert name(via("https", "notexample.com", 443)) == "tls-proxy"  # whole labels only
    assert via("https", "api.local", 8443) is None  # host:port: that port only
    assert name(via("https", "api.local", 443)) == "tls-proxy"
    assert name(via("https", "10.1.2.3", 443)) == "tls-proxy"  # no CIDR, as urllib
    everything = Proxies({"https": "http://p:1", "no": "*"})
    assert everything.for_origin("https", "api.openai.com", 443) is None
    assert not Proxies({"no": "*"})  # nothing to bypass
    shown = Proxies({"https": f"https://user:{SECRET}@p:1", "no": "localhost"}).describe()
    assert shown == ["https_proxy: https://p:1 (with credentials)", "no_proxy: localhost"]


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "REQUEST_METHOD"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://upper:1")
    monkeypatch.setenv("ALL_PROXY", "http://all:1")
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert environment() == {"https": "http://upper:1", "all": "http://all:1", "no": "localhost"}
    monkeypatch.setenv("https_proxy", "https://lower:1")  # lower case wins
    assert environment()["https"] == "https://lower:1"
    monkeypatch.setenv("all_proxy", "")  # an empty lower-case one unsets it
    assert "all" not in environment()
    proxy = Transport().proxies.for_origin("https", "api.openai.com", 443)
    assert proxy is not None and proxy.url == "https://lower:1"


def test_serve_refuses_an_unusable_proxy_at_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from failsoft.cli import main

    config = tmp_path / "failsoft.yaml"
    config.write_text(
        "providers: {p: {dialect: openai, base_url: 'http://127.0.0.1:9/v1'}}\nmodels: {m: [p/x]}\n"
    )
    monkeypatch.delenv("https_proxy", raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "socks5h://user:secret@127.0.0.1:1080")
    assert main(["serve", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "cannot use the environment's proxy: https_proxy=socks5h://127.0.0.1:1080" in err
    assert "secret" not in err

"""What a gateway exposes: the start-up warnings of `failsoft serve` on an address other
machines reach (no `auth:`, no TLS), `check-config`'s account of it, `/metrics` following
`status.public` (admin token or `admin.metrics_token`), and HTTPS with `server.tls` through
the real openai SDK verifying the certificate (its own HTTP client, given a context
that trusts the test's self-signed certificate only). No token in any log or answer."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from failsoft import cli
from failsoft.config import load_config
from failsoft.reload import Reloader
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from tests.certs import make_cert, trusting
from tests.conftest import BASE_CONFIG, PROVIDER_KEY, make_config
from tests.helpers import request

ADMIN = "admin-" + "0a" * 16
METRICS = "metrics-" + "1b" * 16
PRIVATE = f'status: {{public: false}}\nadmin: {{token: "{ADMIN}", metrics_token: "{METRICS}"}}'
HI = [{"role": "user", "content": "hello"}]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def write_config(tmp_path: Path, sim: SimServer, extra: str = "") -> Path:
    path = tmp_path / "failsoft.yaml"
    path.write_text(BASE_CONFIG.format(sim=sim.url, key=PROVIDER_KEY, extra=extra))
    return path


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """`failsoft serve` up to the point it would listen: what it passes to `serve.run`."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("failsoft.serve.run", lambda config, **kw: calls.append(kw))
    return calls


def test_serve_on_a_network_address_without_auth_or_tls_warns(
    tmp_path: Path,
    sim: SimServer,
    served: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_config(tmp_path, sim, f'admin: {{token: "{ADMIN}"}}')
    caplog.set_level(logging.INFO, logger="failsoft")
    assert cli.main(["serve", "--config", str(path), "--host", "0.0.0.0", "--port", "0"]) == 0
    assert served and served[0]["host"] == "0.0.0.0"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings
    assert "anyone who can reach this port can spend every provider key configured" in (warnings[0])
    assert "(anthropic, openai)" in warnings[0]
    assert "caller keys and prompts cross the network in clear text" in warnings[1]
    assert "TLS-terminating proxy" in warnings[1]
    assert ADMIN not in caplog.text and PROVIDER_KEY not in caplog.text


def test_serve_on_loopback_does_not_warn(
    tmp_path: Path,
    sim: SimServer,
    served: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_config(tmp_path, sim)
    caplog.set_level(logging.INFO, logger="failsoft")
    assert cli.main(["serve", "--config", str(path), "--port", "0"]) == 0
    assert served[0]["host"] == "127.0.0.1"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_serve_with_an_empty_admin_token_warns_that_the_admin_api_is_off(
    tmp_path: Path,
    sim: SimServer,
    served: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAILSOFT_TEST_ADMIN_TOKEN", "")
    path = write_config(tmp_path, sim, "admin: {token: '${FAILSOFT_TEST_ADMIN_TOKEN}'}")
    caplog.set_level(logging.INFO, logger="failsoft")
    assert cli.main(["serve", "--config", str(path), "--port", "0"]) == 0
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "admin.token is empty (from ${FAILSOFT_TEST_ADMIN_TOKEN}): the admin API is off" in (
        warning
    )


def test_serve_refuses_a_short_admin_token(
    tmp_path: Path,
    sim: SimServer,
    served: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(tmp_path, sim, 'admin: {token: "adm-secret-token-1234"}')
    assert cli.main(["serve", "--config", str(path)]) == 1
    assert not served
    err = capsys.readouterr().err
    assert "admin.token: must be at least 32 characters (got 21)" in err
    assert "openssl rand -hex 32" in err and "adm-secret-token-1234" not in err


def test_check_config_prints_the_exposure(
    tmp_path: Path, sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, sim, f"server: {{host: 0.0.0.0}}\n{PRIVATE}")
    assert cli.main(["check-config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "listener: http://0.0.0.0:8080 (reachable from the network; no TLS" in out
    assert "public without a key: /healthz, /readyz; /status and /metrics need the admin or " in (
        out
    )
    assert "WARNING: listening on 0.0.0.0, reachable from the network, with no `auth:`" in out
    assert "WARNING: listening on 0.0.0.0 without `server.tls`" in out
    assert ADMIN not in out and METRICS not in out


def test_private_metrics_need_the_admin_or_the_metrics_token(
    make_gateway: Callable[[str], GatewayThread], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    gw = make_gateway(PRIVATE)
    url = gw.url + "/metrics"
    refused = request(url, "GET")
    assert refused.status == 401
    assert refused.headers["www-authenticate"] == 'Bearer realm="failsoft metrics"'
    assert b"admin.metrics_token" in refused.body
    assert request(url, "GET", headers=bearer("not-" + METRICS)).status == 401
    assert request(url, "GET", headers={"authorization": METRICS}).status == 401  # no scheme
    for token in (ADMIN, METRICS):
        ok = request(url, "GET", headers=bearer(token))
        assert ok.status == 200, token
        assert b"failsoft_attempts" in ok.body or b"failsoft_requests" in ok.body
        assert ADMIN.encode() not in ok.body and METRICS.encode() not in ok.body
    # The metrics token opens /metrics only.
    assert request(gw.url + "/status", "GET", headers=bearer(METRICS)).status == 401
    assert request(gw.url + "/admin/health", "GET", headers=bearer(METRICS)).status == 401
    assert request(gw.url + "/status", "GET", headers=bearer(ADMIN)).status == 200
    # Liveness and readiness stay open for probes.
    assert request(gw.url + "/healthz", "GET").status == 200
    assert request(gw.url + "/readyz", "GET").status == 200
    assert ADMIN not in caplog.text and METRICS not in caplog.text


def test_private_metrics_with_the_admin_token_only(
    make_gateway: Callable[[str], GatewayThread],
) -> None:
    gw = make_gateway(f'status: {{public: false}}\nadmin: {{token: "{ADMIN}"}}')
    assert request(gw.url + "/metrics", "GET").status == 401
    assert request(gw.url + "/metrics", "GET", headers=bearer(METRICS)).status == 401
    assert request(gw.url + "/metrics", "GET", headers=bearer(ADMIN)).status == 200


def test_public_metrics_need_no_token(gateway: GatewayThread) -> None:
    assert request(gateway.url + "/metrics", "GET").status == 200
    assert request(gateway.url + "/status", "GET").status == 200


def test_https_with_server_tls_through_the_openai_sdk(
    tmp_path: Path, sim: SimServer, make_gateway: Callable[[str], GatewayThread]
) -> None:
    cert, key = make_cert(tmp_path)
    gw = make_gateway(f"server: {{tls: {{cert: '{cert}', key: '{key}'}}}}")
    assert gw.url.startswith("https://127.0.0.1:")
    with (
        openai.DefaultHttpxClient(verify=trusting(cert), timeout=10) as http,
        openai.OpenAI(
            base_url=gw.url + "/v1", api_key="sk-caller", http_client=http, max_retries=0
        ) as oai,
    ):
        answer = oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]
        assert answer.choices[0].message.content
        streamed = oai.chat.completions.create(model="gpt", messages=HI, stream=True)  # type: ignore[arg-type]
        assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices)
    assert sim.requests("gpt-4o")
    # A client that does not trust the certificate is refused the connection.
    other, _ = make_cert(tmp_path, "stranger")
    with (
        openai.DefaultHttpxClient(verify=trusting(other), timeout=10) as http,
        openai.OpenAI(
            base_url=gw.url + "/v1", api_key="sk-caller", http_client=http, max_retries=0
        ) as oai,
        pytest.raises(openai.APIConnectionError),
    ):
        oai.chat.completions.create(model="gpt", messages=HI)  # type: ignore[arg-type]


def test_metrics_follow_a_reload(
    make_gateway: Callable[[str], GatewayThread], sim: SimServer
) -> None:
    gw = make_gateway("")
    assert request(gw.url + "/metrics", "GET").status == 200
    gw.call(gw.runtime.reconfigure(make_config(sim.url, PRIVATE)))
    assert request(gw.url + "/metrics", "GET").status == 401
    assert request(gw.url + "/metrics", "GET", headers=bearer(METRICS)).status == 200


def test_a_reload_that_empties_the_admin_token_warns(
    tmp_path: Path,
    sim: SimServer,
    make_gateway: Callable[..., GatewayThread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_config(tmp_path, sim, f'admin: {{token: "{ADMIN}"}}')
    gw = make_gateway(config=load_config(path))
    reloader = Reloader(gw.runtime, path)
    path.write_text(path.read_text().replace(ADMIN, ""))
    caplog.set_level(logging.INFO, logger="failsoft")
    assert gw.call(reloader.reload()).outcome == "applied"
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "config reload: admin.token is empty (from inline): the admin API is off" in warning
    assert request(gw.url + "/admin/health", "GET", headers=bearer(ADMIN)).status == 404
    assert ADMIN not in caplog.text

"""Admin and metrics tokens (32+ characters, empty = off), `server.tls` (files read from the
config file's directory, checked at load, restart-only) and what `check-config` says about
exposure. No token is ever quoted back."""

from __future__ import annotations

from pathlib import Path

import pytest

from failsoft.config import load_config, parse_config
from failsoft.config.diff import restart_only
from failsoft.config.exposure import exposure_warnings, is_loopback
from failsoft.config.plan import render_plan
from failsoft.errors import ConfigError
from tests.certs import make_cert

BASE = """
providers:
  openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  gpt: [openai/gpt-4o]
"""
LONG = "a" * 32
SHORT = "adm-secret-token-1234"


def problems(extra: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + extra, env=env or {})
    return caught.value.problems


@pytest.mark.parametrize("key", ["token", "metrics_token"])
def test_a_short_token_is_a_config_error_that_does_not_quote_it(key: str) -> None:
    (found,) = problems(f"admin: {{{key}: '${{TOK}}'}}\n", {"TOK": SHORT})
    assert f"admin.{key}" in found
    assert "at least 32 characters (got 21)" in found
    assert "openssl rand -hex 32" in found
    assert SHORT not in found


def test_a_long_token_loads_and_is_never_printed() -> None:
    metrics = "m" * 40
    text = BASE + "admin: {token: '${TOK}', metrics_token: '${MTOK}'}\n"
    config = parse_config(text, env={"TOK": LONG, "MTOK": metrics})
    assert config.admin.token is not None and config.admin.token.reveal() == LONG
    plan = render_plan(config)
    assert "admin API: on (token from ${TOK}); metrics token from ${MTOK}" in plan
    assert LONG not in plan and metrics not in plan and LONG not in repr(config)


def test_an_empty_token_turns_the_admin_api_off_with_a_warning() -> None:
    config = parse_config(BASE + "admin: {token: '${TOK:-}'}\n", env={})
    assert config.admin.token is not None and not config.admin.token
    plan = render_plan(config)
    assert "admin API: off" in plan
    assert "WARNING: admin.token is empty (from ${TOK}): the admin API is off" in plan


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.5", False),
        ("gateway.internal", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_check_config_warns_about_an_exposed_listener_without_auth_or_tls() -> None:
    config = parse_config(BASE + "server: {host: 0.0.0.0}\n", env={})
    plan = render_plan(config)
    assert "listener: http://0.0.0.0:8080 (reachable from the network; no TLS" in plan
    assert "public without a key: /healthz, /readyz, /status, /metrics" in plan
    assert (
        "WARNING: listening on 0.0.0.0, reachable from the network, with no `auth:` section: "
        "anyone who can reach this port can spend every provider key configured (openai)"
    ) in plan
    assert "WARNING: listening on 0.0.0.0 without `server.tls`: caller keys and prompts " in plan
    # Loopback: nothing to warn about.
    local = parse_config(BASE, env={})
    assert exposure_warnings(local) == []
    assert "WARNING" not in render_plan(local)
    assert "loopback only" in render_plan(local)


def test_auth_and_tls_silence_the_warnings(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    text = (
        BASE
        + f"server: {{host: '::', tls: {{cert: '{cert}', key: '{key}'}}}}\n"
        + f"auth: {{keys: [{{name: team, key: '{'k' * 32}'}}]}}\n"
    )
    config = parse_config(text, env={})
    assert exposure_warnings(config) == []
    assert exposure_warnings(config, "0.0.0.0") == []
    assert f"listener: https://:::8080 (reachable from the network; TLS: {cert}" in render_plan(
        config
    )


def test_a_private_status_page_without_any_token_is_a_warning() -> None:
    config = parse_config(BASE + "status: {public: false}\n", env={})
    (warning,) = exposure_warnings(config)
    assert "/status and /metrics answer 401 to everyone" in warning
    assert "/status and /metrics need the admin token" in render_plan(config)


def test_tls_paths_are_read_from_the_config_files_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    make_cert(folder)
    path = folder / "failsoft.yaml"
    path.write_text(BASE + "server: {tls: {cert: gateway.crt, key: ./gateway.key}}\n")
    monkeypatch.chdir(tmp_path)  # elsewhere: the paths must not depend on it
    config = load_config(path)
    assert config.server.tls is not None
    assert config.server.tls.cert == str(folder / "gateway.crt")
    assert config.server.tls.key == str(folder / "gateway.key")


def test_missing_tls_files_are_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "failsoft.yaml"
    path.write_text(BASE + "server:\n  tls: {cert: nowhere.crt, key: nowhere.key}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    cert, key = caught.value.problems
    assert "server.tls.cert: no such file: " + str(tmp_path / "nowhere.crt") in cert
    assert "server.tls.key: no such file: " + str(tmp_path / "nowhere.key") in key
    assert problems("server: {tls: {cert: a.crt}}\n") == [
        "line 6: server.tls: missing required key 'key'"
    ]


def test_a_certificate_and_key_that_do_not_match_are_a_config_error(tmp_path: Path) -> None:
    cert, _ = make_cert(tmp_path, "one")
    _, other = make_cert(tmp_path, "two")
    (found,) = problems(f"server: {{tls: {{cert: '{cert}', key: '{other}'}}}}\n")
    assert "server.tls: cannot load the certificate and key" in found
    (garbage,) = problems(f"server: {{tls: {{cert: '{cert}', key: '{cert}'}}}}\n")
    assert "server.tls: cannot load the certificate and key" in garbage


def test_tls_is_restart_only(tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path)
    old = parse_config(BASE, env={})
    new = parse_config(BASE + f"server: {{tls: {{cert: '{cert}', key: '{key}'}}}}\n", env={})
    assert restart_only(old, new) == ["server.tls"]

"""The `transport:` section: the proxied path's client, native by default, aiohttp on
request; a restart-only choice, shown by check-config when it is not the default."""

from __future__ import annotations

import pytest

from failsoft.config import parse_config
from failsoft.config.diff import keep_restart_only, restart_only
from failsoft.config.plan import render_plan
from failsoft.errors import ConfigError

BASE = """
providers:
  a: {dialect: openai, base_url: "http://127.0.0.1:1/v1"}
models:
  fast: [a/small]
"""


def test_native_by_default_aiohttp_on_request() -> None:
    assert parse_config(BASE).transport.client == "native"
    config = parse_config(BASE + "transport: {client: aiohttp}\n")
    assert config.transport.client == "aiohttp"
    assert "transport: the proxied path over aiohttp" in render_plan(config)
    assert "transport:" not in render_plan(parse_config(BASE))


def test_an_unknown_client_or_key_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BASE + "transport: {client: httpx, proxy: x}\n")
    text = str(info.value)
    assert "transport.client: expected one of 'native', 'aiohttp'" in text
    assert "transport.proxy" in text


def test_the_client_needs_a_restart() -> None:
    old = parse_config(BASE)
    new = parse_config(BASE + "transport: {client: aiohttp}\n")
    assert restart_only(old, new) == ["transport.client"]
    assert keep_restart_only(old, new).transport.client == "native"

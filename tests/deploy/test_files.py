"""The helpers the deployment tests share: the configs they write keep every key, and a
typo still fails."""

from __future__ import annotations

import pytest

from failsoft.config import parse_config
from failsoft.errors import ConfigError
from tests.deploy.files import config_text, seconds

BASE = {
    "providers": {"openai": {"dialect": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    "models": {"gpt": ["openai/gpt-4o"]},
}


def test_the_multi_instance_keys_load() -> None:
    raw = {
        **BASE,
        "state": {"url": "redis://127.0.0.1:6379/0"},
        "server": {"port": 8080, "drain": 30},
        "log": {"format": "json", "access_format": "json"},
    }
    config = parse_config(config_text(raw))
    assert config.state.url is not None and config.server.drain == 30
    assert config.log.format == "json"


def test_other_unknown_keys_still_fail() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(config_text({**BASE, "server": {"port": 8080, "dran": 30}}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("310s", 310.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("40", 40.0), (7, 7.0)],
)
def test_seconds(text: str | int, expected: float) -> None:
    assert seconds(text) == expected

"""The helpers the deployment tests share: pending config keys are dropped only while this
checkout does not know them, and nothing else is."""

from __future__ import annotations

import pytest

from failsoft.config import parse_config
from failsoft.errors import ConfigError
from tests.deploy.files import PENDING_KEYS, config_text, key_supported, seconds, without_pending

BASE = {
    "providers": {"openai": {"dialect": "openai", "base_url": "http://127.0.0.1:9/v1"}},
    "models": {"gpt": ["openai/gpt-4o"]},
}


def test_pending_keys_are_dropped_only_when_unknown() -> None:
    raw = {
        **BASE,
        "state": {"url": "redis://127.0.0.1:6379/0"},
        "server": {"port": 8080, "drain": 30},
        "log": {"format": "json", "access_format": "json"},
    }
    kept = without_pending(raw)
    for path in PENDING_KEYS:
        section = kept
        for part in path[:-1]:
            section = section[part]
        assert (path[-1] in section) == key_supported(path)
    assert kept["server"]["port"] == 8080 and kept["log"]["access_format"] == "json"
    parse_config(config_text(raw))
    assert raw["server"]["drain"] == 30, "the original is left alone"


def test_other_unknown_keys_still_fail() -> None:
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config(config_text({**BASE, "server": {"port": 8080, "dran": 30}}))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("310s", 310.0), ("5m", 300.0), ("1h30m", 5400.0), ("250ms", 0.25), ("40", 40.0), (7, 7.0)],
)
def test_seconds(text: str | int, expected: float) -> None:
    assert seconds(text) == expected

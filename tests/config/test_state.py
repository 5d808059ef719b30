"""The `state` section: shared state through Redis, off unless a URL is given."""

from __future__ import annotations

import pytest

from failsoft.config import parse_config
from failsoft.config.plan import render_plan
from failsoft.errors import ConfigError

BASE = "providers: {p: {dialect: openai, base_url: 'http://x'}}\nmodels: {m: [p/a]}\n"


def test_unset_means_each_process_decides_alone() -> None:
    assert parse_config(BASE).state.url is None


def test_urls_with_credentials_are_accepted_and_not_shown() -> None:
    config = parse_config(
        BASE + "state: {url: 'rediss://app:s3cret@127.0.0.1:6380/1', prefix: 'x:', "
        "publish_every: 0.02, timeout: 0.1}\n"
    )
    assert config.state.url == "rediss://app:s3cret@127.0.0.1:6380/1"
    assert (config.state.prefix, config.state.publish_every) == ("x:", 0.02)
    assert "s3cret" not in repr(config.state)
    plan = render_plan(config)
    assert "shared state: rediss://127.0.0.1:6380/1 (prefix 'x:'" in plan
    assert "s3cret" not in plan
    assert "shared state: off" in render_plan(parse_config(BASE))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("url: 'http://x'", "must start with redis://, rediss:// or unix://"),
        ("url: 'redis+sentinel://h:26379/m'", "Sentinel is not supported"),
        ("publish_every: 0", "must be greater than 0"),
        ("timout: 1", "unknown key"),
    ],
)
def test_bad_values_are_reported(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + f"state: {{{value}}}\n")
    assert message in str(caught.value)

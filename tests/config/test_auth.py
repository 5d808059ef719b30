"""The `auth` section: keys from the environment as secrets, and every problem reported
with its line (short keys, duplicates, a bad expiry); `check-config` never prints a key."""

from __future__ import annotations

import pytest

from failsoft.config import Secret, parse_config
from failsoft.config.plan import render_plan
from failsoft.errors import ConfigError

BASE = """
providers:
  openai: {dialect: openai, base_url: "http://127.0.0.1:9/v1"}
models:
  gpt: [openai/gpt-4o]
"""
LONG = "k" * 32
OTHER = "o" * 40


def problems(auth: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + auth, env=env or {})
    return caught.value.problems


def test_absent_means_off() -> None:
    config = parse_config(BASE, env={})
    assert config.auth is None
    assert "caller keys: off" in render_plan(config)


def test_keys_from_the_environment_are_secrets_and_never_printed() -> None:
    text = (
        BASE
        + """
auth:
  keys:
    - name: team-a
      key: ${TEAM_A_KEY}
      expires: "2030-01-01T00:00:00Z"
      models: [gpt, "openai/*"]
      metadata: {owner: platform}
"""
    )
    config = parse_config(text, env={"TEAM_A_KEY": LONG})
    assert config.auth is not None
    (key,) = config.auth.keys
    assert isinstance(key.key, Secret) and key.key.reveal() == LONG
    assert LONG not in repr(config)
    assert key.models == ("gpt", "openai/*")
    assert key.metadata == {"owner": "platform"}
    assert key.expires_at == 1893456000.0
    plan = render_plan(config)
    assert LONG not in plan
    assert "team-a (from ${TEAM_A_KEY}; models gpt, openai/*; expires 2030-01-01T00:00:00Z)" in plan


def test_short_keys_duplicates_and_bad_expiry_are_problems() -> None:
    found = problems(
        f"""
auth:
  keys:
    - {{name: a, key: short}}
    - {{name: b, key: "{LONG}", expires: "tomorrow"}}
    - {{name: b, key: "{OTHER}"}}
    - {{name: c, key: "{OTHER}", expires: "2030-01-01T00:00:00"}}
    - {{name: d, key: "{LONG}x", models: []}}
"""
    )
    text = "\n".join(found)
    assert "auth.keys[0].key: must be at least 32 characters (got 5)" in text
    assert "short" not in text.replace("(got 5)", "")
    assert "auth.keys[1].expires: expected an ISO 8601 date-time" in text
    assert "auth.keys[3].expires: needs a time zone" in text
    assert "auth.keys[4].models: must name at least one model" in text
    assert len(found) == 4  # duplicates are checked once every key is well-formed
    dupes = problems(
        f"""
auth:
  keys:
    - {{name: b, key: "{LONG}"}}
    - {{name: b, key: "{OTHER}"}}
    - {{name: c, key: "{OTHER}"}}
"""
    )
    assert any("auth.keys[1].name: duplicate key name 'b'" in p for p in dupes), dupes
    assert any("auth.keys[2].key: the same key as keys[1]" in p for p in dupes), dupes
    assert OTHER not in "\n".join(dupes)


def test_a_missing_variable_is_reported() -> None:
    found = problems('auth:\n  keys:\n    - {name: a, key: "${NOT_SET}"}\n')
    assert any("environment variable NOT_SET is not set" in p for p in found), found


def test_an_empty_section_leaves_only_the_stores_keys() -> None:
    config = parse_config(BASE + "auth: {}\n", env={})
    assert config.auth is not None and config.auth.keys == ()
    plan = render_plan(config)
    assert "caller keys: required; none in the config; keys kept in the store" in plan


def test_the_plan_shows_each_keys_limits_and_the_default() -> None:
    text = (
        "auth:\n  limits: {rpm: 600, concurrency: 20}\n  keys:\n"
        '    - {name: a, key: "${K}", limits: {tpm: 1000, budget: 5, budget_period: month}}\n'
    )
    plan = render_plan(parse_config(BASE + text, env={"K": "k" * 40}))
    assert "a (from ${K}; all virtual models; tpm 1000, $5/month)" in plan
    assert "every key without its own limits: rpm 600, 20 at once" in plan
    assert "k" * 40 not in plan

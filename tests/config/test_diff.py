"""What a reloaded config changes, and which changes wait for a restart (config/diff.py)."""

from __future__ import annotations

from failsoft.config import parse_config
from failsoft.config.diff import RESTART_ONLY, changes, keep_restart_only, restart_only

BASE = """
providers:
  a: {dialect: openai, base_url: "http://127.0.0.1:1/v1", api_key: "k1"}
  b: {dialect: anthropic, base_url: "http://127.0.0.1:2"}
models:
  fast: [a/small, b/haiku]
  smart: [b/opus]
"""


def test_the_same_text_changes_nothing() -> None:
    assert changes(parse_config(BASE), parse_config(BASE)) == []
    assert restart_only(parse_config(BASE), parse_config(BASE)) == []


def test_models_and_providers_are_named_by_what_changed() -> None:
    new = BASE.replace("fast: [a/small, b/haiku]", "fast: [b/haiku, a/small]")
    new = new.replace("smart: [b/opus]", "cheap: [a/small]")
    new = new.replace('api_key: "k1"', 'api_key: "k2"')
    assert changes(parse_config(BASE), parse_config(new)) == [
        "providers: changed a",
        "models: added cheap; removed smart; changed fast",
    ]


def test_aliases_and_policies_are_changes() -> None:
    new = BASE.replace("smart: [b/opus]", "smart: {targets: [b/opus], aliases: [clever]}")
    new += "breaker: {failures: 3}\nhedge: {enabled: true}\nlog: {access: false}\n"
    found = changes(parse_config(BASE), parse_config(new))
    assert found[0] == "models: changed fast, smart"  # hedge is a per-model policy too
    assert found[1:] == ["policies", "breaker", "log"]


def test_restart_only_keys_are_listed_one_by_one() -> None:
    old = parse_config(BASE + "server: {port: 8080}\nstore: {url: 'memory://'}\n")
    new = parse_config(
        BASE
        + "server: {port: 9090, host: 0.0.0.0}\n"
        + "store: {url: 'sqlite:///x.db', timeout: 2}\n"
        + "breaker: {failures: 3}\n"
    )
    assert restart_only(old, new) == ["server.host", "server.port", "store.url", "store.timeout"]
    kept = keep_restart_only(old, new)
    assert kept.server == old.server and kept.store == old.store
    assert kept.breaker.failures == 3  # the rest applies
    assert restart_only(old, kept) == []
    assert changes(old, kept) == ["breaker"]
    assert kept.resolve("fast") is not None  # derived lookups rebuilt


def test_tracing_and_the_log_format_need_a_restart_the_access_log_does_not() -> None:
    old = parse_config(BASE)
    new = parse_config(
        BASE
        + "tracing: {enabled: true, endpoint: 'http://127.0.0.1:4318'}\n"
        + "log: {format: json, access: false}\n"
    )
    assert restart_only(old, new) == ["tracing.enabled", "tracing.endpoint", "log.format"]
    kept = keep_restart_only(old, new)
    assert kept.tracing == old.tracing
    assert kept.log.format == old.log.format
    assert kept.log.access is False  # the rest of `log` applies
    assert restart_only(old, kept) == []


def test_sections_that_do_not_exist_yet_are_skipped() -> None:
    # `state` is named for the shared-state section; until a Config has it, it is ignored.
    assert "state" in RESTART_ONLY
    config = parse_config(BASE)
    assert restart_only(config, config) == []
    assert keep_restart_only(config, config) == config

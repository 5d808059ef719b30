"""Config loading: the happy path, interpolation, and errors that say where and what."""

from __future__ import annotations

from pathlib import Path

import pytest

from failsoft.config import Deadlines, load_config, parse_config
from failsoft.errors import ConfigError
from failsoft.types import Target

GOOD = """
providers:
  anthropic: {dialect: anthropic, base_url: "https://api.anthropic.com", api_key: "${ANTHROPIC_API_KEY}",
              status_page: "https://status.claude.com"}
  openai:    {dialect: openai, base_url: "https://api.openai.com/v1/", api_key: "${OPENAI_API_KEY:-}"}
  local:     {dialect: openai, base_url: "http://127.0.0.1:11434/v1", always_stream: false,
              direct: ["meta-llama/*"]}
models:
  claude-opus:
    - {provider: anthropic, model: claude-opus-4-7}
    - {provider: anthropic, model: claude-sonnet-4-5}
    - openai/gpt-5
  gpt-4o-mini:
    targets:
      - {provider: openai, model: gpt-4o-mini}
      - {provider: local, model: "llama3.1:8b"}
    deadlines: {first_token: 10}
deadlines: {connect: 3, total: 120}
server:
  port: ${PORT:-9100}
  max_body_bytes: 1000000
"""


def problems(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.yaml", env=env or {})
    return info.value.problems


def test_good_config_resolves() -> None:
    config = parse_config(GOOD, env={"ANTHROPIC_API_KEY": "sk-ant-1"})
    opus = config.models["claude-opus"]
    assert opus.targets == (
        Target("anthropic", "claude-opus-4-7"),
        Target("anthropic", "claude-sonnet-4-5"),
        Target("openai", "gpt-5"),
    )
    assert opus.deadlines == Deadlines(connect=3, first_token="auto", idle=30, total=120)
    mini = config.models["gpt-4o-mini"]
    assert mini.deadlines == Deadlines(connect=3, first_token=10, idle=30, total=120)
    assert mini.targets[1] == Target("local", "llama3.1:8b")
    anthropic = config.providers["anthropic"]
    assert anthropic.api_key is not None
    assert anthropic.api_key.reveal() == "sk-ant-1"
    assert anthropic.api_key.source == "${ANTHROPIC_API_KEY}"
    assert "sk-ant-1" not in repr(config)
    assert config.providers["openai"].api_key is not None
    assert not config.providers["openai"].api_key  # empty: set but blank
    assert config.providers["openai"].normalized_url == "https://api.openai.com/v1"
    assert config.providers["local"].always_stream is False
    assert config.server.port == 9100
    assert config.server.max_body_bytes == 1_000_000


def test_server_send_timeout_and_drain() -> None:
    minimal = "providers:\n  o: {dialect: openai, base_url: 'http://127.0.0.1:9/v1'}\n"
    minimal += "models:\n  m: [o/x]\n"
    defaults = parse_config(minimal).server
    assert (defaults.send_timeout, defaults.drain) == (30.0, 30.0)
    server = parse_config(minimal + "server: {send_timeout: 2.5, drain: 0}\n").server
    assert (server.send_timeout, server.drain) == (2.5, 0.0)
    found = problems(minimal + "server: {send_timeout: 0, drain: -1}\n")
    assert any("server.send_timeout: must be greater than 0" in p for p in found), found
    assert any("server.drain: must be 0 or more" in p for p in found), found


def test_provider_model_requests_resolve_to_one_target() -> None:
    config = parse_config(GOOD, env={"ANTHROPIC_API_KEY": "k"})
    plan = config.resolve("local/meta-llama/Llama-3.1-8B")
    assert plan is not None
    assert plan.targets == (Target("local", "meta-llama/Llama-3.1-8B"),)
    assert plan.deadlines == config.deadlines
    assert config.resolve("nowhere/x") is None
    assert config.resolve("local/qwen3:8b") is None  # not in `direct`, no plan's target
    assert config.resolve("openai/gpt-5") is not None  # a plan's target
    assert config.resolve("openai/gpt-5-x") is None
    assert config.resolve("claude-opus") is config.models["claude-opus"]
    assert config.resolve("gpt-5") is None


def test_minimal_config_has_safe_defaults() -> None:
    config = parse_config("providers: {p: {dialect: openai, base_url: 'http://x'}}")
    assert config.models == {}
    assert config.deadlines == Deadlines(connect=5, first_token="auto", idle=30, total=600)
    assert config.server.host == "127.0.0.1"
    assert config.responses.store is False  # no conversation is kept unless asked
    assert config.responses.retention == 30 * 86_400


def test_the_responses_section_is_validated() -> None:
    base = "providers: {p: {dialect: openai, base_url: 'http://x'}}\n"
    config = parse_config(base + "responses: {store: true, retention: 3600, max_bytes: 1000}\n")
    assert (config.responses.store, config.responses.retention) == (True, 3600)
    assert config.responses.max_bytes == 1000
    found = problems(base + "responses: {store: maybe, retention: 0, keep: 1}\n")
    assert any("responses.store: expected true or false" in p for p in found), found
    assert any("responses.retention: must be greater than 0" in p for p in found), found
    assert any("responses.keep: unknown key" in p for p in found), found


def test_environment_interpolation() -> None:
    text = """
providers:
  a: {dialect: openai, base_url: "${BASE}/v1", api_key: "pre-${KEY}-post"}
  b: {dialect: openai, base_url: "${MISSING:-http://fallback}", api_key: "$${NOT_A_VAR}"}
  c: {dialect: openai, base_url: "http://h${EMPTY-/unset}", api_key: "${EMPTY:-dflt}"}
"""
    config = parse_config(text, env={"BASE": "http://h:1", "KEY": "s3", "EMPTY": ""})
    a, b, c = config.providers["a"], config.providers["b"], config.providers["c"]
    assert a.base_url == "http://h:1/v1"
    assert a.api_key is not None and a.api_key.reveal() == "pre-s3-post"
    assert b.base_url == "http://fallback"
    assert b.api_key is not None and b.api_key.reveal() == "${NOT_A_VAR}"
    assert c.base_url == "http://h"  # set (even if empty): `-` keeps it, `:-` does not
    assert c.api_key is not None and c.api_key.reveal() == "dflt"


def test_unset_variable_is_an_error_with_a_hint() -> None:
    (problem,) = problems(
        "providers:\n  a: {dialect: openai, base_url: 'http://x', api_key: '${NOPE}'}\n"
    )
    assert problem == (
        "line 2: providers.a.api_key: environment variable NOPE is not set "
        "(use ${NOPE:-default} to make it optional)"
    )


def test_every_problem_is_reported_with_line_and_path() -> None:
    text = """\
providers:
  anthropic: {dialect: antropic, base_url: api.anthropic.com, timeout: 3}
  openai:    {dialect: openai}
  "bad/name": {dialect: openai, base_url: "http://x"}
models:
  claude-opus:
    - {provider: antropic, model: claude-opus-4-7}
    - {provider: openai, model: 5}
    - {provider: openai}
    - openai
  empty: []
  y: {targets: [openai/a, openai/a], deadlinez: {}}
deadlines: {connect: -1, idle: fast}
retyr: {}
"""
    found = problems(text)
    assert found == [
        "line 2: providers.anthropic.timeout: unknown key",
        "line 2: providers.anthropic.dialect: expected one of 'openai', 'anthropic', 'gemini', "
        "got the string 'antropic' (did you mean 'anthropic'?)",
        "line 2: providers.anthropic.base_url: must be an http:// or https:// URL, "
        "got 'api.anthropic.com'",
        "line 3: providers.openai: missing required key 'base_url'",
        "line 4: providers.bad/name: a provider name must be non-empty and contain no '/'",
        "line 7: models.claude-opus[0].provider: unknown provider 'antropic' "
        "(did you mean 'anthropic'?); defined providers: anthropic, bad/name, openai",
        "line 8: models.claude-opus[1].model: expected a non-empty string, got 5",
        "line 9: models.claude-opus[2]: missing required key 'model'",
        "line 10: models.claude-opus[3]: expected 'provider/model' or {provider, model}, "
        "got 'openai'",
        "line 11: models.empty: expected a non-empty list of targets",
        "line 12: models.y.deadlinez: unknown key (did you mean 'deadlines'?)",
        "line 12: models.y.targets[1]: duplicate target openai/a",
        "line 13: deadlines.connect: must be greater than 0, got -1.0",
        "line 13: deadlines.idle: expected a number, got the string 'fast'",
        "line 14: retyr: unknown top-level key (did you mean 'retry'?)",
    ]


def test_unknown_top_level_key_lists_the_valid_ones() -> None:
    (problem,) = problems("providers: {p: {dialect: openai, base_url: 'http://x'}}\ncolour: 1\n")
    assert problem == (
        "line 2: colour: unknown top-level key (valid keys: providers, models, deadlines, "
        "retry, hedge, balance, resume, cache, degrade, breaker, admission, server, health, "
        "status, store, responses, log, tracing, transport, webhooks, admin, state, auth, pricing)"
    )


def test_duplicate_names_are_errors() -> None:
    text = """
providers:
  openai: {dialect: openai, base_url: "http://a"}
  openai: {dialect: openai, base_url: "http://b"}
models:
  m: [openai/x]
  m: [openai/y]
"""
    assert problems(text) == [
        "line 4: providers.openai: duplicate key",
        "line 7: models.m: duplicate key",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the config is empty: it needs at least a 'providers' section"),
        ("- a\n- b\n", "the config must be a mapping"),
        ("providers: {}\n", "providers: at least one provider is required"),
        ("providers: [a]\n", "providers: expected a mapping of provider names, got a list"),
        (
            "providers: {a: {dialect: openai, base_url: 'http://x'}}\nmodels: [a]\n",
            "models: expected a mapping",
        ),
        (
            "providers: {a: {dialect: openai, base_url: 'http://x', always_stream: 'yes'}}\n",
            "providers.a.always_stream: expected true or false",
        ),
        (
            "providers: {a: {dialect: openai, base_url: 'http://x'}}\nserver: {port: 70000}\n",
            "server.port: must be a TCP port",
        ),
        (
            "providers: {a: {dialect: openai, base_url: 'http://x?k=1'}}\n",
            "must not contain a query",
        ),
        ("providers:\n  a: {dialect: openai, base_url: 'http://x'\n", "invalid YAML"),
    ],
)
def test_shape_errors(text: str, expected: str) -> None:
    found = problems(text)
    assert any(expected in p for p in found), found


def test_numbers_from_the_environment_are_coerced() -> None:
    text = "providers: {a: {dialect: openai, base_url: 'http://x'}}\nserver:\n  port: ${PORT}\n"
    assert parse_config(text, env={"PORT": "8123"}).server.port == 8123
    found = problems(text, env={"PORT": "eighty"})
    assert found == ["line 3: server.port: expected an integer, got the string 'eighty'"]


def test_load_config_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "gw.yaml"
    path.write_text("providers: {a: {dialect: nope, base_url: 'http://x'}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: 1 problem:\n  - line 1: providers.a.dialect")
    with pytest.raises(ConfigError) as missing:
        load_config(tmp_path / "absent.yaml")
    assert "cannot read the file" in str(missing.value)


def test_api_chooses_the_openai_endpoint() -> None:
    text = """
providers:
  oai: {dialect: openai, base_url: "https://api.openai.com/v1/", api: responses}
  compat: {dialect: openai, base_url: "http://127.0.0.1:8000/v1"}
models:
  pro: [oai/gpt-5-pro]
"""
    config = parse_config(text)
    oai, compat = config.providers["oai"], config.providers["compat"]
    assert (oai.api, oai.wire_dialect) == ("responses", "responses")
    assert (compat.api, compat.wire_dialect) == ("chat", "openai")
    assert config.models["pro"].targets_for(config.providers, "responses") == [
        Target("oai", "gpt-5-pro")
    ]


def test_api_is_an_openai_setting() -> None:
    text = """
providers:
  a: {dialect: anthropic, base_url: "https://api.anthropic.com", api: responses}
  o: {dialect: openai, base_url: "https://api.openai.com/v1", api: completions}
models:
  m: [a/claude-opus-4-7]
"""
    found = problems(text)
    assert any(
        p.startswith("line 3: providers.a.api:") and "valid only with dialect: openai" in p
        for p in found
    ), found
    assert any("providers.o.api: expected one of 'chat', 'responses'" in p for p in found), found


def test_size_limits_default_and_must_fit_together() -> None:
    base = (
        "providers: {p: {dialect: openai, base_url: 'http://127.0.0.1:1/v1'}}\nmodels: {m: [p/x]}\n"
    )
    server = parse_config(base).server
    assert (server.max_inflight_bytes, server.max_answer_bytes) == (1 << 30, 64 << 20)
    with pytest.raises(ConfigError) as info:
        parse_config(base + "server: {max_body_bytes: 2000, max_inflight_bytes: 1000}")
    assert "server.max_inflight_bytes: must be at least server.max_body_bytes (2000)" in str(
        info.value
    )
    with pytest.raises(ConfigError) as zero:
        parse_config(base + "server: {max_answer_bytes: 0}")
    assert "server.max_answer_bytes" in str(zero.value)

"""`failsoft check-config`'s account of providers and the routes each model serves."""

from __future__ import annotations

from failsoft.config import parse_config
from failsoft.config.plan import render_plan

CONFIG = """
providers:
  oai: {dialect: openai, base_url: "https://api.openai.com/v1", api: responses}
  chat: {dialect: openai, base_url: "https://api.openai.com/v1"}
  ant: {dialect: anthropic, base_url: "https://api.anthropic.com"}
models:
  pro: [oai/gpt-5-pro, ant/claude-opus-4-7, chat/gpt-5]
"""


def test_the_openai_api_and_the_responses_route_are_shown() -> None:
    out = render_plan(parse_config(CONFIG))
    assert "https://api.openai.com/v1/responses  [no key]  (api: responses)" in out
    assert "https://api.openai.com/v1/chat/completions  [no key]  (api: chat)" in out
    assert "1. oai/gpt-5-pro  (responses)" in out
    assert "/v1/responses: 1 native, 2 translated" in out
    assert "/v1/chat/completions: 1 native, 2 translated" in out

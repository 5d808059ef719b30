"""The list formats `direct: ["@listed"]` reads (recorded shapes of each vendor's
`GET /models`), its pagination and its bounds, without a network: `fetch` is replaced."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from failsoft.config import parse_config
from failsoft.providers import build_providers, listing
from failsoft.providers.listing import ListError, fetch_list, page_url, parse_page
from failsoft.transport.http import Fetched, FetchError, Transport

OPENAI = {
    "object": "list",
    "data": [
        {"id": "gpt-4o", "object": "model", "created": 1715367049, "owned_by": "system"},
        {"id": "o3-mini", "object": "model", "created": 1737146383, "owned_by": "system"},
    ],
}
ANTHROPIC = {
    "data": [
        {
            "type": "model",
            "id": "claude-opus-4-7",
            "display_name": "Claude Opus 4.7",
            "created_at": "2026-02-19T00:00:00Z",
        },
        {
            "type": "model",
            "id": "claude-sonnet-4-5-20250929",
            "display_name": "Claude Sonnet 4.5",
            "created_at": "2025-09-29T00:00:00Z",
        },
    ],
    "has_more": True,
    "first_id": "claude-opus-4-7",
    "last_id": "claude-sonnet-4-5-20250929",
}
GEMINI = {
    "models": [
        {
            "name": "models/gemini-2.5-pro",
            "version": "2.5",
            "displayName": "Gemini 2.5 Pro",
            "supportedGenerationMethods": ["generateContent", "countTokens"],
        },
        {
            "name": "models/text-embedding-004",
            "supportedGenerationMethods": ["embedContent"],
        },
    ],
    "nextPageToken": "Chdnb29nbGUvZ2VtaW5p",
}

CONFIG = """
providers:
  o: {dialect: openai, base_url: "http://127.0.0.1:9/v1", api_key: "sk-openai-secret-1234",
      direct: ["@listed"]}
  a: {dialect: anthropic, base_url: "http://127.0.0.1:9", api_key: "sk-ant-secret-1234",
      direct: ["@listed", "claude-*"]}
  g: {dialect: gemini, base_url: "http://127.0.0.1:9", api_key: "gm-secret-12345678",
      direct: ["@listed"]}
models:
  m: [o/gpt-4o]
"""


def test_each_vendor_format_is_read() -> None:
    assert parse_page("openai", OPENAI) == (["gpt-4o", "o3-mini"], None)
    assert parse_page("anthropic", ANTHROPIC) == (
        ["claude-opus-4-7", "claude-sonnet-4-5-20250929"],
        "claude-sonnet-4-5-20250929",
    )
    assert parse_page("anthropic", {**ANTHROPIC, "has_more": False})[1] is None
    assert parse_page("gemini", GEMINI) == (["gemini-2.5-pro"], "Chdnb29nbGUvZ2VtaW5p")
    assert parse_page("gemini", {"models": []}) == ([], None)
    for bad in ([], {"data": "x"}, {"object": "list"}):
        with pytest.raises(ListError):
            parse_page("openai", bad)


def test_urls_follow_each_dialect() -> None:
    providers = build_providers(parse_config(CONFIG).providers)
    assert page_url(providers["o"], None) == "http://127.0.0.1:9/v1/models"
    assert (
        page_url(providers["a"], "x/y") == "http://127.0.0.1:9/v1/models?limit=1000&after_id=x%2Fy"
    )
    assert page_url(providers["g"], None) == "http://127.0.0.1:9/v1beta/models?pageSize=1000"


def test_the_listed_entry_is_no_pattern() -> None:
    config = parse_config(CONFIG)
    assert config.resolve("o/@listed") is None
    assert config.resolve("o/o3-mini") is None  # no list yet: only targets
    assert config.resolve("a/claude-x") is not None  # patterns still apply
    config.names.listed["o"] = frozenset({"o3-mini"})
    assert config.resolve("o/o3-mini") is not None
    assert config.resolve("o/o4") is None


def run_pages(
    monkeypatch: pytest.MonkeyPatch, provider: str, pages: list[Any]
) -> tuple[frozenset[str], list[tuple[str, dict[str, str]]]]:
    """fetch_list over canned answers; returns the names and the (url, headers) asked."""
    asked: list[tuple[str, dict[str, str]]] = []

    async def fake(transport: Any, method: str, url: str, **kw: Any) -> Fetched:
        asked.append((url, dict(kw["headers"])))
        page = pages[min(len(asked) - 1, len(pages) - 1)]
        if isinstance(page, Exception):
            raise page
        status, body = page if isinstance(page, tuple) else (200, page)
        return Fetched(status, {}, orjson.dumps(body))

    monkeypatch.setattr(listing, "fetch", fake)
    target = build_providers(parse_config(CONFIG).providers)[provider]
    return asyncio.run(fetch_list(Transport(), target)), asked


def test_anthropic_pages_are_followed_with_its_headers(monkeypatch: pytest.MonkeyPatch) -> None:
    last = {"data": [{"id": "claude-haiku-4-5"}], "has_more": False, "last_id": "claude-haiku-4-5"}
    names, asked = run_pages(monkeypatch, "a", [ANTHROPIC, last])
    assert names == {"claude-opus-4-7", "claude-sonnet-4-5-20250929", "claude-haiku-4-5"}
    assert asked[1][0].endswith("after_id=claude-sonnet-4-5-20250929")
    headers = asked[0][1]
    assert headers["x-api-key"] == "sk-ant-secret-1234"
    assert headers["anthropic-version"] == "2023-06-01"


def test_gemini_pages_are_followed_with_its_key(monkeypatch: pytest.MonkeyPatch) -> None:
    last = {"models": [{"name": "models/gemini-2.5-flash"}]}
    names, asked = run_pages(monkeypatch, "g", [GEMINI, last])
    assert names == {"gemini-2.5-pro", "gemini-2.5-flash"}
    assert asked[1][0].endswith("pageToken=Chdnb29nbGUvZ2VtaW5p")
    assert asked[0][1]["x-goog-api-key"] == "gm-secret-12345678"


def test_lists_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Pages that never end: at most MAX_PAGES asked.
    endless = [
        {"data": [{"id": f"m-{n}"}], "has_more": True, "last_id": f"m-{n}"}
        for n in range(listing.MAX_PAGES + 5)
    ]
    names, asked = run_pages(monkeypatch, "a", endless)
    assert len(asked) == listing.MAX_PAGES and len(names) == listing.MAX_PAGES
    # Too many names, over-long names and control characters.
    many = {"data": [{"id": f"m-{n}"} for n in range(listing.MAX_LISTED + 100)]}
    many["data"] += [{"id": "x" * 1000}, {"id": "a\r\nb"}, {"id": 7}]
    names, _ = run_pages(monkeypatch, "o", [many])
    assert len(names) == listing.MAX_LISTED
    names, _ = run_pages(monkeypatch, "o", [{"data": [{"id": "x" * 1000}, {"id": "a\nb"}]}])
    assert names == frozenset()


def test_failures_are_list_errors_without_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ListError, match="HTTP 401"):
        run_pages(monkeypatch, "o", [(401, {"error": {"message": "bad key"}})])
    echoed = FetchError("refused sk-openai-secret-1234")
    with pytest.raises(ListError) as caught:
        run_pages(monkeypatch, "o", [echoed])
    assert "sk-openai-secret-1234" not in str(caught.value)

"""The key ring and grants: digests only, lookups by digest, expiry, and which models a key
may ask for (virtual names, aliases, patterns; a provider's model only when granted)."""

from __future__ import annotations

from failsoft.auth.check import credential
from failsoft.auth.keys import KeyRing
from failsoft.config import parse_config

KEY = "s" * 40
CONFIG = f"""
providers:
  openai: {{dialect: openai, base_url: "http://127.0.0.1:9/v1"}}
  anthropic: {{dialect: anthropic, base_url: "http://127.0.0.1:9"}}
models:
  gpt: {{targets: [openai/gpt-4o], aliases: [gpt-latest]}}
  claude: [anthropic/claude-opus-4-7]
auth:
  keys:
    - {{name: all, key: "{KEY}"}}
    - {{name: claude-only, key: "{"c" * 40}", models: ["claude*"]}}
    - {{name: direct, key: "{"d" * 40}", models: [gpt, "openai/*"], expires: "2020-01-01T00:00:00+00:00"}}
"""


def config():  # type: ignore[no-untyped-def]
    return parse_config(CONFIG, env={})


def test_the_ring_keeps_digests_not_keys() -> None:
    cfg = config()
    assert cfg.auth is not None
    ring = KeyRing(cfg.auth, secret=b"x" * 32)
    assert len(ring) == 3
    assert KEY.encode() not in repr(ring._by_digest).encode()
    found = ring.find(KEY.encode())
    assert found is not None and found.name == "all"
    assert ring.find(b"") is None and ring.find(b"s" * 39) is None
    # another process (another secret) cannot use these digests
    assert KeyRing(cfg.auth).digest(KEY.encode()) != ring.digest(KEY.encode())


def test_expiry() -> None:
    cfg = config()
    assert cfg.auth is not None
    direct = KeyRing(cfg.auth).find(b"d" * 40)
    assert direct is not None
    assert direct.expired(1577836800.0) and not direct.expired(1577836799.0)


def test_grants() -> None:
    cfg = config()
    assert cfg.auth is not None
    ring = KeyRing(cfg.auth)
    everyone, claude, direct = (ring.find(k.key.reveal().encode()) for k in cfg.auth.keys)
    assert everyone is not None and claude is not None and direct is not None
    assert everyone.allows("gpt", cfg) and everyone.allows("gpt-latest", cfg)
    assert not everyone.allows("openai/gpt-4o", cfg)  # direct naming needs a grant
    assert everyone.allows("nonexistent", cfg)  # left for the 404 to say
    assert claude.allows("claude", cfg) and not claude.allows("gpt", cfg)
    assert not claude.allows("gpt-latest", cfg)
    assert direct.allows("openai/gpt-4.1", cfg) and direct.allows("gpt-latest", cfg)
    assert not direct.allows("anthropic/claude-opus-4-7", cfg)


def test_credential_is_read_as_each_sdk_sends_it() -> None:
    def scope(headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, object]:
        return {"headers": headers, "query_string": query}

    assert credential(scope([(b"authorization", b"Bearer abc")])) == b"abc"
    assert credential(scope([(b"x-api-key", b"abc")])) == b"abc"
    assert credential(scope([(b"x-goog-api-key", b"abc")])) == b"abc"
    assert credential(scope([], b"alt=sse&key=abc")) == b"abc"
    assert credential(scope([(b"authorization", b"Basic abc")])) == b""
    assert credential(scope([])) == b""

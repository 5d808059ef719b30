"""An entry's life (fresh, stale, expired) and its blob."""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest

from failsoft.cache.entry import Entry
from failsoft.clock import FakeClock


def make(clock: FakeClock, body: bytes = b'{"id":"msg_1","content":[]}', **extra: object) -> Entry:
    fields: dict[str, object] = {
        "key": "k" * 64,
        "body": body,
        "dialect": "anthropic",
        "model": "claude-opus-4-7",
        "provider": "anthropic",
        "created_at": clock.wall(),
        "ttl": 10.0,
        "stale_for": 20.0,
        "headers": {"request-id": "req_123"},
        **extra,
    }
    return Entry(**fields)  # type: ignore[arg-type]


def test_round_trip_keeps_everything() -> None:
    clock = FakeClock()
    for body in (b"", b'{"text":"caf\xc3\xa9 \xf0\x9f\x98\x80"}', bytes(range(256))):
        entry = make(clock, body, headers={"request-id": "req_é", "x": ""})
        assert Entry.from_bytes(entry.to_bytes()) == entry


def test_blob_stores_the_body_raw() -> None:
    body = b'{"answer":"' + b"x" * 10_000 + b'"}'
    blob = make(FakeClock(), body).to_bytes()
    assert blob.endswith(body)
    assert len(blob) - len(body) < 250  # metadata only, no base64 inflation


def test_fresh_then_stale_then_expired() -> None:
    clock = FakeClock()
    entry = make(clock)
    assert entry.expires_at == clock.wall() + 10
    assert entry.stale_until == clock.wall() + 30
    checks = [(0, "fresh"), (9.99, "fresh"), (10, "stale"), (29.99, "stale"), (30, "expired")]
    start = clock.wall()
    for offset, state in checks:
        now = start + offset
        assert entry.state(now) == state, offset
        assert entry.fresh(now) == (state == "fresh")
        assert entry.usable_stale(now) == (state != "expired")  # a fresh answer is usable too
        assert entry.age(now) == pytest.approx(offset)


def test_age_is_never_negative() -> None:
    clock = FakeClock()
    entry = make(clock)
    assert entry.age(clock.wall() - 5) == 0.0


def test_no_stale_window_means_expired_at_ttl() -> None:
    clock = FakeClock()
    entry = make(clock, stale_for=0.0)
    assert entry.state(clock.wall() + 10) == "expired"


@pytest.mark.parametrize(
    "extra",
    [{"ttl": -1.0}, {"stale_for": -0.5}, {"ttl": float("inf")}, {"created_at": float("nan")}],
)
def test_bad_times_are_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be finite"):
        make(FakeClock(), **extra)


def test_entries_are_frozen_and_hashable() -> None:
    entry = make(FakeClock())
    with pytest.raises(AttributeError):
        entry.ttl = 5.0  # type: ignore[misc]
    assert hash(entry) == hash(Entry.from_bytes(entry.to_bytes()))


def _blob(header: bytes, version: int = 1, body: bytes = b"{}") -> bytes:
    return struct.pack(">3sBI", b"FSC", version, len(header)) + header + body


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"FSC",
        b"garbage that is long enough",
        _blob(b"{}", version=2),
        _blob(b"{not json"),
        _blob(b"{}"),
        _blob(b"[1,2]"),
        _blob(
            orjson.dumps({"k": "k", "d": "", "m": "", "p": "", "c": "x", "t": 1, "s": 0, "h": {}})
        ),
        _blob(
            orjson.dumps({"k": "k", "d": "", "m": "", "p": "", "c": 0, "t": -1, "s": 0, "h": {}})
        ),
        _blob(orjson.dumps({"k": 1, "d": "", "m": "", "p": "", "c": 0, "t": 1, "s": 0, "h": {}})),
        struct.pack(">3sBI", b"FSC", 1, 1000) + b"{}",
    ],
)
def test_unreadable_blobs_raise_value_error(blob: bytes) -> None:
    with pytest.raises(ValueError, match="cache entry"):
        Entry.from_bytes(blob)

"""Keys kept in the store: every backend keeps, rotates and revokes them the same way, keeps
only digests, and tells a change by its fingerprint; a process's ring follows the store and
keeps its last keys while the store is away."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from failsoft.auth.manage import KeyAdmin, KeyConflict, KeyInputError, KeyNotFound, parse_spec
from failsoft.auth.stored import PREFIX, StoredKeys, digest
from failsoft.auth.watch import KeyWatch
from failsoft.config import Config
from failsoft.config.auth import KeyLimits
from failsoft.store import QueuedStore, Store, open_store
from failsoft.store.keys import StoredKey
from tests.auth.support import scratch_database
from tests.conftest import make_config

CONFIG_KEY = "config-" + "k" * 40
AUTH = f"""
auth:
  keys: [{{name: declared, key: "{CONFIG_KEY}"}}]
  limits: {{rpm: 7}}
"""


@pytest.fixture
def config() -> Config:
    return make_config("http://127.0.0.1:9", AUTH)


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "memory":
        yield "memory://"
    elif request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/keys.db"
    else:
        with scratch_database() as url:
            yield url


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[Store]:
    backend = open_store(store_url)
    await backend.open()
    yield backend
    await backend.close()


def key(ident: str, name: str, secret: str, **extra: object) -> StoredKey:
    return StoredKey(ident, name, digest(secret.encode()).hex(), 1000.0, **extra)  # type: ignore[arg-type]


async def test_backends_keep_rotate_and_revoke_alike(store: Store) -> None:
    start = await store.keys_version()
    await store.add_key(key("key_a", "team-a", "s1", models=("gpt*",), limits={"rpm": 5}))
    await store.add_key(key("key_b", "team-b", "s2", metadata={"owner": "x"}))
    after_add = await store.keys_version()
    assert after_add != start
    with pytest.raises(KeyConflict):
        await store.add_key(key("key_c", "team-a", "s3"))  # a live key has the name
    found = await store.stored_key("team-a")
    assert found is not None and found.id == "key_a"
    assert found.models == ("gpt*",) and found.limits == {"rpm": 5}
    assert (await store.stored_key("key_b")) is not None
    assert await store.stored_key("nobody") is None

    assert await store.rotate_key("key_a", digest(b"s1b").hex(), 2000.0, found.digest, 2100.0)
    rotated = await store.stored_key("key_a")
    assert rotated is not None and rotated.digest == digest(b"s1b").hex()
    assert rotated.previous == found.digest and rotated.previous_until == 2100.0
    assert rotated.name == "team-a" and rotated.limits == {"rpm": 5}
    after_rotate = await store.keys_version()
    assert after_rotate != after_add

    assert await store.revoke_key("key_a", 3000.0)
    assert not await store.revoke_key("key_a", 3001.0)  # only a live key
    assert not await store.rotate_key("key_a", digest(b"x").hex(), 3002.0, None, None)
    assert await store.keys_version() != after_rotate
    assert await store.stored_key("team-a") is None  # the name is free again...
    await store.add_key(key("key_d", "team-a", "s4"))  # ...for a new key
    listed = await store.stored_keys()
    assert [k.id for k in listed] == ["key_a", "key_b", "key_d"]
    assert listed[0].revoked_at == 3000.0 and listed[0].previous is None


async def test_the_admin_shows_secrets_once_and_never_stores_them(
    store: Store, config: Config, tmp_path: Path
) -> None:
    admin = KeyAdmin(store, config, now=lambda: 1000.0)
    spec = parse_spec({"name": "ci", "models": ["claude*"], "limits": {"tpm": 100}})
    shown, secret = await admin.create(spec)
    assert secret.startswith(PREFIX) and len(secret) >= len(PREFIX) + 43  # 256 bits
    assert "secret" not in shown and "digest" not in shown
    rotated, second = await admin.rotate("ci")
    assert second != secret and rotated["id"] == shown["id"] and rotated["name"] == "ci"
    listed = await admin.listing()
    assert [(k["name"], k["source"]) for k in listed] == [("declared", "config"), ("ci", "store")]
    assert listed[1]["limits"] == {"tpm": 100}
    text = repr(listed) + repr(await store.stored_keys())
    for raw in (secret, second, CONFIG_KEY):
        assert raw not in text
    for db in tmp_path.glob("*.db*"):
        data = db.read_bytes()
        assert secret.encode() not in data and second.encode() not in data
    with pytest.raises(KeyConflict, match="declared in the config"):
        await admin.revoke("declared")
    with pytest.raises(KeyConflict, match="already declares"):
        await admin.create(parse_spec({"name": "declared"}))
    with pytest.raises(KeyNotFound):
        await admin.rotate("nobody")
    with pytest.raises(KeyInputError, match="past"):
        await admin.create(parse_spec({"name": "old", "expires": "1970-01-01T00:00:01Z"}))
    revoked = await admin.revoke(shown["id"])
    assert revoked["status"] == "revoked"
    with pytest.raises(KeyConflict, match="is revoked"):
        await admin.revoke(shown["id"])  # the id is kept for the record, not live
    with pytest.raises(KeyNotFound):
        await admin.revoke("ci")  # the name belongs to live keys only


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "missing required key 'name'"),
        ({"name": "a b"}, "name: must be 1 to 64"),
        ({"name": "x" * 65}, "name: must be 1 to 64"),
        ({"name": "x", "limits": {"rpm": 0}}, "limits.rpm"),
        ({"name": "x", "limits": {"rps": 1}}, "limits.rps: unknown key"),
        ({"name": "x", "expires": "tomorrow"}, "expires: expected an ISO 8601"),
        ({"name": "x", "models": []}, "models: must name at least one"),
        ({"name": "x", "models": ["m"] * 101}, "at most 100"),
        ({"name": "x", "metadata": {str(i): "v" for i in range(33)}}, "at most 32 labels"),
        ({"name": "x", "metadata": {"a": "v" * 5000}}, "4096 bytes"),
    ],
)
def test_bad_input_is_named(body: dict[str, object], message: str) -> None:
    with pytest.raises(KeyInputError, match=message):
        parse_spec(body)


def test_the_ring_finds_current_secrets_and_grace_ends() -> None:
    keys = StoredKeys()
    old, new = digest(b"old").hex(), digest(b"new").hex()
    row = StoredKey("key_a", "a", new, 0.0, limits={"rpm": 3}, previous=old, previous_until=50.0)
    plain = StoredKey("key_b", "b", digest(b"bee").hex(), 0.0)
    keys.defaults(KeyLimits(rpm=7))
    keys.load(
        [row, plain, StoredKey("key_c", "c", digest(b"gone").hex(), 0.0, revoked_at=1.0)], 10.0
    )
    current = keys.find(b"new")
    assert current is not None and current.name == "a" and current.limits == KeyLimits(rpm=3)
    assert current.expires_at is None
    previous = keys.find(b"old")
    assert previous is not None and previous.name == "a" and previous.expired(50.0)
    assert not previous.expired(49.0)
    default = keys.find(b"bee")
    assert default is not None and default.limits == KeyLimits(rpm=7)  # auth.limits
    assert keys.find(b"gone") is None and keys.find(b"nothing") is None
    keys.load([row], 60.0)  # reloaded after the grace: the old secret is gone
    assert keys.find(b"old") is None


async def test_the_watch_follows_the_store_and_keeps_its_keys_when_it_is_away(
    config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inner = open_store(f"sqlite:///{tmp_path}/w.db", timeout=1.0)
    store = QueuedStore(inner, timeout=1.0, retry_max=0.05)
    await store.open()
    watch = KeyWatch(config, store)
    admin = KeyAdmin(store, config)
    try:
        await watch.begin(config)
        _, secret = await admin.create(parse_spec({"name": "w"}))
        assert watch.keys.find(secret.encode()) is None  # not until the store is asked
        assert await watch.check()
        assert watch.keys.find(secret.encode()) is not None
        loads = watch.loads
        assert await watch.check() and watch.loads == loads  # unchanged: not read again

        async def away() -> tuple[int, int, int]:
            raise OSError("connection refused")

        store.inner.keys_version = away  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING, logger="failsoft.auth"):
            assert not await watch.check()
            assert not await watch.check()
        assert watch.keys.find(secret.encode()) is not None  # the last keys still work
        ready = watch.ready()
        assert not ready.ok and not ready.required and "last loaded" in ready.detail
        said = [r.getMessage() for r in caplog.records if r.name == "failsoft.auth"]
        assert len(said) == 1 and "does not answer" in said[0]
        assert secret not in caplog.text
        del store.inner.keys_version  # answers again
        caplog.clear()
        deadline = asyncio.get_running_loop().time() + 10
        with caplog.at_level(logging.WARNING, logger="failsoft.auth"):
            while not await watch.check():  # the queue lets a call through every retry_max
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.01)
        assert "answers again" in caplog.text and watch.ready().ok
    finally:
        await watch.close()
        await store.close()


async def test_a_name_in_both_the_config_and_the_store_is_warned_about(
    config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    store = QueuedStore(open_store("memory://"))
    await store.open()
    watch = KeyWatch(config, store)
    try:
        await store.add_key(key("key_x", "declared", "s"))  # as if the config came later
        with caplog.at_level(logging.WARNING, logger="failsoft.auth"):
            await watch.check()
            await watch.check()
        assert caplog.text.count("named both in auth.keys and in the store") == 1
    finally:
        await watch.close()
        await store.close()

"""The webhook outbox over a real SQLite store: an incident message is kept in the store
from the moment it is queued until it is delivered or dead-lettered; one left undelivered
(its process stopped or died) is sent again, with its id and body, by the next leader.

The receiver and the sender's fake clock are those of test_webhooks.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from failsoft.notify import Endpoint
from failsoft.notify.outbox import Outbox, endpoint_key
from failsoft.store import OutboxEntry, QueuedStore, open_store
from tests.notify.test_webhooks import INCIDENT, OPENED, SECRET, MakeSender, Receiver, until

UPDATED = dataclasses.replace(INCIDENT, updates=INCIDENT.updates * 2)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[QueuedStore]:
    queued = QueuedStore(open_store(f"sqlite:///{tmp_path}/state.db"), timeout=2.0)
    await queued.open()
    yield queued
    await queued.close()


async def kept(store: QueuedStore, outbox: Outbox) -> list[OutboxEntry]:
    await outbox.settle()
    return await store.outbox()


async def test_kept_while_queued_and_removed_once_delivered(
    receiver: Receiver, make_sender: MakeSender, store: QueuedStore
) -> None:
    receiver["a"].hold = asyncio.Event()  # the receiver takes its time
    outbox = Outbox(store, clock=receiver.clock)
    sender = make_sender(Endpoint(receiver.url("a"), secret=SECRET), outbox=outbox)
    msg_id = sender.send("incident.opened", INCIDENT)
    sender.send("breaker.opened", OPENED)  # a process's own news: not kept
    await until(lambda: len(receiver["a"].hits) == 1)
    [entry] = await kept(store, outbox)
    assert (entry.endpoint, entry.message_id) == (endpoint_key(receiver.url("a")), msg_id)
    assert entry.event_type == "incident.opened"
    assert entry.body == receiver["a"].hits[0].body
    assert entry.at == datetime.fromtimestamp(receiver.clock.wall(), UTC)
    receiver["a"].hold.set()
    await until(lambda: sender.delivered == 2)
    assert await kept(store, outbox) == []


async def test_removed_once_dead_lettered(
    receiver: Receiver, make_sender: MakeSender, store: QueuedStore
) -> None:
    receiver["a"].always = 400
    outbox = Outbox(store, clock=receiver.clock)
    sender = make_sender(
        Endpoint(receiver.url("a")), outbox=outbox, dead_letter=store.add_dead_letter
    )
    msg_id = sender.send("incident.opened", INCIDENT)
    await until(lambda: sender.dead == 1)
    assert await kept(store, outbox) == []
    [letter] = await store.dead_letters()
    assert (letter.message_id, letter.last_error) == (msg_id, "HTTP 400")


async def test_a_full_queue_dead_letters_the_oldest_and_removes_it(
    receiver: Receiver, make_sender: MakeSender, store: QueuedStore
) -> None:
    outbox = Outbox(store, clock=receiver.clock)
    sender = make_sender(
        Endpoint(receiver.url("a")),
        start=False,
        queue_size=1,
        outbox=outbox,
        dead_letter=store.add_dead_letter,
    )
    first = sender.send("incident.opened", INCIDENT)
    receiver.clock.advance(1.0)
    second = sender.send("incident.updated", UPDATED)
    sender.start()
    await until(lambda: sender.delivered == 1)
    await sender.close()
    assert [h.id for h in receiver["a"].hits] == [second]
    assert [d.message_id for d in await store.dead_letters()] == [first]
    assert await kept(store, outbox) == []


async def test_left_at_shutdown_and_sent_by_the_next_leader(
    receiver: Receiver,
    make_sender: MakeSender,
    store: QueuedStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A leader that stops with a message it could not deliver leaves it in the outbox
    (not in the dead letters); the next leader sends it, same id and body, once."""
    caplog.set_level(logging.INFO, logger="failsoft.notify")
    path = receiver["T000/B000/XXXXSECRETPATH"]
    secret_url = receiver.url("T000/B000/XXXXSECRETPATH?token=hunter2")
    path.hold = asyncio.Event()  # the receiver hangs: the old leader stops meanwhile
    old = make_sender(
        Endpoint(secret_url, secret=SECRET), outbox=Outbox(store), dead_letter=store.add_dead_letter
    )
    msg_id = old.send("incident.opened", INCIDENT)
    await until(lambda: len(path.hits) == 1)
    await old.close(drain_seconds=0.1)
    assert old.left == 1 and old.dead == 0
    first = path.hits[0]
    await asyncio.sleep(0.05)
    assert [e.message_id for e in await store.outbox()] == [msg_id]
    assert await store.dead_letters() == []
    path.hold.set()

    receiver.clock.advance(2.0)
    outbox = Outbox(store, clock=receiver.clock)
    new = make_sender(Endpoint(secret_url, secret=SECRET), outbox=outbox, start=False)
    new.send("incident.updated", UPDATED)  # the new leader's own news, before it looks
    await outbox.recover(new)
    await outbox.recover(new)  # queued already: not twice
    new.start()
    await until(lambda: new.delivered == 2)
    hits = path.hits[1:]
    # The older message goes first, with the id and body the old leader used.
    assert hits[0].id == msg_id and hits[0].body == first.body
    assert hits[1].id != msg_id
    # Read again, both entries (the new leader's own too) are found queued already.
    assert outbox.resent == {"queued": 1, "queued already": 2}
    assert await kept(store, outbox) == []
    for secret in ("XXXXSECRETPATH", "hunter2"):
        assert secret not in caplog.text
    db = Path(store.describe()["path"])
    raw = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    assert b"XXXXSECRETPATH" not in raw and b"hunter2" not in raw


async def test_what_a_new_leader_cannot_send(
    receiver: Receiver, make_sender: MakeSender, store: QueuedStore
) -> None:
    """Too old to send: dead-lettered (and removed). For an endpoint not configured here:
    left for a day (another process may have it), then dropped. No longer wanted by
    its endpoint: removed."""
    url = receiver.url("a")
    wall = receiver.clock.wall()
    horizon = Endpoint(url).horizon
    entries = [
        OutboxEntry(
            endpoint_key(url), "msg_old", "incident.opened", b"{}", _at(wall - horizon - 1)
        ),
        OutboxEntry(endpoint_key(url), "msg_unwanted", "incident.resolved", b"{}", _at(wall - 5)),
        OutboxEntry("sha256:elsewhere", "msg_young", "incident.opened", b"{}", _at(wall - 5)),
        OutboxEntry("sha256:gone", "msg_ancient", "incident.opened", b"{}", _at(wall - 90_000)),
    ]
    for entry in entries:
        await store.add_outbox(entry)
    outbox = Outbox(store, clock=receiver.clock)
    sender = make_sender(
        Endpoint(url, events=frozenset({"incident.opened"})),
        outbox=outbox,
        dead_letter=store.add_dead_letter,
    )
    await outbox.recover(sender)
    await until(lambda: sender.dead == 1)
    await asyncio.sleep(0.05)
    assert [e.message_id for e in await kept(store, outbox)] == ["msg_young"]
    [letter] = await store.dead_letters()
    assert letter.message_id == "msg_old" and "too old to send" in letter.last_error
    assert receiver["a"].hits == []
    assert outbox.resent == {
        "dead-lettered": 1,
        "not wanted": 1,
        "not configured here": 1,
        "dropped": 1,
    }


def _at(wall: float) -> datetime:
    return datetime.fromtimestamp(wall, UTC)

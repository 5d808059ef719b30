"""History survives a restart: a second gateway on the same store picks up the open
incident, the state history and the resolved ones (SQLite, and PostgreSQL)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.store import open_store
from tests.conftest import make_config
from tests.health.test_processes import Receiver, until
from tests.helpers import request
from tests.services import POSTGRES_URL, require


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/failsoft.db"
        return
    require("PostgreSQL", "127.0.0.1", 5432)
    yield POSTGRES_URL
    # The fake clock's lease expires in 2027: leave nothing for a real gateway to trip on.
    asyncio.run(_empty(POSTGRES_URL))


async def _empty(url: str) -> None:
    store = open_store(url)
    await store.open()
    try:
        tables = ("incidents", "transitions", "dead_letters", "leases", "evidence", "outbox")
        for table in tables:
            await store.pool.execute(f"TRUNCATE failsoft_{table}")  # type: ignore[attr-defined]
    finally:
        await store.close()


def test_open_incident_and_history_survive_a_restart(sim: SimServer, store_url: str) -> None:
    config = make_config(
        sim.url, f'store: {{url: "{store_url}"}}\nhealth: {{evaluate_every: 3600}}'
    )
    if store_url.startswith("postgres"):
        # Before the first gateway starts: it loads the last states at start.
        asyncio.run(_empty(store_url))
    first = Runtime(config, health_clock=FakeClock(wall_start=1_800_000_000))
    with GatewayThread(config, runtime=first).running() as gw:
        gw.call(first.health.evaluate())  # records every component's first state
        event = first.health.keeper.create(
            title="Investigating slow answers", components=("openai/gpt-4o",),
            body="Looking.", now=first.health.now(),
        )  # fmt: skip
        gw.call(first.health.record(event))
        incident_id = event[1].id
    second = Runtime(config, health_clock=FakeClock(wall_start=1_800_000_100))
    with GatewayThread(config, runtime=second).running() as gw:
        assert list(second.health.keeper.active) == [incident_id]
        assert "openai/gpt-4o" in second.health.trackers
        page = request(gw.url + "/status/api/v2/incidents/unresolved.json", method="GET").json()
        assert [i["name"] for i in page["incidents"]] == ["Investigating slow answers"]


def test_a_webhook_left_at_shutdown_is_sent_after_the_restart(
    sim: SimServer, store_url: str
) -> None:
    """A gateway that stops while its receiver is down keeps the incident's message in the
    store's outbox (not in the dead letters); restarted, it sends it, same id and body."""
    receiver = Receiver()
    receiver.status = 503
    hook = f"webhooks: [{{url: '{receiver.url}', events: [incident.opened]}}]"
    extra = f'store: {{url: "{store_url}"}}\nhealth: {{evaluate_every: 3600}}\n{hook}'
    config = make_config(sim.url, extra)
    if store_url.startswith("postgres"):
        asyncio.run(_empty(store_url))
    try:
        first = Runtime(config, health_clock=FakeClock(wall_start=1_800_000_000))
        with GatewayThread(config, runtime=first).running() as gw:
            event = first.health.keeper.create(
                title="Investigating slow answers", components=("openai/gpt-4o",),
                body="Looking.", now=first.health.now(),
            )  # fmt: skip
            gw.call(first.health.record(event))
            assert until(lambda: bool(receiver.messages), 5.0, lambda: time.sleep(0.01))
            assert first.notifier is not None
            gw.call(first.notifier.close(drain_seconds=0.1))
            assert first.notifier.left == 1
        receiver.status = 200
        second = Runtime(config, health_clock=FakeClock(wall_start=1_800_000_100))
        with GatewayThread(config, runtime=second).running() as gw:

            def delivered() -> bool:
                return 200 in receiver.answers

            assert until(delivered, 5.0, lambda: time.sleep(0.01))
            assert gw.call(second.store.dead_letters()) == []
        ids = {mid for mid, _ in receiver.messages}
        assert ids == {f"msg_{event[1].id}_1"}
        assert len({orjson.dumps(m) for _, m in receiver.messages}) == 1  # the same body
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()

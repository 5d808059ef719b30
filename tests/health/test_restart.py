"""History survives a restart: a second gateway on the same store picks up the open
incident, the state history and the resolved ones (SQLite, and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from failsoft.assemble import Runtime
from failsoft.clock import FakeClock
from failsoft.serve import GatewayThread
from failsoft.sim import SimServer
from failsoft.store import open_store
from tests.conftest import make_config
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
        for table in ("incidents", "transitions", "dead_letters", "leases", "evidence"):
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

"""One incident per outage, whatever the number of processes: real `failsoft serve`
processes sharing one store (two instances on SQLite, two on PostgreSQL, and
`--workers 2`) watch one outage of the primary (the simulator's 529s), and the store
holds one incident, each page shows one, and the webhook receiver gets one message per
event, each with its own stable `webhook-id`.

Short thresholds (config) keep the whole outage, incident and resolution within seconds.

And the leader killed while its receiver is down, with `incident.opened` still queued: the
other process takes the lease over and delivers it from the store's outbox, same id.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from failsoft.health.types import Incident
from failsoft.sim import SimServer
from failsoft.store import OutboxEntry, open_store
from tests.conftest import PROVIDER_KEY
from tests.helpers import chat, request
from tests.services import POSTGRES_URL, require
from tests.test_cli import free_port, wait_for

CONFIG = """
providers:
  anthropic: {{dialect: anthropic, base_url: "{sim}", api_key: "{key}"}}
models:
  claude: [anthropic/claude-opus-4-7, anthropic/claude-sonnet-4-5]
retry: {{max_attempts: 1}}
breaker: {{failures: 100000, min_requests: 100000}}
health: {{evaluate_every: 0.5, open_after: 1, recover_after: 2, resolve_after: 3}}
store: {{url: "{store}"}}
webhooks: [{{url: "{hook}"}}]
"""


class Receiver:
    """Webhook messages, as a receiver sees them."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.status = 200
        """What it answers."""
        self.answers: list[int] = []
        """What it answered each message."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                status = owner.status
                owner.messages.append((self.headers["webhook-id"], json.loads(body)))
                owner.answers.append(status)
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def incident_events(self) -> list[tuple[str, str, str]]:
        """(webhook-id, type, incident id), incident events only."""
        return [
            (mid, m["type"], m["data"]["id"])
            for mid, m in self.messages
            if m["type"].startswith("incident.")
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    yield recv
    recv.server.shutdown()
    recv.server.server_close()


@contextmanager
def serve(config: Path, port: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`failsoft serve` in the config's directory, its output in a file beside it."""
    log = (config.parent / f"serve-{port}.log").open("wb")
    args = ["serve", "--config", str(config), "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "failsoft", *args, *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=config.parent,
    )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def until(condition: Callable[[], bool], seconds: float, tick: Callable[[], None]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick()
        if condition():
            return True
    return False


def stored(url: str) -> tuple[list[Incident], int]:
    """The incidents in the store, and how many processes published evidence."""

    async def read() -> tuple[list[Incident], int]:
        store = open_store(url)
        await store.open()
        try:
            return await store.incidents(), len(await store.evidence(0.0))
        finally:
            await store.close()

    return asyncio.run(read())


def outage(sim: SimServer, urls: list[str], store_url: str, receiver: Receiver) -> None:
    """Traffic to every process; the primary fails for a few seconds, then recovers; until
    the incident is resolved. Then: one incident everywhere, one message per event."""
    n = 0

    def traffic() -> None:
        nonlocal n
        for url in urls:
            n += 1
            resp = request(url + "/v1/chat/completions", body=chat("claude", f"hi {n}"))
            assert resp.status == 200, resp.body  # the backup answers throughout

    until(lambda: False, 1.0, traffic)
    sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})

    def opened() -> bool:
        return any(kind == "incident.opened" for _, kind, _ in receiver.incident_events())

    assert until(opened, 15.0, traffic), "no incident was opened"
    until(lambda: False, 1.5, traffic)  # processes keep seeing the outage after the opening
    sim.clear_faults()

    def resolved() -> bool:
        return any(kind == "incident.resolved" for _, kind, _ in receiver.incident_events())

    assert until(resolved, 20.0, traffic), "the incident was not resolved"
    until(lambda: False, 1.5, traffic)  # time for a duplicate to show, if there were one

    incidents, publishers = stored(store_url)
    assert publishers == 2  # both processes took part
    (incident,) = incidents
    assert incident.components == ("anthropic/claude-opus-4-7",)
    assert incident.resolved_at is not None
    for url in urls:
        page = request(url + "/status/api/v2/incidents.json", method="GET").json()
        assert [i["id"] for i in page["incidents"]] == [incident.id]
    events = receiver.incident_events()
    kinds = [kind for _, kind, _ in events]
    assert kinds.count("incident.opened") == 1 and kinds.count("incident.resolved") == 1
    assert {i for _, _, i in events} == {incident.id}
    ids = [mid for mid, _, _ in events]
    assert len(set(ids)) == len(ids)  # one message per event
    # Each event's id is derived from it (a re-send would carry the same).
    assert sorted(ids) == sorted(f"msg_{incident.id}_{n}" for n in range(1, len(ids) + 1))


def write_config(tmp_path: Path, sim: SimServer, store: str, receiver: Receiver) -> Path:
    path = tmp_path / "failsoft.yaml"
    text = CONFIG.format(sim=sim.url, key=PROVIDER_KEY, store=store, hook=receiver.url)
    path.write_text(text)
    return path


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A schema of its own in the test database, dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    import asyncpg

    schema = f"failsoft_t_{secrets.token_hex(5)}"

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(POSTGRES_URL)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?search_path={schema}"
    finally:
        asyncio.run(run(f"DROP SCHEMA {schema} CASCADE"))


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_instances_one_incident(
    backend: str, tmp_path: Path, sim: SimServer, receiver: Receiver, request: Any
) -> None:
    if backend == "sqlite":
        store = f"sqlite:///{tmp_path}/shared.db"
    else:
        store = request.getfixturevalue("postgres_url")
    config = write_config(tmp_path, sim, store, receiver)
    ports = [free_port(), free_port()]
    with ExitStack() as stack:
        procs = [stack.enter_context(serve(config, port)) for port in ports]
        urls = [f"http://127.0.0.1:{port}" for port in ports]
        for url, proc in zip(urls, procs, strict=True):
            wait_for(url + "/healthz", proc)  # type: ignore[arg-type]
        outage(sim, urls, store, receiver)


def test_two_workers_one_incident(tmp_path: Path, sim: SimServer, receiver: Receiver) -> None:
    store = f"sqlite:///{tmp_path}/shared.db"
    config = write_config(tmp_path, sim, store, receiver)
    port = free_port()
    with serve(config, port, "--workers", "2") as proc:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + "/healthz", proc)  # type: ignore[arg-type]
        outage(sim, [url], store, receiver)


def ask(url: str, n: int) -> None:
    resp = request(url + "/v1/chat/completions", body=chat("claude", f"hi {n}"))
    assert resp.status == 200, resp.body  # the backup answers throughout


def outbox(url: str) -> list[OutboxEntry]:
    async def read() -> list[OutboxEntry]:
        store = open_store(url)
        await store.open()
        try:
            return await store.outbox()
        finally:
            await store.close()

    return asyncio.run(read())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_killed_leaders_webhook_is_sent_by_the_next(
    backend: str, tmp_path: Path, sim: SimServer, receiver: Receiver, request: Any
) -> None:
    """The leader opens the incident while the receiver answers 503 and dies (SIGKILL)
    retrying: the follower takes the lease over and, the receiver back, delivers the same
    `incident.opened` (same `webhook-id`) from the outbox. The receiver's URL holds a
    token: it is in neither process's log nor the store."""
    if backend == "sqlite":
        store = f"sqlite:///{tmp_path}/shared.db"
    else:
        store = request.getfixturevalue("postgres_url")
    hook = receiver.url + "?token=s3cret-hook-token"
    text = CONFIG.format(sim=sim.url, key=PROVIDER_KEY, store=store, hook=hook)
    (tmp_path / "failsoft.yaml").write_text(text.replace("resolve_after: 3", "resolve_after: 60"))
    receiver.status = 503
    ports = [free_port(), free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    n = 0
    with serve(tmp_path / "failsoft.yaml", ports[0]) as leader:
        wait_for(urls[0] + "/healthz", leader)  # type: ignore[arg-type]
        # Started second, it finds the lease taken: a follower.
        with serve(tmp_path / "failsoft.yaml", ports[1]) as follower:
            wait_for(urls[1] + "/healthz", follower)  # type: ignore[arg-type]

            def traffic() -> None:
                nonlocal n
                for url, proc in zip(urls, (leader, follower), strict=True):
                    if proc.poll() is None:
                        n += 1
                        ask(url, n)

            def attempted() -> bool:
                return any(kind == "incident.opened" for _, kind, _ in receiver.incident_events())

            def delivered() -> bool:
                answered = zip(receiver.messages, receiver.answers, strict=False)
                return any(m["type"] == "incident.opened" and a == 200 for (_, m), a in answered)

            sim.set_fault("claude-opus-4-7", {"kind": "status", "status": 529})
            assert until(attempted, 15.0, traffic), "no incident.opened was attempted"
            opened_id, _, incident_id = receiver.incident_events()[0]
            assert until(lambda: bool(outbox(store)), 5.0, traffic), "not in the outbox"
            leader.kill()  # SIGKILL: the lease is not handed back, nothing is flushed
            leader.wait()
            receiver.status = 200
            assert until(delivered, 15.0, traffic), "incident.opened was never delivered"
            assert until(lambda: not outbox(store), 5.0, traffic), "the outbox kept it"
    opened = {(mid, i) for mid, kind, i in receiver.incident_events() if kind == "incident.opened"}
    assert opened == {(opened_id, incident_id)}  # every attempt, by either process: one id
    assert opened_id == f"msg_{incident_id}_1"
    logs = b"".join(p.read_bytes() for p in tmp_path.glob("serve-*.log"))
    assert b"left by an earlier health leader" in logs
    assert b"s3cret-hook-token" not in logs
    if backend == "sqlite":
        assert b"s3cret-hook-token" not in b"".join(
            p.read_bytes() for p in tmp_path.glob("shared.db*")
        )
